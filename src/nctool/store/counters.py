"""NUT-13 derivation counters, advanced atomically so that no two outputs share a counter."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.tables import keyset_counters


async def reserve_counters(conn: AsyncConnection, wallet_id: int, keyset_id: str, count: int) -> int:
    """Take `count` consecutive counters for the wallet and keyset; return the first one."""
    for _ in range(2):
        row = (
            await conn.execute(
                select(keyset_counters.c.counter)
                .where(keyset_counters.c.wallet_id == wallet_id, keyset_counters.c.keyset_id == keyset_id)
                .with_for_update()
            )
        ).first()
        if row is not None:
            start = int(row[0])
            await conn.execute(
                update(keyset_counters)
                .where(keyset_counters.c.wallet_id == wallet_id, keyset_counters.c.keyset_id == keyset_id)
                .values(counter=start + count)
            )
            return start
        try:
            async with conn.begin_nested():
                await conn.execute(
                    keyset_counters.insert().values(wallet_id=wallet_id, keyset_id=keyset_id, counter=count)
                )
            return 0
        except IntegrityError:
            continue  # a concurrent transaction created the row first; take the update path
    raise RuntimeError(f"could not reserve counters for keyset {keyset_id}")


async def advance_to(conn: AsyncConnection, wallet_id: int, keyset_id: str, counter: int) -> None:
    """Make sure the next counter handed out is at least `counter` (after a restore)."""
    start = await reserve_counters(conn, wallet_id, keyset_id, 0)
    if start < counter:
        await conn.execute(
            update(keyset_counters)
            .where(keyset_counters.c.wallet_id == wallet_id, keyset_counters.c.keyset_id == keyset_id)
            .values(counter=counter)
        )
