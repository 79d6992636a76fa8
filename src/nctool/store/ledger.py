"""The per-wallet ledger identity, recomputed from the tables.

    minted + received - sent - paid - fees - spent_elsewhere = unspent + pending

`spent_elsewhere` is what reconciliation found spent at the mint without an nctool operation
(for example a proof copied out of the database and redeemed by another wallet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.proofs import balance
from nctool.store.tables import operations, proofs, tokens

RECONCILIATION = "reconciliation"


@dataclass(frozen=True)
class LedgerTotals:
    minted: int
    received: int
    sent: int
    paid: int
    fees: int
    spent_elsewhere: int
    unspent: int
    pending: int

    @property
    def expected_holdings(self) -> int:
        return self.minted + self.received - self.sent - self.paid - self.fees - self.spent_elsewhere

    @property
    def holdings(self) -> int:
        return self.unspent + self.pending

    @property
    def balanced(self) -> bool:
        return self.expected_holdings == self.holdings

    def as_dict(self) -> dict[str, int | bool]:
        return {**asdict(self), "balanced": self.balanced}


async def _sum(conn: AsyncConnection, column: ColumnElement[Any], condition: ColumnElement[bool]) -> int:
    value = (await conn.execute(select(func.coalesce(func.sum(column), 0)).where(condition))).scalar_one()
    return int(value)


async def ledger_totals(conn: AsyncConnection, wallet_id: int) -> LedgerTotals:
    by_type = {}
    for kind in ("minted", "received", "sent"):
        by_type[kind] = await _sum(
            conn,
            tokens.c.total_amount,
            and_(tokens.c.wallet_id == wallet_id, tokens.c.transaction_type == kind),
        )
    paid = await _sum(
        conn,
        operations.c.amount,
        and_(
            operations.c.wallet_id == wallet_id,
            operations.c.kind == "melt",
            operations.c.state == "completed",
        ),
    )
    fees = await _sum(conn, operations.c.fees_paid, operations.c.wallet_id == wallet_id)
    elsewhere = await _sum(
        conn, proofs.c.amount, and_(proofs.c.wallet_id == wallet_id, proofs.c.spent_by == RECONCILIATION)
    )
    proof_balance = await balance(conn, wallet_id)
    return LedgerTotals(
        minted=by_type["minted"],
        received=by_type["received"],
        sent=by_type["sent"],
        paid=paid,
        fees=fees,
        spent_elsewhere=elsewhere,
        unspent=proof_balance.unspent,
        pending=proof_balance.reserved,
    )
