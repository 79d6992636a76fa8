"""The melt breaker: while tripped, new melts are refused; an operator resumes them.

The state lives in the database (service_flags), so every process reads the same breaker.
"""

from __future__ import annotations

from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import flags as flag_store
from nctool.wallet.services import Services

log = get_logger()


async def halted_reason(svc: Services) -> str | None:
    """Return why melts are halted, or None when they are allowed."""
    async with svc.db.read() as conn:
        reason = await flag_store.melts_halted_reason(conn)
    metrics.MELTS_HALTED.set(1 if reason else 0)
    return reason


async def trip(svc: Services, reason: str, by: str) -> None:
    async with svc.db.transaction("breaker_trip") as conn:
        already = await flag_store.get_flag(conn, flag_store.MELTS_HALTED)
        await flag_store.set_flag(conn, flag_store.MELTS_HALTED, "1", reason, by)
        if already is None:
            await audit.record(conn, "melts_halted", reason=reason, by=by)
    metrics.MELTS_HALTED.set(1)
    if already is None:
        log.critical(
            "CRITICAL: melts halted by the breaker",
            error=reason,
            code="MELTS_HALTED",
            severity="CRITICAL",
            requiresManualIntervention=True,
            action="investigate, then run `nctool ops resume-melts`",
        )


async def resume(svc: Services, by: str, reason: str) -> bool:
    """Clear the breaker; return whether it was tripped."""
    async with svc.db.transaction("breaker_resume") as conn:
        was_set = await flag_store.clear_flag(conn, flag_store.MELTS_HALTED)
        if was_set:
            await audit.record(conn, "melts_resumed", by=by, reason=reason)
    metrics.MELTS_HALTED.set(0)
    if was_set:
        log.warning("Melts resumed", by=by, reason=reason)
    return was_set
