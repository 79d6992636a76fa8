"""Wallet rows: one per npub, mint and unit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.records import Wallet
from nctool.store.tables import utcnow, wallets


async def get_wallet(conn: AsyncConnection, npub: str, mint_url: str, unit: str) -> Wallet | None:
    query = select(wallets).where(wallets.c.npub == npub, wallets.c.mint_url == mint_url, wallets.c.unit == unit)
    row = (await conn.execute(query)).first()
    return Wallet.from_row(row) if row else None


async def insert_wallet(
    conn: AsyncConnection, npub: str, mint_url: str, unit: str, seed: bytes | None = None
) -> Wallet | None:
    """Insert the wallet with its NUT-13 seed; return None when it already exists (a concurrent create won)."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                wallets.insert().values(
                    npub=npub,
                    mint_url=mint_url,
                    unit=unit,
                    created_at=utcnow(),
                    metadata={},
                    seed=seed.hex() if seed else None,
                )
            )
    except IntegrityError:
        return None
    return await get_wallet(conn, npub, mint_url, unit)


async def list_wallets(conn: AsyncConnection) -> list[Wallet]:
    rows = (await conn.execute(select(wallets).order_by(wallets.c.id))).all()
    return [Wallet.from_row(r) for r in rows]


async def get_seed(conn: AsyncConnection, wallet_id: int) -> bytes | None:
    """Return the wallet's NUT-13 seed; callers must never log or return it."""
    value = (await conn.execute(select(wallets.c.seed).where(wallets.c.id == wallet_id))).scalar_one_or_none()
    return bytes.fromhex(value) if value else None


async def set_seed(conn: AsyncConnection, wallet_id: int, seed: bytes) -> None:
    await conn.execute(wallets.update().where(wallets.c.id == wallet_id).values(seed=seed.hex()))
