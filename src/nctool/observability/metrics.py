"""Prometheus metrics. Labels are bounded: no npub or anything derived from a user."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Every SLO threshold is a bucket edge, so "share under threshold" is exact.
SLO_BUCKETS = (0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)

AMOUNT_RANGES = ("1-100", "101-1000", "1001-10000", "10001-100000", "100001+")
MELT_STAGES = ("preflight", "selection", "swap", "mint", "db_update")
MINT_ENDPOINTS = (
    "info",
    "keys",
    "keysets",
    "swap",
    "mint_quote",
    "mint_quote_state",
    "mint",
    "melt_quote",
    "melt_quote_state",
    "melt",
    "checkstate",
    "restore",
)

MELT_ATTEMPTS = Counter("melt_attempts", "Melt requests that passed validation", ["amount_range"])
MELT_SUCCESS = Counter("melt_success", "Melts settled as paid", ["change"])
MELT_FAILURES = Counter("melt_failures", "Melts that ended in an error", ["error_code", "severity"])
MELT_CRITICAL_ERRORS = Counter("melt_critical_errors", "Melt errors of severity CRITICAL", ["error_code"])
MELT_PENDING = Counter("melt_pending", "Melts left pending at the mint when the request returned")
MELT_DURATION = Histogram(
    "melt_operation_duration_seconds", "Duration of a melt request, end to end", buckets=SLO_BUCKETS
)
MELT_STAGE_DURATION = Histogram(
    "melt_stage_duration_seconds", "Duration of each melt stage", ["stage"], buckets=SLO_BUCKETS
)
RECONCILIATION_BLOCKED = Counter("proof_reconciliation_blocked", "Melts blocked by pre-flight reconciliation")
DISCREPANCIES = Counter("proof_discrepancies", "Proof state discrepancies found", ["type", "severity"])
BALANCE_ERRORS = Counter("balance_calculation_errors", "Balance computations that failed or disagreed")
DB_TRANSACTION_DURATION = Histogram(
    "db_transaction_duration_seconds", "Duration of database transactions", ["name"], buckets=SLO_BUCKETS
)
DB_TRANSACTION_ROLLBACKS = Counter("db_transaction_rollbacks", "Database transactions rolled back", ["name"])
DB_POOL_UTILIZATION = Gauge("db_pool_utilization_ratio", "Checked-out share of the database connection pool")
MINT_REQUEST_DURATION = Histogram(
    "mint_request_duration_seconds", "Mint HTTP requests", ["endpoint", "outcome"], buckets=SLO_BUCKETS
)
MINT_UP = Gauge("mint_up", "1 when the last mint request got an answer, 0 when it could not reach the mint")
RECOVERY_OPERATIONS = Counter("recovery_operations", "Operations resolved by the worker", ["kind", "result"])
PENDING_OPERATIONS = Gauge("pending_operations", "Operations not yet final", ["kind"])
MELTS_HALTED = Gauge("melts_halted", "1 while new melts are refused by the breaker")
MINT_CREDITS = Counter("mint_quote_credits", "Paid mint quotes credited to wallets", ["source"])


def amount_range(amount: int) -> str:
    for label, upper in zip(AMOUNT_RANGES, (100, 1000, 10_000, 100_000), strict=False):
        if amount <= upper:
            return label
    return AMOUNT_RANGES[-1]


def observe_mint_request(endpoint: str, outcome: str, seconds: float) -> None:
    MINT_REQUEST_DURATION.labels(endpoint=endpoint, outcome=outcome).observe(seconds)
    MINT_UP.set(0 if outcome in ("timeout", "unreachable") else 1)


def init_label_sets() -> None:
    """Create the known label combinations so their series exist at 0 from the start."""
    for label in AMOUNT_RANGES:
        MELT_ATTEMPTS.labels(amount_range=label)
    for change in ("with_change", "no_change"):
        MELT_SUCCESS.labels(change=change)
    for stage in MELT_STAGES:
        MELT_STAGE_DURATION.labels(stage=stage)
    for endpoint in MINT_ENDPOINTS:
        for outcome in ("success", "error", "timeout"):
            MINT_REQUEST_DURATION.labels(endpoint=endpoint, outcome=outcome)
    for kind in ("melt", "mint", "swap"):
        PENDING_OPERATIONS.labels(kind=kind)
    MELTS_HALTED.set(0)
