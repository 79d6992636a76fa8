"""`nctool demo`: a fresh dev mint and service on free ports, one funding and one payment.

Exit code 0 only when the money adds up: balance = funded - paid - fees, the ledger identity
is true and the mint's checkstate agrees with the ledger.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nctool.devmint import free_port, start_dev_mint
from nctool.security.secretbox import generate_key_file
from nctool.store.database import Database
from nctool.testing.client import ApiClient
from nctool.testing.credentials import create_admin_key
from nctool.testing.lightning import make_invoice, make_npub

FUND = 1000
PAY = 250


def _start_service(mint_url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "NCTOOL_MINT_URL": mint_url,
        "NCTOOL_PORT": str(port),
        "NCTOOL_DATABASE_URL": f"sqlite:///{work}/nctool.db",
        "NCTOOL_LOG_FILE": str(work / "nctool.jsonl"),
        "NCTOOL_SECRET_KEY_FILE": str(work / "secret.key"),
    }
    log = (work / "service.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "nctool.cli.main", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


async def _wait_ready(api: ApiClient, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nctool exited with code {process.returncode}")
        try:
            if (await api.call("GET", "/readyz")).status_code == 200:
                return
        except Exception:  # noqa: S110  # not listening yet
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("nctool did not become ready")


async def run_demo(console: Console) -> int:
    work = Path(tempfile.mkdtemp(prefix="nctool-demo-"))
    console.print(f"[bold]nctool demo[/bold] (working directory {work})")
    mint = start_dev_mint(work / "mint")
    console.print(f"1. dev mint (Nutshell, FakeWallet) on {mint.url}")
    generate_key_file(work / "secret.key")
    # The demo calls the API as a client backend does: with an API key, created before the service starts.
    db = Database(f"sqlite:///{work}/nctool.db")
    try:
        key = await create_admin_key(db, label="demo")
    finally:
        await db.dispose()
    process, url = _start_service(mint.url, work)
    api = ApiClient(url, api_key=key)
    remove_work = False
    try:
        await _wait_ready(api, process)
        console.print(f"2. nctool on {url}")
        code = await _walkthrough(console, api)
        # The working directory contains the demo wallet's proof secrets; keep it only to debug a failure.
        remove_work = code == 0
        return code
    except Exception as exc:  # the demo reports any failure and exits non-zero
        console.print(f"[red]demo failed: {exc!r}[/red]; logs in {work}")
        return 1
    finally:
        await api.aclose()
        process.terminate()
        process.wait(timeout=20)
        mint.stop()
        if remove_work:
            shutil.rmtree(work, ignore_errors=True)


async def _walkthrough(console: Console, api: ApiClient) -> int:
    npub = make_npub()
    await api.fund(npub, FUND)
    console.print(f"3. wallet {npub[:20]}... funded with {FUND} sat through a mint quote")
    started = time.perf_counter()
    response = await api.melt(npub, make_invoice(PAY))
    elapsed_ms = (time.perf_counter() - started) * 1000
    melt = response.json()
    if response.status_code != 200:
        console.print(f"[red]melt failed: {response.status_code} {melt}[/red]")
        return 1
    console.print(
        f"4. paid a {PAY}-sat invoice: fee {melt['feesPaid']} sat, change {melt['changeAmount']} sat, "
        f"melt took {elapsed_ms:.0f} ms"
    )
    balance = await api.balance(npub)
    console.print(f"5. balance {balance['balance']} sat (pending {balance['details']['pendingBalance']})")
    _print_history(console, await api.history(npub))
    return await _verify(console, api, npub, melt, balance["balance"])


def _print_history(console: Console, entries: list[dict[str, object]]) -> None:
    table = Table("type", "status", "amount", "fee", "transaction")
    for entry in entries:
        table.add_row(
            str(entry["transaction_type"]),
            str(entry["status"]),
            str(entry["total_amount"]),
            str(entry.get("fee", "")),
            str(entry["transaction_id"]),
        )
    console.print(table)


async def _verify(console: Console, api: ApiClient, npub: str, melt: dict[str, int], balance: int) -> int:
    expected = FUND - PAY - melt["feesPaid"]
    ledger = (await api.call("GET", f"/api/wallet/{npub}/info")).json()["walletInfo"]["ledger"]
    status = (await api.call("GET", f"/api/wallet/{npub}/proofs/status")).json()
    checks = {
        f"balance {balance} = {FUND} - {PAY} - fees {melt['feesPaid']}": balance == expected,
        "minted - paid - fees = unspent + pending": bool(ledger["balanced"]),
        "mint checkstate agrees with the ledger": bool(status["consistent"]),
    }
    for label, ok in checks.items():
        console.print(f"   {'ok ' if ok else 'FAIL'} {label}")
    if all(checks.values()):
        console.print("[green]the money adds up[/green]")
        return 0
    console.print("[red]the money does not add up[/red]")
    return 1
