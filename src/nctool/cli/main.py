"""`nctool`: run the service, the dev mint, and wallet commands against a running service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from nctool.cli import ops_observability, ops_recovery  # noqa: F401  # they register ops commands
from nctool.cli.admin import admin_app
from nctool.cli.dev import dev_app
from nctool.cli.ops import ops_app
from nctool.config import Settings, get_settings
from nctool.devmint import DevMint, DevMintError, start_dev_mint
from nctool.observability.logging import configure_logging, get_logger

app = typer.Typer(help="Cashu wallet service for Nostr users.", no_args_is_help=True)
wallet_app = typer.Typer(
    help="Wallet commands against a running nctool service; set NCTOOL_API_KEY to an API key.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(wallet_app, name="wallet")
app.add_typer(db_app, name="db")
app.add_typer(ops_app, name="ops")
app.add_typer(admin_app, name="admin")
app.add_typer(dev_app, name="dev")
console = Console()


def _serve(settings: Settings) -> None:
    from nctool.api.app import create_app
    from nctool.security.startup import UnsafeSettingsError, check_serving_settings

    try:
        check_serving_settings(settings)
    except UnsafeSettingsError as exc:
        # Unwrapped, so the commands in the message stay whole for copying.
        typer.echo(f"nctool will not start: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, settings.log_file)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=15,
    )


@app.command()
def serve() -> None:
    """Run the HTTP API and the background worker in the foreground."""
    _serve(get_settings())


@app.command()
def run(
    mint_port: int = typer.Option(3338, help="port of the dev mint started when NCTOOL_MINT_URL is unset"),
    mint_data: Path = typer.Option(Path("data/dev-mint"), help="directory of the dev mint's own database"),
    background: bool = typer.Option(
        False, "--background", help="exit once /readyz returns 200 and leave the service running (for scripts)"
    ),
) -> None:
    """Run the service; start the local dev mint too when NCTOOL_MINT_URL is unset.

    For development it also creates data/secret.key on first use when NCTOOL_SECRET_KEY_FILE is unset.
    """
    from nctool.security.startup import ensure_dev_key_file

    if not os.environ.get("NCTOOL_SECRET_KEY_FILE"):
        os.environ["NCTOOL_SECRET_KEY_FILE"] = str(ensure_dev_key_file().resolve())
    if background:
        _fork_and_wait_ready(Settings())
    mint: DevMint | None = None
    if not os.environ.get("NCTOOL_MINT_URL"):
        try:
            mint = start_dev_mint(mint_data.resolve(), port=mint_port)
        except DevMintError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        os.environ["NCTOOL_MINT_URL"] = mint.url
        console.print(f"dev mint on {mint.url}", style="dim", highlight=False)
        threading.Thread(target=_watch_dev_mint, args=(mint,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        _serve(Settings())
    except KeyboardInterrupt:
        pass
    finally:
        if mint is not None:
            mint.stop()


def _fork_and_wait_ready(settings: Settings, timeout: float = 300.0) -> None:
    """Fork, so that the child runs the service and the parent exits once the child is ready.

    The child stays in the caller's process group, so the script that ran `make run` can still stop
    the service by signalling that group. The parent exits 1 if the child dies before it is ready.
    """
    pid = os.fork()
    if pid == 0:
        return
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    url = f"http://{host}:{settings.port}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            console.print(f"[red]nctool exited before it was ready (status {status})[/red]")
            os._exit(1)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                console.print(f"nctool ready on http://{host}:{settings.port} (pid {pid}; stop it with kill {pid})")
                os._exit(0)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    console.print(f"[red]nctool was not ready after {timeout:.0f} s; pid {pid} is still running[/red]")
    os._exit(1)


def _watch_dev_mint(mint: DevMint) -> None:
    """Reap the dev mint when it exits and log it. nctool keeps serving and reports the mint down."""
    code = mint.process.wait()
    if mint.stopping:
        return
    get_logger().error(
        "Dev mint exited",
        exitCode=code,
        mintUrl=mint.url,
        action="see data/dev-mint/mint.log, then restart with make run",
    )


@app.command("dev-mint")
def dev_mint(
    port: int = typer.Option(3338, help="port on 127.0.0.1"),
    data: Path = typer.Option(Path("data/dev-mint"), help="directory of the mint's database"),
) -> None:
    """Run a Nutshell FakeWallet mint on 127.0.0.1 in the foreground until Ctrl-C."""
    mint = start_dev_mint(data.resolve(), port=port)
    console.print(f"dev mint ready on {mint.url} (Ctrl-C stops it)")
    try:
        mint.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        mint.stop()


@app.command()
def demo() -> None:
    """Walk through fund-and-pay on a fresh dev mint and service; exit 0 only if the money adds up."""
    from nctool.cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(console)))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest revision."""
    from nctool.store.database import Database

    async def upgrade() -> None:
        db = Database(get_settings().database_url)
        await db.migrate()
        await db.dispose()

    asyncio.run(upgrade())
    console.print("schema is at the newest revision")


# --- wallet commands ------------------------------------------------------------------------


def _base_url() -> str:
    settings = get_settings()
    return os.environ.get("NCTOOL_URL", f"http://{settings.host}:{settings.port}")


def _call(method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    url = _base_url() + path
    key = os.environ.get("NCTOOL_API_KEY")
    if key:
        headers = {**(headers or {}), "Authorization": f"Bearer {key}"}
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach nctool at {_base_url()}: {exc}[/red]; start it with `make run`")
        raise typer.Exit(2) from exc
    data = response.json()
    if response.status_code >= 400:
        console.print(f"[red]{response.status_code} {data.get('code')}: {data.get('message')}[/red]")
        raise typer.Exit(1)
    return data


def _emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        # soft_wrap keeps long values such as invoices on one line for copying and piping.
        console.print(human, highlight=False, soft_wrap=True)


JSON_OPTION = typer.Option(False, "--json", help="print the API response as JSON")


@wallet_app.command("create")
def wallet_create(npub: str, as_json: bool = JSON_OPTION) -> None:
    """Create the wallet of NPUB (idempotent)."""
    data = _call("POST", "/api/wallet/create", {"npub": npub})
    _emit(data, as_json, f"{data['message']} on {data['walletDetails']['mint']}")


@wallet_app.command("balance")
def wallet_balance(npub: str, as_json: bool = JSON_OPTION) -> None:
    """Show unspent, pending and spent sats."""
    data = _call("GET", f"/api/wallet/{npub}/balance")
    d = data["details"]
    _emit(
        data,
        as_json,
        f"balance {data['balance']} sat (pending {d['pendingBalance']}, spent {d['spentBalance']})",
    )


@wallet_app.command("mint")
def wallet_mint(npub: str, amount: int, as_json: bool = JSON_OPTION) -> None:
    """Request a Lightning invoice that funds the wallet with AMOUNT sats once paid."""
    data = _call("POST", f"/api/wallet/{npub}/mint", {"amount": amount})
    _emit(
        data,
        as_json,
        f"pay this invoice to receive {amount} sat:\n{data['invoice']}\n(transaction {data['transactionId']})",
    )


@wallet_app.command("melt")
def wallet_melt(
    npub: str,
    invoice: str,
    idempotency_key: str = typer.Option(None, help="retry-safe request key"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Pay a Lightning INVOICE from the wallet."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    data = _call("POST", f"/api/wallet/{npub}/melt", {"invoice": invoice}, headers)
    _emit(
        data,
        as_json,
        f"{data['state']}: {data['paidAmount']} sat, fees {data['feesPaid']} sat, "
        f"change {data['changeAmount']} sat (transaction {data['transactionId']})",
    )


@wallet_app.command("send")
def wallet_send(
    npub: str,
    amount: int,
    lock: str = typer.Option(None, "--lock", help="P2PK-lock the token to this public key (hex or npub)"),
    token_format: str = typer.Option("cashuB", "--format", help="token format: cashuB or cashuA"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Take AMOUNT sats out of the wallet as a Cashu token and print the token."""
    body: dict[str, Any] = {"amount": amount, "format": token_format}
    if lock:
        body["recipientPubkey"] = lock
    data = _call("POST", f"/api/wallet/{npub}/send", body)
    if as_json:
        _emit(data, as_json, "")
        return
    # Only the token goes to stdout, so `nctool wallet receive NPUB "$(nctool wallet send ...)"` works.
    sys.stdout.write(data["encodedToken"] + "\n")
    sys.stderr.write(
        f"sent {data['amount']} sat, fee {data['feesPaid']} sat, transaction {data['transactionId']} "
        "(reclaim it with nctool wallet reclaim NPUB TRANSACTION_ID while nobody has redeemed it)\n"
    )


@wallet_app.command("receive")
def wallet_receive(
    npub: str,
    token: str,
    private_key: str = typer.Option(None, "--private-key", help="hex key for a token locked to another key"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Redeem a Cashu TOKEN (cashuA or cashuB) into the wallet."""
    body: dict[str, Any] = {"encodedToken": token}
    if private_key:
        body["privateKey"] = private_key
    data = _call("POST", f"/api/wallet/{npub}/receive", body)
    _emit(
        data,
        as_json,
        f"received {data['totalAmount']} sat (token {data['tokenAmount']} sat, fee {data['fee']} sat, "
        f"transaction {data['transactionId']})",
    )


@wallet_app.command("reclaim")
def wallet_reclaim(npub: str, transaction_id: str, as_json: bool = JSON_OPTION) -> None:
    """Take back the token of send TRANSACTION_ID if no recipient has redeemed it."""
    data = _call("POST", f"/api/wallet/{npub}/send/{transaction_id}/reclaim")
    _emit(data, as_json, f"reclaimed {data['totalAmount']} sat (fee {data['fee']} sat)")


@wallet_app.command("history")
def wallet_history(npub: str, limit: int = 20, as_json: bool = JSON_OPTION) -> None:
    """List the newest transactions."""
    data = _call("GET", f"/api/wallet/{npub}/transactions?limit={limit}")
    if as_json:
        _emit(data, True, "")
        return
    table = Table("created", "type", "status", "amount", "fee")
    table.add_column("transaction", no_wrap=True, overflow="ignore")
    for t in data["transactions"]:
        table.add_row(
            t["created_at"][:19],
            t["transaction_type"],
            t["status"],
            str(t["total_amount"]),
            str(t.get("fee", "")),
            t["transaction_id"],
        )
    console.print(table)


if __name__ == "__main__":
    app()
