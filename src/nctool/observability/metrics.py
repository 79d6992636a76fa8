"""Prometheus metrics. Labels are bounded: no npub or anything derived from a user.

Counters are declared without the `_total` suffix, which prometheus-client appends on export
(`Counter("melt_attempts", ...)` is exported as `melt_attempts_total`). Durations are seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

import nctool

# Every SLO threshold (0.1, 0.3, 0.5, 1, 2, 3 and 5 s) is a bucket edge, so "share under threshold" is exact.
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
MINT_OUTCOMES = ("success", "error", "timeout", "unreachable")
OPERATION_KINDS = ("melt", "mint", "swap", "send", "receive")

# Error codes a melt is known to end with, and their severities, exported at 0 from the start.
# Other codes (NUT_<code> from the mint) appear when they first happen.
KNOWN_MELT_FAILURES = (
    ("INSUFFICIENT_BALANCE", "LOW"),
    ("HIGH_SEVERITY_DISCREPANCIES", "HIGH"),
    ("LIGHTNING_PAYMENT_FAILED", "MEDIUM"),
    ("NUT_20004", "MEDIUM"),
    ("MINT_ERROR", "MEDIUM"),
    ("MINT_TIMEOUT", "MEDIUM"),
    ("MINT_UNREACHABLE", "MEDIUM"),
    ("PROOFS_PENDING_AT_MINT", "MEDIUM"),
    ("CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS", "CRITICAL"),
)
KNOWN_CRITICAL_CODES = ("CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS",)
DISCREPANCY_TYPES = (
    ("DB_UNSPENT_MINT_SPENT", "HIGH"),
    ("DB_SPENT_MINT_UNSPENT", "MEDIUM"),
    ("DB_PENDING_MINT_SPENT", "MEDIUM"),
    ("DB_UNSPENT_MINT_PENDING", "LOW"),
    ("PROOF_NOT_IN_DB", "LOW"),
)
RECOVERY_RESULTS = ("completed", "rolled_back", "pending")
# Background jobs of the worker loop. The label is `job_name`, not `job`, because Prometheus
# attaches its own `job` label to every scraped series.
JOB_NAMES = ("worker", "ledger_check", "reconcile")

# Names passed to `Database.transaction(name)`. A test keeps this list in step with the code,
# so that every transaction's duration and rollback series exist at 0 from the start.
DB_TRANSACTION_NAMES = (
    "api_key_create",
    "api_key_revoke",
    "archive_audit",
    "breaker_resume",
    "breaker_trip",
    "cleanup_failed",
    "job_claim",
    "lease_release",
    "lease_renew",
    "mark_spent",
    "melt_ambiguous",
    "melt_fail",
    "melt_journal",
    "melt_pending",
    "melt_preflight",
    "melt_preflight_block",
    "melt_reserve",
    "melt_settle",
    "melt_swap_journal",
    "melt_swap_settle",
    "mint_expire",
    "mint_lease",
    "mint_outputs",
    "mint_quote",
    "mint_store",
    "nip98_replay",
    "receive_journal",
    "receive_settle",
    "reconcile_apply",
    "reconcile_sent",
    "recovery_lease",
    "reschedule",
    "restore",
    "secret_reseal",
    "send_preflight_block",
    "send_redeemed",
    "send_reserve",
    "send_settle",
    "send_swap_journal",
    "swap_ambiguous",
    "swap_fail",
    "wallet_create",
    "wallet_p2pk_key",
    "worker_backoff",
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
MELT_CHANGE = Histogram(
    "melt_change_amount_sats",
    "Fee change (NUT-08) the mint returned per paid melt, in sats",
    buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
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
STUCK_OPERATIONS = Gauge(
    "stuck_operations", "Operations not final and older than the stuck threshold, read at each scrape", ["kind"]
)
MELTS_HALTED = Gauge("melts_halted", "1 while new melts are refused by the breaker")
JOB_LAST_SUCCESS = Gauge(
    "job_last_success_timestamp_seconds",
    "Unix time of each background job's last successful run in this process; 0 before the first",
    ["job_name"],
)
MINT_CREDITS = Counter("mint_quote_credits", "Paid mint quotes credited to wallets", ["source"])
HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route template and status code", ["method", "route", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests, by route template",
    ["method", "route"],
    buckets=SLO_BUCKETS,
)
HTTP_IN_PROGRESS = Gauge("http_requests_in_progress", "HTTP requests being handled")
# Bounded reasons: missing, invalid_key, invalid_nip98, replayed_nip98, forbidden, rate_limited.
AUTH_FAILURES = Counter("http_auth_failures", "Requests rejected for their credentials or rate", ["reason"])
AUTH_FAILURE_REASONS = ("missing", "invalid_key", "invalid_nip98", "replayed_nip98", "forbidden", "rate_limited")
BUILD_INFO = Gauge("nctool_build_info", "Always 1; the version label names the running nctool", ["version"])


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
    for code, severity in KNOWN_MELT_FAILURES:
        MELT_FAILURES.labels(error_code=code, severity=severity)
    for code in KNOWN_CRITICAL_CODES:
        MELT_CRITICAL_ERRORS.labels(error_code=code)
    for stage in MELT_STAGES:
        MELT_STAGE_DURATION.labels(stage=stage)
    for kind, severity in DISCREPANCY_TYPES:
        DISCREPANCIES.labels(type=kind, severity=severity)
    for name in DB_TRANSACTION_NAMES:
        DB_TRANSACTION_DURATION.labels(name=name)
        DB_TRANSACTION_ROLLBACKS.labels(name=name)
    for endpoint in MINT_ENDPOINTS:
        for outcome in MINT_OUTCOMES:
            MINT_REQUEST_DURATION.labels(endpoint=endpoint, outcome=outcome)
    for kind in OPERATION_KINDS:
        PENDING_OPERATIONS.labels(kind=kind)
        STUCK_OPERATIONS.labels(kind=kind)
    for reason in AUTH_FAILURE_REASONS:
        AUTH_FAILURES.labels(reason=reason)
    for kind in ("melt", "mint", "send", "receive"):
        for result in RECOVERY_RESULTS:
            RECOVERY_OPERATIONS.labels(kind=kind, result=result)
    for source in ("api", "worker"):
        MINT_CREDITS.labels(source=source)
    for job in JOB_NAMES:
        JOB_LAST_SUCCESS.labels(job_name=job)
    BUILD_INFO.labels(version=nctool.__version__).set(1)


# --- reading metrics back, for the health and diagnostics reports ----------------------------


def sample_sum(metric: MetricWrapperBase, suffix: str = "", **labels: str) -> float:
    """Return the sum of the metric's samples named `<name><suffix>` whose labels include `labels`.

    Pass suffix "_total" for a counter, and "_count" or "_sum" for a histogram.
    """
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == family.name + suffix and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def gauge_value(gauge: Gauge) -> float:
    """Return the value of an unlabelled gauge."""
    return sample_sum(gauge)


def histogram_quantile(quantile: float, histogram: Histogram, **labels: str) -> float | None:
    """Estimate a quantile from the histogram's buckets as PromQL's histogram_quantile does.

    Interpolates linearly inside the bucket that contains the quantile. Returns None without
    observations, and the highest finite bucket edge when the quantile lies in the +Inf bucket.
    """
    buckets: dict[float, float] = {}
    for family in histogram.collect():
        for sample in family.samples:
            if sample.name == family.name + "_bucket" and labels.items() <= sample.labels.items():
                edge = float(sample.labels["le"])
                buckets[edge] = buckets.get(edge, 0.0) + sample.value
    return _quantile_from_buckets(quantile, sorted(buckets.items()))


def _quantile_from_buckets(quantile: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    cumulative = list(buckets)
    if not cumulative or cumulative[-1][1] == 0:
        return None
    rank = quantile * cumulative[-1][1]
    lower_edge, lower_count = 0.0, 0.0
    for edge, count in cumulative:
        if count >= rank:
            if edge == float("inf"):
                return lower_edge
            if count == lower_count:
                return edge
            return lower_edge + (edge - lower_edge) * (rank - lower_count) / (count - lower_count)
        lower_edge, lower_count = edge, count
    return lower_edge
