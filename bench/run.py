"""Benchmarks: melt latency, throughput and nctool's own overhead against a zero-delay dev mint,
and balance and selection at 100k proofs per wallet and 1M proofs in the store.

Run with `make bench`; it rewrites docs/benchmarks.md with the figures and the machine they came from.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from nctool.config import Settings
from nctool.devmint import start_dev_mint
from nctool.security.secretbox import generate_key_file
from nctool.store import proofs as proof_store
from nctool.store.records import StoredProof
from nctool.store.tables import proofs, tokens, utcnow, wallets
from nctool.testing.client import ApiClient
from nctool.testing.lightning import make_invoice, make_npub
from nctool.testing.process import start_process
from nctool.wallet.selection import select_proofs
from nctool.wallet.services import Services

SEQUENTIAL_MELTS = int(os.environ.get("BENCH_MELTS", "60"))
# One melt per wallet. A wallet's in-flight melt reserves the proofs it swaps, so parallel melts of
# one wallet need several proofs each. Separate wallets measure the service, not one wallet's change.
CONCURRENT_WALLETS = 40


def _metric_sum(text: str, name: str, label_filter: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "_sum") and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_melts(work: Path) -> dict[str, float]:
    mint = start_dev_mint(work / "mint")
    service = await start_process(mint.url, f"sqlite:///{work}/bench.db", work, NCTOOL_LOG_LEVEL="WARNING")
    api = ApiClient(service.url)
    try:
        npub = make_npub()
        await api.fund(npub, 100_000)
        metrics_before = (await api.http.get("/metrics")).text
        latencies = []
        for _ in range(SEQUENTIAL_MELTS):
            started = time.perf_counter()
            response = await api.melt(npub, make_invoice(100))
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        metrics_after = (await api.http.get("/metrics")).text
        melt_seconds = _metric_sum(metrics_after, "melt_operation_duration_seconds") - _metric_sum(
            metrics_before, "melt_operation_duration_seconds"
        )
        mint_seconds = _metric_sum(metrics_after, "mint_request_duration_seconds") - _metric_sum(
            metrics_before, "mint_request_duration_seconds"
        )
        wallets_npubs = [make_npub() for _ in range(CONCURRENT_WALLETS)]
        for other in wallets_npubs:
            await api.fund(other, 1_000)
        started = time.perf_counter()
        results = await asyncio.gather(*(api.melt(other, make_invoice(100)) for other in wallets_npubs))
        elapsed = time.perf_counter() - started
        failed = [r.text for r in results if r.status_code != 200]
        assert not failed, failed[:3]
    finally:
        await api.aclose()
        service.kill()
        mint.stop()
    return {
        "p50_ms": _pct(latencies, 0.5) * 1000,
        "p95_ms": _pct(latencies, 0.95) * 1000,
        "mean_ms": statistics.mean(latencies) * 1000,
        "overhead_ms": (melt_seconds - mint_seconds) / SEQUENTIAL_MELTS * 1000,
        "mint_ms": mint_seconds / SEQUENTIAL_MELTS * 1000,
        "throughput": len(results) / elapsed,
    }


def bench_selection() -> dict[str, float]:
    candidates = [
        StoredProof(
            id=i,
            token_id=1,
            wallet_id=1,
            keyset_id="00ad268c4d1f5826",
            amount=2 ** (i % 10),
            secret="s",  # noqa: S106
            C="02" + "00" * 32,
            Y=f"{i:066x}",
            dleq=None,
            witness=None,
            state="unspent",
            reserved_by=None,
        )
        for i in range(100_000)
    ]
    candidates.sort(key=lambda p: -p.amount)
    timings = []
    # 1000 and 25,000 match exactly; 1023 * 64 + 1 has no exact match within the input limit.
    for target in (1000, 25_000, 65_473):
        started = time.perf_counter()
        assert select_proofs(candidates, target, {"00ad268c4d1f5826": 100}, 100) is not None
        timings.append(time.perf_counter() - started)
    return {"selection_ms": max(timings) * 1000}


async def bench_store(work: Path) -> dict[str, float]:
    svc = Services.create(Settings(database_url=f"sqlite:///{work}/store.db", mint_url="http://127.0.0.1:9"))
    await svc.db.migrate()
    now = utcnow()
    async with svc.db.transaction("bench_fill") as conn:
        for w in range(10):
            await conn.execute(
                wallets.insert().values(npub=f"npub_bench_{w}", mint_url="m", unit="sat", created_at=now, metadata={})
            )
            await conn.execute(
                tokens.insert().values(
                    wallet_id=w + 1,
                    npub=f"npub_bench_{w}",
                    mint_url="m",
                    transaction_type="minted",
                    transaction_id=f"t{w}",
                    status="unspent",
                    total_amount=0,
                    created_at=now,
                    metadata={},
                )
            )
        for w in range(10):
            rows = [
                {
                    "token_id": w + 1,
                    "wallet_id": w + 1,
                    "keyset_id": "00ad268c4d1f5826",
                    "amount": 2 ** (i % 10),
                    "secret": f"s{w}-{i}",
                    "C": "02",
                    "Y": f"{w:02x}{i:064x}",
                    "dleq": None,
                    "witness": None,
                    "state": "unspent",
                    "reserved_by": None,
                    "spent_by": None,
                    "created_at": now,
                    "spent_at": None,
                }
                for i in range(100_000)
            ]
            await conn.execute(proofs.insert(), rows)
    timings: dict[str, list[float]] = {"balance": [], "unspent": []}
    for _ in range(5):
        async with svc.db.read() as conn:
            started = time.perf_counter()
            await proof_store.balance(conn, 1)
            timings["balance"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await proof_store.unspent_proofs(conn, 1)
            timings["unspent"].append(time.perf_counter() - started)
    await svc.close()
    return {
        "balance_ms": statistics.median(timings["balance"]) * 1000,
        "unspent_load_ms": statistics.median(timings["unspent"]) * 1000,
    }


def write_report(figures: dict[str, float]) -> str:
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1) if match else cpu
    return f"""# Benchmarks

Reproduce with `make bench` (under a minute). Measured {datetime.now(UTC):%Y-%m-%d} on {cpu},
{os.cpu_count()} cores, Python {platform.python_version()}, SQLite in WAL mode, against a Nutshell 0.19.2
FakeWallet dev mint with no payment delay, service and mint as separate processes on 127.0.0.1.

## Melt through the API

Each melt pays a 100-sat invoice from a wallet funded with 100,000 sat, so a melt swaps to
the exact amount first whenever no subset of its proofs matches (quote, checkstate, swap, melt: four mint requests).

| figure | value |
| --- | ---: |
| latency p50, {SEQUENTIAL_MELTS} sequential melts | {figures["p50_ms"]:.0f} ms |
| latency p95 | {figures["p95_ms"]:.0f} ms |
| latency mean | {figures["mean_ms"]:.0f} ms |
| time waiting on the mint per melt | {figures["mint_ms"]:.0f} ms |
| nctool's own time per melt (melt duration minus mint request time, from /metrics) | {figures["overhead_ms"]:.0f} ms |
| throughput, {CONCURRENT_WALLETS} wallets paying at once | {figures["throughput"]:.1f} melts/s |

## Store and selection

| figure | value |
| --- | ---: |
| balance of a wallet with 100,000 proofs, store of 1,000,000 proofs | {figures["balance_ms"]:.1f} ms |
| load the 100,000 unspent proofs of that wallet | {figures["unspent_load_ms"]:.0f} ms |
| selection over 100,000 proofs (worst of 3 targets, 1 with no exact match) | {figures["selection_ms"]:.1f} ms |

The melt path loads every unspent proof of the wallet before selecting, so its cost grows with
the wallet's proof count (the last two rows); the balance is one indexed aggregate.
"""


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nctool-bench-") as tmp:
        work = Path(tmp)
        # The benchmark's own secret key: the service and the store seal secrets as in production.
        if "NCTOOL_SECRET_KEY_FILE" not in os.environ:
            generate_key_file(work / "secret.key")
            os.environ["NCTOOL_SECRET_KEY_FILE"] = str(work / "secret.key")
        figures = await bench_melts(work)
        figures |= bench_selection()
        figures |= await bench_store(work)
    report = write_report(figures)
    Path("docs/benchmarks.md").write_text(report)  # noqa: ASYNC240  # once, at the end
    sys.stdout.write(report)


if __name__ == "__main__":
    asyncio.run(main())
