"""The hot queries read through indexes, not by scanning whole tables.

The store is filled with many wallets, mostly spent proofs and mostly finished operations, and
analyzed. Each query is captured as the store functions send it, then explained by the engine
under test: EXPLAIN (FORMAT JSON) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.ops import alerts
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store.database import Database
from nctool.store.tables import operations, proofs, tokens, utcnow, wallets
from nctool.wallet import history

WALLETS = 200
PROOFS_PER_WALLET = 100
PROOFS_PER_TOKEN = 5
OPERATIONS_PER_WALLET = 50
BIG_TABLES = ("proofs", "operations", "tokens")


@dataclass(frozen=True)
class Filled:
    db: Database
    wallet_id: int
    npub: str


@pytest_asyncio.fixture(scope="module")
async def filled(new_database: Callable[[str], str]) -> AsyncIterator[Filled]:
    """A store with 4 000 tokens, 20 000 proofs (a fifth unspent) and 10 000 operations (one in fifty open)."""
    db = Database(new_database("indexes"))
    await db.migrate()
    now = utcnow()
    async with db.transaction("test_fill") as conn:
        await conn.execute(
            wallets.insert(),
            [
                {"npub": f"npub1wallet{w}", "mint_url": "http://mint", "unit": "sat", "created_at": now, "metadata": {}}
                for w in range(WALLETS)
            ],
        )
        wallet_ids = [row[0] for row in (await conn.execute(wallets.select().order_by(wallets.c.id))).all()]
        await conn.execute(
            tokens.insert(),
            [
                {
                    "wallet_id": wallet_id,
                    "npub": f"npub1wallet{w}",
                    "mint_url": "http://mint",
                    "transaction_type": "minted",
                    "transaction_id": f"mint_{w}_{t}",
                    "status": "unspent",
                    "total_amount": PROOFS_PER_TOKEN,
                    "created_at": now - timedelta(minutes=t),
                    "metadata": {},
                }
                for w, wallet_id in enumerate(wallet_ids)
                for t in range(PROOFS_PER_WALLET // PROOFS_PER_TOKEN)
            ],
        )
        token_ids = [row[0] for row in (await conn.execute(tokens.select().order_by(tokens.c.id))).all()]
        await conn.execute(
            proofs.insert(),
            [
                {
                    "token_id": token_ids[w * (PROOFS_PER_WALLET // PROOFS_PER_TOKEN) + p // PROOFS_PER_TOKEN],
                    "wallet_id": wallet_id,
                    "keyset_id": "00ad268c4d1f5826",
                    "amount": 2 ** (p % 8),
                    "secret": f"secret-{w}-{p}",
                    "C": "02" + "00" * 32,
                    "Y": f"{w:06d}{p:06d}",
                    "state": "unspent" if p % 5 == 0 else "spent",
                    "created_at": now,
                }
                for w, wallet_id in enumerate(wallet_ids)
                for p in range(PROOFS_PER_WALLET)
            ],
        )
        await conn.execute(
            operations.insert(),
            [
                {
                    "id": f"melt_{w}_{o}",
                    "kind": "melt",
                    "wallet_id": wallet_id,
                    "npub": f"npub1wallet{w}",
                    "mint_url": "http://mint",
                    "state": "melt_sent" if o == 0 else "completed",
                    "amount": 10,
                    "fee_reserve": 2,
                    "fees_paid": 0,
                    "change_amount": 0,
                    "input_ys": [],
                    "outputs": [],
                    "attempts": 0,
                    "created_at": now - timedelta(days=1, minutes=o),
                    "updated_at": now,
                }
                for w, wallet_id in enumerate(wallet_ids)
                for o in range(OPERATIONS_PER_WALLET)
            ],
        )
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()
    yield Filled(db, wallet_ids[len(wallet_ids) // 2], f"npub1wallet{len(wallet_ids) // 2}")
    await db.dispose()


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Record every statement the engine sends, with its parameters, while the block runs."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def _postgres_scans(plan: dict[str, Any], table: str | None = None) -> list[tuple[str, str, str | None]]:
    """Return (node type, table, index) for every scan node of a PostgreSQL JSON plan.

    A Bitmap Heap Scan names the table and its Bitmap Index Scan children name the index.
    """
    found = []
    table = plan.get("Relation Name", table)
    if table is not None and (plan["Node Type"] == "Seq Scan" or "Index Name" in plan):
        found.append((plan["Node Type"], table, plan.get("Index Name")))
    for child in plan.get("Plans", []):
        found.extend(_postgres_scans(child, table))
    return found


async def plan_of(db: Database, statement: str, parameters: Any) -> dict[str, set[str]]:
    """Explain one statement; return, per table read, the indexes used ("SCAN" for a full scan)."""
    by_table: dict[str, set[str]] = {}
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            rows = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)).all()
            document = rows[0][0]
            plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
            for node, table, index in _postgres_scans(plan):
                by_table.setdefault(table, set()).add("SCAN" if node == "Seq Scan" else str(index))
        else:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)).all()
            for row in rows:
                detail = str(row[-1]).split()
                if detail[0] not in ("SCAN", "SEARCH") or len(detail) < 2:
                    continue
                table = detail[1]
                index = detail[detail.index("INDEX") + 1] if "INDEX" in detail else "SCAN"
                by_table.setdefault(table, set()).add(index)
    return by_table


async def plans(db: Database, work: Callable[[AsyncConnection], Awaitable[object]]) -> list[dict[str, set[str]]]:
    async with db.read() as conn:
        with captured(db) as statements:
            await work(conn)
    return [await plan_of(db, statement, parameters) for statement, parameters in statements]


def assert_indexed(found: list[dict[str, set[str]]], expected: dict[str, set[str]]) -> None:
    """Each expected table is read through one of its expected indexes, and no big table is scanned."""
    used: dict[str, set[str]] = {}
    for plan in found:
        for table, indexes in plan.items():
            used.setdefault(table, set()).update(indexes)
    for table in BIG_TABLES:
        assert "SCAN" not in used.get(table, set()), f"full scan of {table}: {found}"
    for table, names in expected.items():
        assert used.get(table, set()) & names, f"{table} read through {used.get(table)}, expected one of {names}"


async def test_balance_reads_only_maintained_row(filled):
    found = await plans(filled.db, lambda conn: proof_store.balance(conn, filled.wallet_id))
    tables = {table for plan in found for table in plan}
    assert tables == {"wallet_balances"}


async def test_balance_from_proofs_uses_wallet_state_index(filled):
    found = await plans(filled.db, lambda conn: proof_store.balance_from_proofs(conn, filled.wallet_id))
    assert_indexed(found, {"proofs": {"ix_proofs_wallet_state_amount"}})


async def test_selection_uses_unspent_index(filled):
    found = await plans(filled.db, lambda conn: proof_store.unspent_proofs(conn, filled.wallet_id))
    assert_indexed(found, {"proofs": {"ix_proofs_unspent_selection", "ix_proofs_wallet_state_amount"}})


async def test_history_uses_wallet_indexes(filled):
    found = await plans(filled.db, lambda conn: history.list_transactions(conn, filled.wallet_id, limit=20, skip=0))
    assert_indexed(
        found,
        {"tokens": {"ix_tokens_wallet_created"}, "operations": {"ix_operations_wallet_created"}},
    )


async def test_history_by_npub_uses_npub_index(filled):
    found = await plans(filled.db, lambda conn: op_store.list_operations_by_npub(conn, filled.npub))
    assert_indexed(found, {"operations": {"ix_operations_npub_created"}})


async def test_due_scan_uses_open_index(filled):
    found = await plans(filled.db, lambda conn: op_store.due_operations(conn, ["mint", "melt"]))
    assert_indexed(found, {"operations": {"ix_operations_open_next_check", "ix_operations_open_created"}})


async def test_stuck_scan_uses_open_index(filled):
    found = await plans(filled.db, lambda conn: alerts.stuck_counts(conn, timedelta(hours=1)))
    assert_indexed(found, {"operations": {"ix_operations_open_created", "ix_operations_open_next_check"}})
