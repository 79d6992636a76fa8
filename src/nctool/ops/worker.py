"""The background worker: credits paid mint quotes and drives pending or interrupted melts.

Every due operation is claimed with a lease in the database before it is touched, so several
processes can run this loop against one database without working on the same operation.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import func, select

from nctool.cashu.errors import MintError
from nctool.errors import NctoolError
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.ops.check import run_check
from nctool.ops.reconcile import reconcile
from nctool.ops.recovery import recover, resolve
from nctool.store import flags as flag_store
from nctool.store import operations as op_store
from nctool.store.records import Operation
from nctool.store.tables import operations, utcnow
from nctool.wallet.services import Services

log = get_logger()


async def run_once(svc: Services) -> Counter[str]:
    """Process every due operation once; return outcome counts."""
    outcomes: Counter[str] = Counter()
    async with svc.db.read() as conn:
        due = await op_store.due_operations(conn, ["mint", "melt", "send", "receive"])
    for operation in due:
        outcome = await _process(svc, operation)
        outcomes[f"{operation.kind}:{outcome}"] += 1
    await _export_pending(svc)
    return outcomes


async def _process(svc: Services, operation: Operation) -> str:
    try:
        outcome = await resolve(svc, operation)
    except (MintError, NctoolError) as exc:
        log.warning(
            "Worker could not resolve operation; retrying later",
            transactionId=operation.id,
            kind=operation.kind,
            state=operation.state,
            error=str(exc),
        )
        outcome = "retry"
    if outcome in ("pending", "retry") and operation.kind != "mint":
        await _backoff(svc, operation)
    return outcome


async def _backoff(svc: Services, operation: Operation) -> None:
    delay = min(
        svc.settings.melt_poll_max_seconds,
        svc.settings.worker_interval_seconds * 2 ** min(operation.attempts, 10),
    )
    await svc.db.run(
        "worker_backoff",
        lambda conn: op_store.update_operation(
            conn,
            operation.id,
            attempts=operation.attempts + 1,
            next_check_at=utcnow() + timedelta(seconds=delay),
        ),
    )


async def _export_pending(svc: Services) -> None:
    async with svc.db.read() as conn:
        rows = (
            await conn.execute(
                select(operations.c.kind, func.count()).where(op_store.is_open()).group_by(operations.c.kind)
            )
        ).all()
    counts = {kind: int(n) for kind, n in rows}
    for kind in metrics.OPERATION_KINDS:
        metrics.PENDING_OPERATIONS.labels(kind=kind).set(counts.get(kind, 0))
    metrics.DB_POOL_UTILIZATION.set(svc.db.pool_utilization())


async def _periodic(svc: Services, job: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run a periodic job if no process ran it within `interval`, and export its last success."""
    claimed = await svc.db.run(
        "job_claim", lambda conn: flag_store.claim_job(conn, job, timedelta(seconds=interval), svc.instance_id)
    )
    if not claimed:
        return
    await work()
    metrics.JOB_LAST_SUCCESS.labels(job_name=job).set(time.time())


async def run_jobs(svc: Services) -> None:
    """Run one pass of every background job; a failing job is logged and does not stop the others."""
    settings = svc.settings
    jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
        ("ledger_check", settings.ledger_check_interval_seconds, lambda: run_check(svc, trip_breaker=True)),
        ("reconcile", settings.reconcile_interval_seconds, lambda: reconcile(svc)),
    ]
    try:
        await run_once(svc)
        metrics.JOB_LAST_SUCCESS.labels(job_name="worker").set(time.time())
    except Exception as exc:  # the loop must survive any single failure
        log.error("Worker pass failed", error=repr(exc))
    for job, interval, work in jobs:
        try:
            await _periodic(svc, job, interval, work)
        except Exception as exc:  # each job is isolated from the others
            log.error("Background job failed", job=job, error=repr(exc))


async def startup_recovery(svc: Services) -> None:
    """Resolve what earlier processes left open, and log the report."""
    try:
        report = await recover(svc)
    except Exception as exc:
        log.error("Startup recovery failed", error=repr(exc))
        return
    log.info(
        "Startup recovery",
        processed=report.processed,
        recovered=report.recovered,
        pending=report.pending,
        failed=report.failed,
    )


async def run_forever(svc: Services, stop: asyncio.Event) -> None:
    log.info("Worker started", instance=svc.instance_id, intervalSeconds=svc.settings.worker_interval_seconds)
    await startup_recovery(svc)
    while not stop.is_set():
        await run_jobs(svc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=svc.settings.worker_interval_seconds)
        except TimeoutError:
            pass
    log.info("Worker stopped", instance=svc.instance_id)
