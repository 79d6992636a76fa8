"""Several nctool processes on one database: money moves once, whichever process handles it.

Correctness comes from the database alone (row locks, conditional updates, leases), so these
tests run separate service processes that share nothing but the database and the mint.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from nctool.config import Settings
from nctool.store.tables import audit_log, operations
from nctool.testing.client import ApiClient
from nctool.testing.fault_proxy import FaultProxy
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.process import ServiceProcess, start_process
from nctool.testing.service import start_service
from nctool.wallet.services import Services

SPENDING_PATHS = frozenset({"/v1/melt/bolt11", "/v1/swap"})


async def test_two_replicas_settle_pending_melt_once(pending_stack, npub, new_database):
    database = new_database("shared")
    mint_url = pending_stack.mint.url
    first = await start_service(mint_url, database, worker_interval_seconds=0.1, lease_seconds=2.0)
    second = await start_service(mint_url, database, worker_interval_seconds=0.1, lease_seconds=2.0)
    api_first, api_second = ApiClient(first.url), ApiClient(second.url)
    try:
        await api_first.fund(npub, 1000)
        response = await api_second.melt(npub, make_invoice(250))
        assert response.status_code == 202
        entry = await api_first.wait_for(npub, response.json()["transactionId"], "paid")
        balance = await api_second.balance(npub)
        assert balance["balance"] == 1000 - 250 - entry["fee"]
        assert balance["details"]["pendingBalance"] == 0
        assert await ledger_problems(first.services) == []
    finally:
        for api in (api_first, api_second):
            await api.aclose()
        await first.stop()
        await second.stop()


@asynccontextmanager
async def replicas(
    mint_url: str, database: str, log_dir: Path, count: int = 2
) -> AsyncIterator[tuple[FaultProxy, list[ServiceProcess], Services]]:
    """Start `count` service processes on one database behind a proxy that records spending requests.

    Also yields an in-process Services on the same database, for checking the books afterwards.
    """
    proxy = await FaultProxy(mint_url, record_paths=SPENDING_PATHS).start()
    processes: list[ServiceProcess] = []
    checker = Services.create(Settings(mint_url=mint_url, database_url=database))
    try:
        # Started together, so that they also race to migrate the empty database.
        started = await asyncio.gather(
            *(start_process(proxy.url, database, log_dir) for _ in range(count)), return_exceptions=True
        )
        processes.extend(p for p in started if isinstance(p, ServiceProcess))
        failures = [p for p in started if isinstance(p, BaseException)]
        assert failures == [], f"replicas failed to start: {failures}"
        yield proxy, processes, checker
    finally:
        for process in processes:
            process.process.terminate()
        for process in processes:
            await process.exited()
        await checker.close()
        await proxy.stop()


def spent_secrets(proxy: FaultProxy) -> list[str]:
    """Return the secret of every proof sent to the mint as an input of a swap or a melt."""
    secrets: list[str] = []
    for path in SPENDING_PATHS:
        for body in proxy.bodies.get(path, []):
            secrets.extend(proof["secret"] for proof in json.loads(body)["inputs"])
    return secrets


async def wait_until_settled(api: ApiClient, npub: str, timeout: float = 30.0) -> dict:  # type: ignore[type-arg]
    deadline = asyncio.get_running_loop().time() + timeout
    balance = await api.balance(npub)
    while balance["details"]["pendingBalance"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        balance = await api.balance(npub)
    return balance


async def test_concurrent_melts_across_replicas(stack, npub, tmp_path: Path, new_database: Callable[[str], str]):  # type: ignore[no-untyped-def]
    async with replicas(stack.mint.url, new_database("replicas_melt"), tmp_path) as (proxy, processes, checker):
        apis = [ApiClient(process.url) for process in processes]
        try:
            await apis[0].fund(npub, 1000)
            invoices = [make_invoice(100) for _ in range(20)]
            responses = await asyncio.gather(*(apis[i % 2].melt(npub, invoice) for i, invoice in enumerate(invoices)))
            codes = [r.status_code for r in responses]
            server_errors = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
            assert server_errors == []
            assert set(codes) <= {200, 202, 402, 409}, codes
            paid = [r.json() for r in responses if r.status_code == 200]
            assert len(paid) >= 1
            assert codes.count(402) >= 1  # the wallet cannot afford all twenty

            balance = await wait_until_settled(apis[1], npub)
            assert balance["details"]["pendingBalance"] == 0
            history = {e["transaction_id"]: e for e in await apis[0].history(npub, limit=100)}
            melts = [e for e in history.values() if e["transaction_type"] == "melt" and e["status"] == "paid"]
            spent = sum(e["total_amount"] + e["fee"] for e in melts)
            assert len(melts) >= len(paid)
            assert balance["balance"] + spent == 1000

            secrets = spent_secrets(proxy)
            assert len(secrets) == len(set(secrets)), "a proof was sent to the mint twice"
            assert await ledger_problems(checker) == []
        finally:
            for api in apis:
                await api.aclose()


async def test_background_jobs_in_two_replicas_settle_once(
    pending_stack, npub, tmp_path: Path, new_database: Callable[[str], str]
):  # type: ignore[no-untyped-def]
    database = new_database("replicas_worker")
    async with replicas(pending_stack.mint.url, database, tmp_path) as (proxy, processes, checker):
        apis = [ApiClient(process.url) for process in processes]
        try:
            await apis[0].fund(npub, 2000)
            responses = [await apis[i % 2].melt(npub, make_invoice(100)) for i in range(6)]
            assert [r.status_code for r in responses] == [202] * 6
            ids = [r.json()["transactionId"] for r in responses]
            for transaction_id in ids:
                await apis[1].wait_for(npub, transaction_id, "paid")

            async with checker.db.read() as conn:
                completions = dict(
                    (
                        await conn.execute(
                            select(audit_log.c.operation_id, func.count())
                            .where(audit_log.c.operation_id.in_(ids), audit_log.c.to_state == "completed")
                            .group_by(audit_log.c.operation_id)
                        )
                    ).all()
                )
                states = set((await conn.execute(select(operations.c.state).where(operations.c.id.in_(ids)))).scalars())
            assert completions == {transaction_id: 1 for transaction_id in ids}
            assert states == {"completed"}

            balance = await wait_until_settled(apis[0], npub)
            history = {e["transaction_id"]: e for e in await apis[0].history(npub, limit=100)}
            assert balance["balance"] == 2000 - sum(100 + history[i]["fee"] for i in ids)
            secrets = spent_secrets(proxy)
            assert len(secrets) == len(set(secrets)), "a proof was sent to the mint twice"
            assert await ledger_problems(checker) == []
        finally:
            for api in apis:
                await api.aclose()
