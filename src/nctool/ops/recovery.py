"""Recovery: drive every non-final operation to a final state from the journal and the mint.

The mint decides: a melt's quote state, checkstate on the inputs, NUT-09 restore of the stored
outputs. Nothing is released on an ambiguous response. Each operation is claimed through its
lease in the database, so several processes can run recovery at once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.cashu.errors import MintError
from nctool.cashu.models import ProofState
from nctool.errors import NctoolError
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import operations as op_store
from nctool.store.records import Operation
from nctool.store.tables import operations, utcnow
from nctool.wallet.lease import kept_lease
from nctool.wallet.melt import resume_melt
from nctool.wallet.minting import poll_mint_quote
from nctool.wallet.receive import resume_receive
from nctool.wallet.send import resume_send
from nctool.wallet.services import Services

log = get_logger()

# Outcomes after which the operation is final.
FINAL_OUTCOMES = frozenset({"completed", "rolled_back", "expired"})


@dataclass
class Resolution:
    transactionId: str
    npub: str
    kind: str
    state: str
    amount: int
    age: float
    action: str
    success: bool
    error: str | None = None


@dataclass
class RecoveryReport:
    processed: int = 0
    recovered: int = 0
    pending: int = 0
    failed: int = 0
    details: list[Resolution] = field(default_factory=list)

    def add(self, item: Resolution) -> None:
        self.processed += 1
        self.details.append(item)
        if not item.success:
            self.failed += 1
        elif item.action in FINAL_OUTCOMES:
            self.recovered += 1
        else:
            self.pending += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "recovered": self.recovered,
            "pending": self.pending,
            "failed": self.failed,
            "details": [asdict(d) for d in self.details],
        }


async def resolve(svc: Services, operation: Operation) -> str:
    """Claim the operation and take one recovery step; return the outcome, or "busy" if another owner has it.

    "busy" also covers an operation that another process finished after `operation` was read.
    """

    async def lease(conn: AsyncConnection) -> Operation | None:
        return await op_store.claim(conn, operation.id, svc.instance_id, svc.settings.lease_seconds)

    current = await svc.db.run("recovery_lease", lease)
    if current is None:
        return "busy"
    async with kept_lease(svc, operation.id):
        if current.state in op_store.FINAL_STATES:
            return "busy"
        outcome = await _step(svc, current)
    operation = current
    if operation.kind == "mint" and operation.state == "quote_created":
        # Crediting a freshly paid quote is routine work, not recovery of an interrupted operation.
        return outcome
    metrics.RECOVERY_OPERATIONS.labels(kind=operation.kind, result=outcome).inc()
    if outcome in FINAL_OUTCOMES:
        log.info(
            "Operation recovered",
            transactionId=operation.id,
            npub=operation.npub,
            kind=operation.kind,
            fromState=operation.state,
            outcome=outcome,
        )
    return outcome


async def _step(svc: Services, operation: Operation) -> str:
    if operation.kind == "mint":
        return await poll_mint_quote(svc, operation)
    if operation.kind == "melt":
        return await resume_melt(svc, operation)
    if operation.kind == "send":
        return await resume_send(svc, operation)
    if operation.kind == "receive":
        return await resume_receive(svc, operation)
    log.warning("No resolver for operation kind", transactionId=operation.id, kind=operation.kind)
    return "unsupported"


async def plan(svc: Services, operation: Operation) -> str:
    """Say what recovery would do, asking the mint read-only questions and writing nothing."""
    if operation.kind == "mint":
        if operation.state == "mint_sent":
            return "credit_from_stored_outputs"
        quote = await svc.mint.get_mint_quote(str(operation.quote_id))
        if quote.is_paid or quote.is_issued:
            return "credit"
        expired = operation.expiry is not None and time.time() > operation.expiry + 3600
        return "expire" if expired else "wait_for_payment"
    if operation.kind in ("send", "receive"):
        return await _plan_swap(svc, operation)
    if operation.kind != "melt":
        return "unsupported"
    if operation.state in ("prepared", "swap_done"):
        return "roll_back"
    if operation.state == "swap_sent":
        states = {s.state for s in await svc.mint.check_state(operation.input_ys)}
        if states == {ProofState.UNSPENT}:
            return "roll_back"
        return "wait" if ProofState.PENDING in states else "restore_swap_then_roll_back"
    melt_quote = await svc.mint.get_melt_quote(str(operation.quote_id))
    return {"PAID": "settle_paid", "PENDING": "wait"}.get(melt_quote.state, "release_after_checkstate")


async def _plan_swap(svc: Services, operation: Operation) -> str:
    if operation.state == "prepared":
        return "roll_back"
    states = {s.state for s in await svc.mint.check_state(operation.input_ys)}
    if states == {ProofState.UNSPENT}:
        return "roll_back"
    return "wait" if ProofState.PENDING in states else "restore_swap_then_settle"


async def open_operations(
    svc: Services, *, npub: str | None = None, min_age: timedelta | None = None, limit: int = 1000
) -> list[Operation]:
    query = select(operations).where(op_store.is_open())
    if npub:
        query = query.where(operations.c.npub == npub)
    if min_age:
        query = query.where(operations.c.created_at <= utcnow() - min_age)
    async with svc.db.read() as conn:
        rows = (await conn.execute(query.order_by(operations.c.created_at).limit(limit))).all()
    return [Operation.from_row(r) for r in rows]


async def recover(
    svc: Services, *, npub: str | None = None, min_age: timedelta | None = None, dry_run: bool = False
) -> RecoveryReport:
    """Resolve (or, with dry_run, describe) every non-final operation matching the filters."""
    report = RecoveryReport()
    for operation in await open_operations(svc, npub=npub, min_age=min_age):
        age = (utcnow() - operation.created_at).total_seconds()
        base: dict[str, Any] = {
            "transactionId": operation.id,
            "npub": operation.npub,
            "kind": operation.kind,
            "state": operation.state,
            "amount": operation.amount,
            "age": round(age, 1),
        }
        try:
            action = await plan(svc, operation) if dry_run else await resolve(svc, operation)
            report.add(Resolution(**base, action=action if not dry_run else f"would_{action}", success=True))
        except (MintError, NctoolError) as exc:
            report.add(Resolution(**base, action="error", success=False, error=str(exc)))
    log.info(
        "Recovery report",
        dryRun=dry_run,
        npub=npub,
        processed=report.processed,
        recovered=report.recovered,
        pending=report.pending,
        failed=report.failed,
    )
    return report


async def recovery_stats(svc: Services, npub: str) -> dict[str, Any]:
    """Count this wallet's open operations by age."""
    now = utcnow()
    open_ops = await open_operations(svc, npub=npub)
    one_hour = sum(1 for o in open_ops if now - o.created_at > timedelta(hours=1))
    one_day = sum(1 for o in open_ops if now - o.created_at > timedelta(days=1))
    return {
        "totalPending": len(open_ops),
        "stuckOneHour": one_hour,
        "stuckOneDay": one_day,
        "healthyPending": len(open_ops) - one_hour,
        "npub": npub,
        "timestamp": now.isoformat(),
    }
