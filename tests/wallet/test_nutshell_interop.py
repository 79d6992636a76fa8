"""Tokens travel both ways between nctool and Nutshell's own CLI wallet (cashu 0.19.2 in .venv-mint)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from nctool.testing.lightning import make_npub

TOKEN_RE = re.compile(r"cashu[AB][A-Za-z0-9_=-]+")
BALANCE_RE = re.compile(r"Balance: (\d+) sat")


class NutshellWallet:
    """Nutshell's CLI wallet with its own data directory, pointed at the mint nctool uses."""

    def __init__(self, mint_url: str, data: Path):
        self.cli = Path(os.environ["NCTOOL_MINT_VENV"]) / "bin" / "cashu"
        self.env = {**os.environ, "MINT_URL": mint_url, "CASHU_DIR": str(data), "DEBUG": "False"}

    async def run(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            str(self.cli),
            "-y",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, out.decode()
        return out.decode()

    async def balance(self) -> int:
        found = BALANCE_RE.findall(await self.run("balance"))
        return int(found[-1]) if found else 0


@pytest.fixture
def nutshell(stack, tmp_path) -> NutshellWallet:  # type: ignore[no-untyped-def]
    return NutshellWallet(stack.svc.settings.mint_url, tmp_path / "nutshell")


async def test_nutshell_receives_nctool_token(stack, npub, nutshell):
    await stack.api.fund(npub, 1000)
    token = (await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 100})).json()["encodedToken"]
    await nutshell.run("receive", token)
    assert await nutshell.balance() >= 99


async def test_nutshell_receives_nctool_cashua_token(stack, npub, nutshell):
    await stack.api.fund(npub, 1000)
    body = {"amount": 40, "format": "cashuA"}
    token = (await stack.api.call("POST", f"/api/wallet/{npub}/send", body)).json()["encodedToken"]
    await nutshell.run("receive", token)
    assert await nutshell.balance() >= 39


async def test_nctool_receives_nutshell_token(stack, npub, nutshell):
    await stack.api.fund(npub, 1000)
    token = (await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 200})).json()["encodedToken"]
    await nutshell.run("receive", token)
    sent = TOKEN_RE.search(await nutshell.run("send", "60"))
    assert sent is not None
    receiver = make_npub()
    await stack.api.create(receiver)
    response = await stack.api.call("POST", f"/api/wallet/{receiver}/receive", {"encodedToken": sent.group(0)})
    assert response.status_code == 200, response.text
    assert response.json()["tokenAmount"] == 60
    assert 55 <= (await stack.api.balance(receiver))["balance"] <= 60
