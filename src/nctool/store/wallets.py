"""Wallet rows: one per npub, mint and unit."""

from __future__ import annotations

from coincurve import PrivateKey
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
    conn: AsyncConnection,
    npub: str,
    mint_url: str,
    unit: str,
    seed: bytes | None = None,
    p2pk_key: bytes | None = None,
) -> Wallet | None:
    """Insert the wallet with its NUT-13 seed and P2PK key; return None when it already exists.

    None means a concurrent create won.
    """
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
                    p2pk_key=p2pk_key.hex() if p2pk_key else None,
                    p2pk_pub=_public_key_hex(p2pk_key) if p2pk_key else None,
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


def _public_key_hex(private_key: bytes) -> str:
    return PrivateKey(private_key).public_key.format(compressed=True).hex()


async def get_p2pk_key(conn: AsyncConnection, wallet_id: int) -> bytes | None:
    """Return the wallet's NUT-11 P2PK private key; callers must never log or return it."""
    query = select(wallets.c.p2pk_key).where(wallets.c.id == wallet_id)
    value = (await conn.execute(query)).scalar_one_or_none()
    return bytes.fromhex(value) if value else None


async def set_p2pk_key(conn: AsyncConnection, wallet_id: int, private_key: bytes) -> str:
    """Store a P2PK key for a wallet that has none yet; return the public key the wallet ends up with.

    A wallet created before P2PK keys existed gets one here. When a concurrent call stored a key
    first, that key is kept and its public key returned.
    """
    await conn.execute(
        wallets.update()
        .where(wallets.c.id == wallet_id, wallets.c.p2pk_key.is_(None))
        .values(p2pk_key=private_key.hex(), p2pk_pub=_public_key_hex(private_key))
    )
    stored = (await conn.execute(select(wallets.c.p2pk_pub).where(wallets.c.id == wallet_id))).scalar_one()
    return str(stored)
