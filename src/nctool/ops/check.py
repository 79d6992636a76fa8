"""The ledger check: every invariant of the data model, verified from the tables.

    duplicate_proofs         a Y stored more than once
    token_totals             a token's total_amount differs from the sum of its proofs
    token_status             a token's status disagrees with its proofs' states
    melted_tokens            a token of type "melted" (a melt creates no token)
    orphan_reservations      a proof reserved by an operation that is final or missing
    ledger_identity          minted + received - sent - paid - fees - spent_elsewhere != unspent + pending
    stuck_operations         operations still open after NCTOOL_STUCK_AFTER_SECONDS

Money missing (holdings below what the flows imply) or too many stuck operations trip the melt
breaker when the check runs with `trip_breaker=True`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select

from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.ops import breaker
from nctool.store import operations as op_store
from nctool.store import wallets as wallet_store
from nctool.store.ledger import ledger_totals
from nctool.store.proofs import PENDING_SEND, token_status
from nctool.store.tables import operations, proofs, tokens, utcnow
from nctool.wallet.services import Services

log = get_logger()


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    detail: str
    npub: str | None = None


@dataclass
class CheckReport:
    wallets: int = 0
    proofs: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "wallets": self.wallets,
            "proofs": self.proofs,
            "findings": [asdict(f) for f in self.findings],
        }


async def run_check(svc: Services, *, trip_breaker: bool = False) -> CheckReport:
    """Verify every ledger invariant; optionally trip the melt breaker on money missing or stuck piles."""
    report = CheckReport()
    async with svc.db.snapshot() as conn:
        report.proofs = int((await conn.execute(select(func.count()).select_from(proofs))).scalar_one())
        for rows, check, severity, describe in await _table_checks(conn):
            for row in rows:
                report.findings.append(Finding(check, severity, describe(row)))
        wallets = await wallet_store.list_wallets(conn)
        report.wallets = len(wallets)
        for wallet in wallets:
            totals = await ledger_totals(conn, wallet.id)
            if not totals.balanced:
                missing = totals.expected_holdings - totals.holdings
                kind = "money missing" if missing > 0 else "money created"
                report.findings.append(
                    Finding(
                        "ledger_identity",
                        "CRITICAL",
                        f"{kind}: {abs(missing)} sat; flows say {totals.expected_holdings}, proofs hold "
                        f"{totals.holdings} ({totals.as_dict()})",
                        wallet.npub,
                    )
                )
        stuck = await _stuck_operations(conn, timedelta(seconds=svc.settings.stuck_after_seconds))
    for operation_id, kind, state, npub in stuck:
        report.findings.append(Finding("stuck_operations", "HIGH", f"{kind} {operation_id} still {state}", npub))
    _log(report)
    if trip_breaker:
        await _maybe_trip(svc, report, len(stuck))
    return report


async def _table_checks(conn: Any) -> list[tuple[list[Any], str, str, Any]]:
    duplicates = (
        await conn.execute(select(proofs.c.Y, func.count()).group_by(proofs.c.Y).having(func.count() > 1))
    ).all()
    sums = (
        select(
            proofs.c.token_id,
            func.sum(proofs.c.amount).label("total"),
            func.sum(case((proofs.c.state == "unspent", 1), else_=0)).label("unspent"),
            func.sum(case((proofs.c.state == "reserved", 1), else_=0)).label("reserved"),
            func.sum(case((proofs.c.state == PENDING_SEND, 1), else_=0)).label("pending_send"),
        )
        .group_by(proofs.c.token_id)
        .subquery()
    )
    joined = select(
        tokens.c.transaction_id,
        tokens.c.total_amount,
        tokens.c.status,
        sums.c.total,
        sums.c.unspent,
        sums.c.reserved,
        sums.c.pending_send,
    ).join(sums, sums.c.token_id == tokens.c.id)
    rows = (await conn.execute(joined)).all()
    bad_totals = [r for r in rows if int(r.total_amount) != int(r.total)]
    bad_status = [
        r for r in rows if r.status != token_status(reserved=r.reserved, unspent=r.unspent, pending_send=r.pending_send)
    ]
    melted = (await conn.execute(select(tokens.c.transaction_id).where(tokens.c.transaction_type == "melted"))).all()
    live = select(operations.c.id).where(operations.c.state.not_in(list(op_store.FINAL_STATES)))
    orphans = (
        await conn.execute(
            select(proofs.c.Y, proofs.c.reserved_by).where(
                proofs.c.state == "reserved", proofs.c.reserved_by.not_in(live)
            )
        )
    ).all()
    return [
        (duplicates, "duplicate_proofs", "CRITICAL", lambda r: f"Y {r[0]} stored {r[1]} times"),
        (
            bad_totals,
            "token_totals",
            "HIGH",
            lambda r: f"token {r.transaction_id}: total_amount {r.total_amount}, proofs sum {r.total}",
        ),
        (bad_status, "token_status", "MEDIUM", lambda r: f"token {r.transaction_id}: status {r.status} disagrees"),
        (melted, "melted_tokens", "HIGH", lambda r: f"token {r[0]} has type melted"),
        (orphans, "orphan_reservations", "HIGH", lambda r: f"proof {r[0]} reserved by {r[1]}, which is not open"),
    ]


async def _stuck_operations(conn: Any, after: timedelta) -> list[Any]:
    query = select(operations.c.id, operations.c.kind, operations.c.state, operations.c.npub).where(
        operations.c.state.not_in(list(op_store.FINAL_STATES)),
        operations.c.created_at < utcnow() - after,
    )
    return list((await conn.execute(query)).all())


def _log(report: CheckReport) -> None:
    for finding in report.findings:
        if finding.check == "ledger_identity":
            metrics.BALANCE_ERRORS.inc()
    if report.clean:
        log.info("Ledger check clean", wallets=report.wallets, proofs=report.proofs)
    else:
        log.error(
            "Ledger check found problems",
            wallets=report.wallets,
            proofs=report.proofs,
            findings=[asdict(f) for f in report.findings],
        )


async def _maybe_trip(svc: Services, report: CheckReport, stuck: int) -> None:
    missing = [f for f in report.findings if f.check == "ledger_identity" and f.detail.startswith("money missing")]
    if missing:
        await breaker.trip(svc, f"ledger check: money missing in {len(missing)} wallet(s)", by="ledger_check")
    elif stuck > svc.settings.breaker_max_stuck_operations:
        await breaker.trip(svc, f"ledger check: {stuck} operations stuck with unknown outcome", by="ledger_check")
