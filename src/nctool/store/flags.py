"""Service-wide switches and job claims shared by every process through the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.tables import service_flags, utcnow

MELTS_HALTED = "melts_halted"


async def get_flag(conn: AsyncConnection, name: str) -> tuple[str, str | None] | None:
    """Return (value, reason) of the flag, or None when unset."""
    row = (
        await conn.execute(select(service_flags.c.value, service_flags.c.reason).where(service_flags.c.name == name))
    ).first()
    return (row[0], row[1]) if row else None


async def melts_halted_reason(conn: AsyncConnection) -> str | None:
    """Return why the melt breaker is tripped, or None when melts are allowed."""
    flag = await get_flag(conn, MELTS_HALTED)
    return (flag[1] or "halted") if flag else None


async def set_flag(conn: AsyncConnection, name: str, value: str, reason: str | None, by: str) -> None:
    values = {"value": value, "reason": reason, "updated_at": utcnow(), "updated_by": by}
    result = await conn.execute(update(service_flags).where(service_flags.c.name == name).values(**values))
    if result.rowcount == 0:
        await conn.execute(service_flags.insert().values(name=name, **values))


async def clear_flag(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(service_flags.delete().where(service_flags.c.name == name))
    return bool(result.rowcount)


async def claim_job(conn: AsyncConnection, job: str, interval: timedelta, owner: str) -> bool:
    """Claim a periodic job for this run if no process ran it within `interval`."""
    name = f"job:{job}"
    now = utcnow()
    result = await conn.execute(
        update(service_flags)
        .where(service_flags.c.name == name, or_(service_flags.c.updated_at <= now - interval))
        .values(value="claimed", updated_at=now, updated_by=owner)
    )
    if result.rowcount == 1:
        return True
    if await get_flag(conn, name) is not None:
        return False
    try:
        async with conn.begin_nested():
            await conn.execute(
                service_flags.insert().values(name=name, value="claimed", updated_at=now, updated_by=owner)
            )
    except IntegrityError:
        return False
    return True
