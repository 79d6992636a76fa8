"""Benchmarks: melt latency, throughput and nctool's own time through the API on SQLite and
PostgreSQL, the same melt loop in Nutshell's wallet, and balance and selection on a large store.

Run with `make bench`; it rewrites docs/benchmarks.md with the figures of this one run and the
machine they came from. Sizes come from the environment (defaults in brackets):
BENCH_MELTS [60] sequential melts of one wallet, BENCH_CONCURRENCY [1,10,50] wallets paying at
once, BENCH_MELTS_PER_WALLET [4] melts per wallet when several pay at once, BENCH_STORE_PROOFS
[1000000], BENCH_WALLET_PROOFS [100000], BENCH_SELECTION_PROOFS [10000], BENCH_DATABASES
[sqlite,postgresql].
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import describe_machine
from melts import Plan, ServiceFigures, bench_service, nutshell_melts
from report import Figures, render

from nctool.devmint import default_venv, start_dev_mint
from nctool.security.secretbox import generate_key_file
from nctool.testing.postgres import PostgresCluster
from store import StoreFigures, StoreSizes, bench_store


@dataclass(frozen=True)
class Config:
    plan: Plan
    sizes: StoreSizes
    databases: tuple[str, ...]


def _config() -> Config:
    env = os.environ
    plan = Plan(
        sequential_melts=int(env.get("BENCH_MELTS", "60")),
        concurrency=tuple(int(c) for c in env.get("BENCH_CONCURRENCY", "1,10,50").split(",")),
        melts_per_wallet=int(env.get("BENCH_MELTS_PER_WALLET", "4")),
    )
    sizes = StoreSizes(
        store_proofs=int(env.get("BENCH_STORE_PROOFS", "1000000")),
        wallet_proofs=int(env.get("BENCH_WALLET_PROOFS", "100000")),
        selection_proofs=int(env.get("BENCH_SELECTION_PROOFS", "10000")),
    )
    databases = tuple(env.get("BENCH_DATABASES", "sqlite,postgresql").split(","))
    return Config(plan, sizes, databases)


async def _measure(config: Config, work: Path) -> Figures:
    mint = start_dev_mint(work / "mint")
    cluster = PostgresCluster(work / "postgres").start() if "postgresql" in config.databases else None
    services: dict[str, ServiceFigures] = {}
    stores: dict[str, StoreFigures] = {}
    nutshell: list[float] = []
    # Nutshell's loop runs in chunks before, between and after nctool's runs on the same mint, so
    # that both run under about the same load of the shared machine.
    chunk = max(1, config.plan.sequential_melts // (len(config.databases) + 1))
    try:
        for number, database in enumerate(config.databases):
            nutshell += nutshell_melts(mint.url, work / f"nutshell-{number}", chunk, 100_000, default_venv())
            url = cluster.create_database() if cluster and database == "postgresql" else f"sqlite:///{work}/melt.db"
            services[database] = await bench_service(mint.url, url, work / f"service-{database}", config.plan)
        nutshell += nutshell_melts(mint.url, work / "nutshell-last", chunk, 100_000, default_venv())
        for database in config.databases:
            url = cluster.create_database() if cluster and database == "postgresql" else f"sqlite:///{work}/store.db"
            stores[database] = await bench_store(url, config.sizes)
    finally:
        mint.stop()
        if cluster is not None:
            cluster.stop()
    return Figures(services=services, stores=stores, nutshell_ms=nutshell, plan=config.plan, sizes=config.sizes)


async def main() -> None:
    config = _config()
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nctool-bench-") as tmp:
        work = Path(tmp)
        # The benchmark's own secret key: the service and the store seal secrets as in production.
        if "NCTOOL_SECRET_KEY_FILE" not in os.environ:
            generate_key_file(work / "secret.key")
            os.environ["NCTOOL_SECRET_KEY_FILE"] = str(work / "secret.key")
        figures = await _measure(config, work)
    machine = describe_machine(load_before, os.getloadavg(), time.perf_counter() - started)
    page = render(figures, machine)
    Path("docs/benchmarks.md").write_text(page)  # noqa: ASYNC240  # once, at the end
    sys.stdout.write(page)


if __name__ == "__main__":
    asyncio.run(main())
