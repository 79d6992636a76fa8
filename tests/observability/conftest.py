"""Melt scenarios for the operator-surface tests, each run once per session on the real stacks.

Metrics live in one registry per process and every in-process service shares it, so each
scenario scrapes /metrics before and after its action and the tests assert on the difference.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from nctool.cashu.amounts import split_amount
from nctool.cashu.client import MintClient
from nctool.cashu.models import Proof
from nctool.devmint import free_port
from nctool.store import operations as op_store
from nctool.store import wallets as wallet_store
from nctool.store.records import Operation
from nctool.store.tables import proofs, utcnow
from nctool.testing.client import ApiClient
from nctool.testing.db_faults import settlement_rejected
from nctool.testing.lightning import make_invoice, make_npub
from nctool.testing.service import RunningService, start_service
from nctool.wallet.outputs import blinded_messages, plan_outputs


@dataclass(frozen=True)
class Scrape:
    """The samples of one /metrics exposition."""

    samples: list[tuple[str, dict[str, str], float]]

    def value(self, metric: str, /, **labels: str) -> float:
        """Sum the samples called `metric` whose labels include `labels`."""
        return sum(v for n, lab, v in self.samples if n == metric and labels.items() <= lab.items())


def parse_exposition(text: str) -> Scrape:
    samples = [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    return Scrape(samples)


async def scrape(api: ApiClient) -> Scrape:
    response = await api.call("GET", "/metrics")
    response.raise_for_status()
    return parse_exposition(response.text)


@dataclass(frozen=True)
class Scenario:
    """One melt request with the metrics before and after it."""

    npub: str
    response: httpx.Response
    before: Scrape
    after: Scrape

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.response.json()
        return body

    def delta(self, metric: str, /, **labels: str) -> float:
        return self.after.value(metric, **labels) - self.before.value(metric, **labels)


async def _melt_scenario(
    api: ApiClient, funds: int, sats: int, prepare: Callable[[str], Awaitable[None]] | None = None
) -> Scenario:
    npub = make_npub()
    await api.fund(npub, funds)
    if prepare is not None:
        await prepare(npub)
    before = await scrape(api)
    response = await api.melt(npub, make_invoice(sats))
    return Scenario(npub, response, before, await scrape(api))


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


async def run_command(args: list[str], *, stdin: str = "", env: dict[str, str] | None = None) -> CommandResult:
    """Run a program without blocking the event loop the in-process services share."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return CommandResult(process.returncode, out.decode(), err.decode())


def log_lines(log_file: Path, message: str) -> list[dict[str, Any]]:
    """Return the JSON log entries whose message is `message`, oldest first."""
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return [e for e in entries if e["message"] == message]


@pytest_asyncio.fixture(scope="session")
async def paid_melt(stack) -> Scenario:  # type: ignore[no-untyped-def]
    """100 sat paid from a 500 sat wallet."""
    return await _melt_scenario(stack.api, 500, 100)


@pytest_asyncio.fixture(scope="session")
async def low_balance_melt(stack) -> Scenario:  # type: ignore[no-untyped-def]
    """500 sat requested from a 100 sat wallet: 402."""
    return await _melt_scenario(stack.api, 100, 500)


@pytest_asyncio.fixture(scope="session")
async def failed_payment(failing_stack) -> Scenario:  # type: ignore[no-untyped-def]
    """A payment the mint's Lightning backend fails: 502, funds released."""
    return await _melt_scenario(failing_stack.api, 1000, 260)


async def spend_elsewhere(stack, npub: str, amount: int) -> None:  # type: ignore[no-untyped-def]
    """Redeem one of the wallet's proofs at the mint behind nctool's back, as a leaked copy would be."""
    async with stack.svc.db.read() as conn:
        wallet = await wallet_store.get_wallet(conn, npub, stack.svc.settings.mint_url, "sat")
        row = (
            await conn.execute(
                select(proofs).where(
                    proofs.c.wallet_id == wallet.id, proofs.c.amount == amount, proofs.c.state == "unspent"
                )
            )
        ).first()
    client = MintClient(stack.mint.url)
    try:
        keyset = next(k for k in await client.keysets() if k.active)
        outputs = plan_outputs(split_amount(amount - 1), keyset.id, "elsewhere")
        await client.swap(
            [Proof(id=row.keyset_id, amount=row.amount, secret=row.secret, C=row.C)], blinded_messages(outputs)
        )
    finally:
        await client.aclose()


@pytest_asyncio.fixture(scope="session")
async def blocked_melt(stack) -> Scenario:  # type: ignore[no-untyped-def]
    """A melt whose selected 256 sat proof was spent elsewhere: pre-flight blocks it with 409."""

    async def spend_256(npub: str) -> None:
        await spend_elsewhere(stack, npub, 256)

    return await _melt_scenario(stack.api, 1000, 250, spend_256)


@pytest_asyncio.fixture(scope="session")
async def critical_melt(stack) -> Scenario:  # type: ignore[no-untyped-def]
    """A melt the mint pays while the database refuses to record it, until recovery finishes it.

    A database trigger makes the settlement transaction fail for this wallet only. The trigger is
    dropped as soon as the request returns, so the worker then settles the operation from the journal.
    """
    npub = make_npub()
    await stack.api.fund(npub, 500)
    before = await scrape(stack.api)
    async with settlement_rejected(stack.svc.db, "fail_settlement_" + npub[-12:], npub=npub):
        response = await stack.api.melt(npub, make_invoice(100))
    after = await scrape(stack.api)
    await stack.api.wait_for(npub, response.json()["transactionId"], "paid")
    return Scenario(npub, response, before, after)


@pytest_asyncio.fixture(scope="session")
async def down_service(new_database: Callable[[str], str]) -> AsyncIterator[RunningService]:
    """An nctool service whose mint URL points at a port where nothing listens."""
    service = await start_service(
        f"http://127.0.0.1:{free_port()}",
        new_database("down"),
        worker_enabled=False,
        mint_timeout_seconds=2.0,
    )
    yield service
    await service.stop()


@pytest_asyncio.fixture(scope="session")
async def down_api(down_service: RunningService) -> AsyncIterator[ApiClient]:
    api = ApiClient(down_service.url)
    yield api
    await api.aclose()


@pytest_asyncio.fixture(scope="session")
async def mint_down_melt(down_api: ApiClient) -> Scenario:
    """A melt on a service whose mint is unreachable: the quote fails with 502."""
    npub = make_npub()
    (await down_api.create(npub)).raise_for_status()
    before = await scrape(down_api)
    response = await down_api.melt(npub, make_invoice(100))
    return Scenario(npub, response, before, await scrape(down_api))


@pytest_asyncio.fixture(scope="session")
async def idle_service(stack, new_database: Callable[[str], str]) -> AsyncIterator[RunningService]:  # type: ignore[no-untyped-def]
    """A service on the settled mint whose journal stays empty: for tests that write no operation."""
    database = new_database("idle")
    service = await start_service(stack.mint.url, database, worker_enabled=False)
    yield service
    await service.stop()


@pytest_asyncio.fixture(scope="session")
async def idle_api(idle_service: RunningService) -> AsyncIterator[ApiClient]:
    api = ApiClient(idle_service.url)
    yield api
    await api.aclose()


@pytest_asyncio.fixture
async def quiet_service(stack, new_database: Callable[[str], str]) -> AsyncIterator[RunningService]:  # type: ignore[no-untyped-def]
    """A fresh service on the settled mint with an empty database and no background worker."""
    service = await start_service(stack.mint.url, new_database("quiet"), worker_enabled=False)
    yield service
    await service.stop()


@pytest_asyncio.fixture
async def quiet_api(quiet_service: RunningService) -> AsyncIterator[ApiClient]:
    api = ApiClient(quiet_service.url)
    yield api
    await api.aclose()


async def insert_operation(
    service: RunningService,
    npub: str,
    *,
    kind: str = "melt",
    state: str = "melt_sent",
    age: timedelta = timedelta(0),
    duration: timedelta | None = None,
    error_code: str | None = None,
) -> Operation:
    """Journal an operation created `age` ago, as a process that stopped mid-way would leave it.

    With `duration` it is completed that long after it was created.
    """
    svc = service.services
    created = utcnow() - age
    fields: dict[str, Any] = {"created_at": created, "updated_at": created, "amount": 100, "error_code": error_code}
    if duration is not None:
        fields["completed_at"] = created + duration
    async with svc.db.transaction("test_insert") as conn:
        wallet = await wallet_store.get_wallet(conn, npub, svc.settings.mint_url, svc.settings.unit)
        if wallet is None:
            wallet = await wallet_store.insert_wallet(conn, npub, svc.settings.mint_url, svc.settings.unit)
        assert wallet is not None
        return await op_store.insert_operation(
            conn,
            wallet,
            operation_id=op_store.new_operation_id(kind),
            kind=kind,
            state=state,
            quote_id=f"quote-{kind}-{int(created.timestamp())}",
            **fields,
        )
