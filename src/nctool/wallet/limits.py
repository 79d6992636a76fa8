"""The optional per-wallet daily withdrawal limit, computed from the journal so all replicas share one total."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.errors import WithdrawalLimitError
from nctool.store.records import Wallet
from nctool.store.tables import operations, utcnow

# Operations that move sats out of a wallet. A failed one moved nothing.
WITHDRAWAL_KINDS = ("melt", "send")
WINDOW = timedelta(hours=24)


async def withdrawn_last_day(conn: AsyncConnection, wallet_id: int) -> int:
    """Return the sats the wallet's melts and sends took out in the last 24 hours, in flight included."""
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(operations.c.amount), 0)).where(
                operations.c.wallet_id == wallet_id,
                operations.c.kind.in_(WITHDRAWAL_KINDS),
                operations.c.state != "failed",
                operations.c.created_at >= utcnow() - WINDOW,
            )
        )
    ).scalar_one()
    return int(total)


async def enforce_daily_withdrawal_limit(conn: AsyncConnection, wallet: Wallet, amount: int, limit: int | None) -> None:
    """Raise WithdrawalLimitError when `amount` would take the wallet past `limit` in 24 hours.

    Call it in the transaction that journals the withdrawal, after `lock_wallet_for_selection`:
    that lock makes concurrent withdrawals of one wallet count one after the other.
    """
    if limit is None:
        return
    used = await withdrawn_last_day(conn, wallet.id)
    if used + amount > limit:
        raise WithdrawalLimitError(
            f"this payment of {amount} sat would take the wallet to {used + amount} sat paid out in 24 hours, "
            f"above its limit of {limit} sat; retry later or with a smaller amount",
            limit=limit,
            used=used,
            requested=amount,
        )
