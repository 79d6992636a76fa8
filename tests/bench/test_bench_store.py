"""Smoke test of the store benchmark at a tiny size; the benchmark itself runs with `make bench`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from nctool.store import proofs as proof_store
from nctool.store.database import Database
from store import StoreSizes, bench_store  # bench/ is a script folder, not a package


async def test_store_bench_fills_and_times(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    figures = await bench_store(url, StoreSizes(store_proofs=3_000, wallet_proofs=1_000, selection_proofs=500), 2, 1)
    assert len(figures.balance_ms) == 2
    assert figures.selection_wallet_ms
    assert figures.selection_small_ms


async def test_store_bench_balances_match_proofs(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    await bench_store(url, StoreSizes(store_proofs=3_000, wallet_proofs=1_000, selection_proofs=500), 1, 1)
    db = Database(url)
    try:
        async with db.read() as conn:
            for wallet_id in (1, 2, 3):
                assert await proof_store.balance(conn, wallet_id) == await proof_store.balance_from_proofs(
                    conn, wallet_id
                )
    finally:
        await db.dispose()
