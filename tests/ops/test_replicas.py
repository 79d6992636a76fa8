"""Two service processes on one database: a pending melt is settled once, by whichever claims it."""

from __future__ import annotations

from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.service import start_service


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
