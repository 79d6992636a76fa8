"""Balance and selection latency on a large proof store, filled in bulk by SQL.

Wallet 1 has `wallet_proofs` unspent proofs, wallet 2 has `selection_proofs`, and further
wallets fill the store up to `store_proofs` with spent proofs, as a long history would. The rows
are generated inside the database (a recursive CTE on SQLite, generate_series on PostgreSQL),
which takes seconds where inserting them from Python takes minutes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from sqlalchemy import text

from nctool.store import proofs as proof_store
from nctool.store.database import Database
from nctool.store.tables import tokens, utcnow, wallets
from nctool.wallet.melt import select_melt_inputs

KEYSET_ID = "00ad268c4d1f5826"
FEE_PPK = {KEYSET_ID: 100}
# Payment targets (amount plus fee reserve) the selection is timed for. Each is covered by at
# most 64 of the generated proofs (amounts 1 to 512).
SELECTION_TARGETS = (102, 1_000, 25_000)
# Needs more than 64 proofs of at most 512 sat, so the selection falls back to loading them all.
FALLBACK_TARGET = 65_473
# Timed runs of the balance read, and of each selection target.
BALANCE_REPEAT = 200
SELECTION_REPEAT = 50

_SQLITE_FILL = """
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :count - 1)
INSERT INTO proofs (token_id, wallet_id, keyset_id, amount, secret, "C", "Y", state, created_at)
SELECT :wallet, :wallet, :keyset, 1 << (i % 10), 's' || :wallet || '-' || i, '02',
       printf('%02x%064x', :wallet, i), :state, :now
FROM seq
"""

_POSTGRES_FILL = """
INSERT INTO proofs (token_id, wallet_id, keyset_id, amount, secret, "C", "Y", state, created_at)
SELECT p.wallet, p.wallet, p.keyset, 1 << (i % 10), 's' || p.wallet || '-' || i, '02',
       lpad(to_hex(p.wallet), 2, '0') || lpad(to_hex(i), 64, '0'), p.state, now()
FROM (SELECT CAST(:wallet AS integer) AS wallet, CAST(:keyset AS text) AS keyset,
             CAST(:state AS text) AS state, CAST(:count AS integer) AS count) AS p,
     generate_series(0, p.count - 1) AS i
"""


@dataclass(frozen=True)
class StoreSizes:
    store_proofs: int
    wallet_proofs: int
    selection_proofs: int


@dataclass(frozen=True)
class StoreFigures:
    fill_seconds: float
    balance_ms: list[float]
    selection_wallet_ms: list[float]
    selection_small_ms: list[float]
    fallback_ms: float


def _wallet_sizes(sizes: StoreSizes) -> list[tuple[int, str]]:
    """Return (proof count, state) per wallet, in wallet id order."""
    plan = [(sizes.wallet_proofs, "unspent"), (sizes.selection_proofs, "unspent")]
    rest = sizes.store_proofs - sizes.wallet_proofs - sizes.selection_proofs
    while rest > 0:
        count = min(rest, sizes.wallet_proofs)
        plan.append((count, "spent"))
        rest -= count
    return plan


async def fill(db: Database, sizes: StoreSizes) -> float:
    """Create the wallets, one token each and their proofs; return the seconds it took."""
    started = time.perf_counter()
    now = utcnow()
    fill_sql = _POSTGRES_FILL if db.dialect == "postgresql" else _SQLITE_FILL
    async with db.transaction("bench_fill") as conn:
        for number, (count, state) in enumerate(_wallet_sizes(sizes), start=1):
            npub = f"npub_bench_{number}"
            await conn.execute(
                wallets.insert().values(id=number, npub=npub, mint_url="m", unit="sat", created_at=now, metadata={})
            )
            await conn.execute(
                tokens.insert().values(
                    id=number,
                    wallet_id=number,
                    npub=npub,
                    mint_url="m",
                    transaction_type="minted",
                    transaction_id=f"bench_{number}",
                    status=state,
                    total_amount=0,
                    created_at=now,
                    metadata={},
                )
            )
            params = {"wallet": number, "keyset": KEYSET_ID, "count": count, "state": state}
            if db.dialect != "postgresql":
                params["now"] = now.replace(tzinfo=None).isoformat(sep=" ")
            await conn.execute(text(fill_sql), params)
    async with db.transaction("bench_analyze") as conn:
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


async def _time_balance(db: Database, wallet_id: int, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        async with db.read() as conn:
            await proof_store.balance(conn, wallet_id)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _time_selection(db: Database, wallet_id: int, repeat: int) -> list[float]:
    """Time the melt's selection: read the candidates through the amount index, then choose."""
    timings = []
    for _ in range(repeat):
        for target in SELECTION_TARGETS:
            timings.append(await _select_once(db, wallet_id, target))
    return timings


async def _select_once(db: Database, wallet_id: int, target: int) -> float:
    started = time.perf_counter()
    async with db.read() as conn:
        await select_melt_inputs(conn, wallet_id, target, FEE_PPK, 100)
    return (time.perf_counter() - started) * 1000


async def bench_store(
    database_url: str, sizes: StoreSizes, repeat: int = BALANCE_REPEAT, selection_repeat: int = SELECTION_REPEAT
) -> StoreFigures:
    """Fill a fresh database and time balance and selection on it."""
    db = Database(database_url)
    try:
        await db.migrate()
        fill_seconds = await fill(db, sizes)
        await _time_balance(db, 1, 3)  # warm the page cache and the pool
        return StoreFigures(
            fill_seconds=fill_seconds,
            balance_ms=await _time_balance(db, 1, repeat),
            selection_wallet_ms=await _time_selection(db, 1, selection_repeat),
            selection_small_ms=await _time_selection(db, 2, selection_repeat),
            fallback_ms=await _select_once(db, 1, FALLBACK_TARGET),
        )
    finally:
        await db.dispose()


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> tuple[float, float]:
    """Return (p50, p95)."""
    return statistics.median(values), percentile(values, 0.95)
