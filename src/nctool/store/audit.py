"""Append-only audit log of state changes; never contains proof secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.records import Operation
from nctool.store.tables import audit_log, utcnow


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    operation_id: str | None = None,
    wallet_id: int | None = None,
    npub: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    **details: Any,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=utcnow(),
            action=action,
            operation_id=operation_id,
            wallet_id=wallet_id,
            npub=npub,
            from_state=from_state,
            to_state=to_state,
            details=details,
        )
    )


async def record_step(
    conn: AsyncConnection,
    action: str,
    operation: Operation,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    **details: Any,
) -> None:
    """Record a state change of `operation`, with its id, wallet and npub."""
    await record(
        conn,
        action,
        operation_id=operation.id,
        wallet_id=operation.wallet_id,
        npub=operation.npub,
        from_state=from_state,
        to_state=to_state,
        **details,
    )
