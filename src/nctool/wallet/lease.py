"""Keep an operation's lease alive while this process works on it.

Leases are short (NCTOOL_LEASE_SECONDS), so after a crash another process resumes the operation
quickly. A live owner renews its lease every third of that time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nctool.observability.logging import get_logger
from nctool.store import operations as op_store
from nctool.wallet.services import Services

log = get_logger()


async def _renew(svc: Services, operation_id: str) -> None:
    interval = svc.settings.lease_seconds / 3
    while True:
        await asyncio.sleep(interval)
        try:
            await svc.db.run(
                "lease_renew",
                lambda conn: op_store.renew_lease(conn, operation_id, svc.instance_id, svc.settings.lease_seconds),
            )
        except Exception as exc:  # a missed renewal only lets another process take over early
            log.warning("Lease renewal failed", transactionId=operation_id, error=repr(exc))


@dataclass
class Lease:
    """A kept lease. Set `cleared` once a committed transition has removed it, to skip the release."""

    cleared: bool = False


@contextlib.asynccontextmanager
async def kept_lease(svc: Services, operation_id: str) -> AsyncIterator[Lease]:
    """Renew this process's lease on the operation until the block ends, then release it."""
    lease = Lease()
    renewer = asyncio.create_task(_renew(svc, operation_id))
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        if not lease.cleared:
            await svc.db.run("lease_release", lambda conn: op_store.release_lease(conn, operation_id, svc.instance_id))
