"""The wallet commands drive a running service and print JSON on request."""

from __future__ import annotations

import asyncio
import json
import sys

from nctool.testing.lightning import make_invoice, make_npub


async def _run(stack, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nctool.cli.main",
        *args,
        env={"NCTOOL_URL": stack.service.url, "NCTOOL_API_KEY": stack.service.api_key, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def _nctool(stack, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, out, err = await _run(stack, *args)
    return code, out + err


async def test_create_balance_and_melt(stack, npub):
    code, out = await _nctool(stack, "wallet", "create", npub)
    assert code == 0
    assert "Wallet created successfully" in out
    await stack.api.fund(npub, 500)
    code, out = await _nctool(stack, "wallet", "balance", npub, "--json")
    assert code == 0
    assert json.loads(out)["balance"] == 500
    code, out = await _nctool(stack, "wallet", "melt", npub, make_invoice(100), "--json")
    assert code == 0
    assert json.loads(out)["state"] == "paid"


async def test_error_exits_non_zero_with_code(stack, npub):
    code, out = await _nctool(stack, "wallet", "balance", npub)
    assert code == 1
    assert "WALLET_NOT_FOUND" in out


async def test_history_prints_table(stack, npub):
    await stack.api.fund(npub, 300)
    code, out = await _nctool(stack, "wallet", "history", npub)
    assert code == 0
    assert "minted" in out


async def test_send_and_receive_commands(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 500)
    code, out = await _nctool(stack, "wallet", "send", npub, "50", "--json")
    assert code == 0
    token = json.loads(out)["encodedToken"]
    await stack.api.create(receiver)
    code, out = await _nctool(stack, "wallet", "receive", receiver, token)
    assert code == 0
    assert "received 49 sat" in out


async def test_send_prints_only_token_on_stdout(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 500)
    await stack.api.create(receiver)
    code, out, err = await _run(stack, "wallet", "send", npub, "50")
    assert code == 0
    assert out.startswith("cashuB")
    assert out.count("\n") == 1
    assert "transaction send_" in err
    code, received = await _nctool(stack, "wallet", "receive", receiver, out.strip())
    assert code == 0
    assert "received 49 sat" in received


async def test_reclaim_command(stack, npub):
    await stack.api.fund(npub, 500)
    code, out, err = await _run(stack, "wallet", "send", npub, "50", "--format", "cashuA")
    assert code == 0
    assert out.startswith("cashuA")
    transaction_id = err.split("transaction ")[1].split(" ")[0]
    code, out = await _nctool(stack, "wallet", "reclaim", npub, transaction_id)
    assert code == 0
    assert "reclaimed 49 sat" in out
