"""Transaction history: tokens the wallet received or created, plus each melt as its own entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.tables import operations, tokens

MELT_STATUS = {"completed": "paid", "failed": "failed"}


def _entries(wallet_id: int) -> Select[Any]:
    token_rows = select(
        tokens.c.transaction_id,
        tokens.c.transaction_type,
        tokens.c.status,
        tokens.c.total_amount,
        literal(0).label("fee"),
        tokens.c.mint_url,
        tokens.c.created_at,
        literal(None).label("quote_id"),
    ).where(tokens.c.wallet_id == wallet_id)
    melt_rows = select(
        operations.c.id.label("transaction_id"),
        literal("melt").label("transaction_type"),
        operations.c.state.label("status"),
        operations.c.amount.label("total_amount"),
        operations.c.fees_paid.label("fee"),
        operations.c.mint_url,
        operations.c.created_at,
        operations.c.quote_id,
    ).where(operations.c.wallet_id == wallet_id, operations.c.kind == "melt")
    return select(union_all(token_rows, melt_rows).subquery())


async def count_transactions(conn: AsyncConnection, wallet_id: int) -> int:
    entries = _entries(wallet_id).subquery()
    return int((await conn.execute(select(func.count()).select_from(entries))).scalar_one())


async def list_transactions(
    conn: AsyncConnection,
    wallet_id: int,
    *,
    limit: int,
    skip: int,
    transaction_type: str | None = None,
    mint_url: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of history, newest first, and the total count under the filters."""
    entries = _entries(wallet_id).subquery()
    conditions = []
    if transaction_type:
        conditions.append(entries.c.transaction_type == transaction_type)
    if mint_url:
        conditions.append(entries.c.mint_url == mint_url)
    total = int((await conn.execute(select(func.count()).select_from(entries).where(*conditions))).scalar_one())
    page = (
        select(entries)
        .where(*conditions)
        .order_by(entries.c.created_at.desc(), entries.c.transaction_id.desc())
        .limit(limit)
        .offset(skip)
    )
    rows = (await conn.execute(page)).all()
    return [_present(dict(r._mapping)) for r in rows], total


def _present(row: dict[str, Any]) -> dict[str, Any]:
    created = row["created_at"]
    entry = {
        "transaction_id": row["transaction_id"],
        "transaction_type": row["transaction_type"],
        "status": row["status"],
        "total_amount": int(row["total_amount"]),
        "mint_url": row["mint_url"],
        "created_at": created.isoformat() if hasattr(created, "isoformat") else str(created),
    }
    if row["transaction_type"] == "melt":
        entry["status"] = MELT_STATUS.get(row["status"], "pending")
        entry["operation_state"] = row["status"]
        entry["fee"] = int(row["fee"])
        entry["quote_id"] = row["quote_id"]
    return entry
