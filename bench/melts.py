"""Melt latency, throughput and nctool's own time through the HTTP API, and the same loop in Nutshell.

Each run starts nctool as its own process on a fresh database against one shared dev mint, funds
wallets, and has every wallet pay its invoices one after the other while the wallets run at once.
nctool's own time per melt comes from the completion log line (`overheadMs`: the melt's wall time
minus the time during which a request to the mint was in flight).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nctool.testing.client import ApiClient
from nctool.testing.lightning import make_invoice, make_npub
from nctool.testing.process import start_process

INVOICE_SAT = 100
COMPLETION_MESSAGE = "Enhanced melt tokens operation completed successfully"


@dataclass
class MeltRun:
    """Melts of one concurrency level: per-melt latency in ms, wall time, and the transactions."""

    wallets: int
    latencies_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    transaction_ids: list[str] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    # Failed melts as "HTTP status code, funds status", left out of the latencies, and their messages.
    failures: list[str] = field(default_factory=list)
    failure_messages: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed if self.elapsed else 0.0


@dataclass
class ServiceFigures:
    runs: list[MeltRun]
    peak_rss_mb: float


async def _fund_all(api: ApiClient, npubs: list[str], amount: int) -> None:
    limit = asyncio.Semaphore(10)

    async def fund(npub: str) -> None:
        async with limit:
            await api.fund(npub, amount)

    await asyncio.gather(*(fund(npub) for npub in npubs))


async def _pay_in_turn(api: ApiClient, npub: str, melts: int, run: MeltRun) -> None:
    for _ in range(melts):
        invoice = make_invoice(INVOICE_SAT)
        started = time.perf_counter()
        response = await api.melt(npub, invoice)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            body = response.json()
            run.failures.append(f"HTTP {response.status_code} {body.get('code')}, funds {body.get('fundsStatus')}")
            run.failure_messages.append(str(body.get("message")))
            continue
        run.latencies_ms.append(elapsed_ms)
        run.transaction_ids.append(response.json()["transactionId"])


async def run_wallets(api: ApiClient, wallets: int, melts_per_wallet: int, funded: int) -> MeltRun:
    """Fund `wallets` wallets, then let each pay `melts_per_wallet` invoices in turn, all wallets at once."""
    npubs = [make_npub() for _ in range(wallets)]
    await _fund_all(api, npubs, funded)
    run = MeltRun(wallets)
    started = time.perf_counter()
    await asyncio.gather(*(_pay_in_turn(api, npub, melts_per_wallet, run) for npub in npubs))
    run.elapsed = time.perf_counter() - started
    return run


def read_overheads(log_file: Path) -> dict[str, float]:
    """Return overheadMs per transaction id from the service's JSON log."""
    found: dict[str, float] = {}
    for line in log_file.read_text().splitlines():
        if COMPLETION_MESSAGE not in line:
            continue
        entry = json.loads(line)
        if "overheadMs" in entry:
            found[entry["transactionId"]] = float(entry["overheadMs"])
    return found


def peak_rss_mb(pid: int) -> float:
    """Return the process's peak resident set size (VmHWM) in MiB, or 0 where /proc is missing."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Plan:
    """Concurrency levels, melts per wallet at each, and sats funded per wallet."""

    sequential_melts: int
    concurrency: tuple[int, ...]
    melts_per_wallet: int

    def melts_for(self, wallets: int) -> int:
        return self.sequential_melts if wallets == 1 else self.melts_per_wallet

    def funding_for(self, wallets: int) -> int:
        return 100_000 if wallets == 1 else 5_000


async def bench_service(mint_url: str, database_url: str, work: Path, plan: Plan) -> ServiceFigures:
    """Run every concurrency level of `plan` against one nctool process on `database_url`."""
    work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  # once, before the service starts
    service = await start_process(
        mint_url, database_url, work, NCTOOL_LOG_LEVEL="INFO", NCTOOL_WORKER_INTERVAL_SECONDS="5"
    )
    api = ApiClient(service.url)
    runs = []
    try:
        for wallets in plan.concurrency:
            runs.append(await run_wallets(api, wallets, plan.melts_for(wallets), plan.funding_for(wallets)))
        rss = peak_rss_mb(service.process.pid)
    finally:
        await api.aclose()
        service.kill()
    overheads = read_overheads(work / "nctool.jsonl")
    for run in runs:
        run.overhead_ms = [overheads[t] for t in run.transaction_ids if t in overheads]
    return ServiceFigures(runs, rss)


def nutshell_melts(mint_url: str, work: Path, melts: int, funded: int, mint_venv: Path) -> list[float]:
    """Run the Nutshell wallet's melt loop in the mint's virtualenv; return its latencies in ms."""
    work.mkdir(parents=True, exist_ok=True)
    invoices = work / "invoices.json"
    invoices.write_text(json.dumps([make_invoice(INVOICE_SAT) for _ in range(melts)]))
    script = Path(__file__).with_name("nutshell_melt.py")
    command = [str(mint_venv / "bin" / "python"), str(script), mint_url, str(work), str(invoices), str(funded)]
    # Our own script and virtualenv, no shell.
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-3000:])
        raise RuntimeError(f"the Nutshell melt loop failed with exit code {result.returncode}")
    last_line = result.stdout.strip().splitlines()[-1]
    return [seconds * 1000 for seconds in json.loads(last_line)["latencies"]]
