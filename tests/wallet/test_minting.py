"""Lightning in: quotes are credited once, by the worker or by mint/complete, even after a restart."""

from __future__ import annotations

import asyncio

from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.service import start_service


async def _mint_quote(api, npub, amount):  # type: ignore[no-untyped-def]
    await api.create(npub)
    response = await api.call("POST", f"/api/wallet/{npub}/mint", {"amount": amount})
    assert response.status_code == 200
    return response.json()


async def _wait_balance(api, npub, amount, timeout=15.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.1)):
        if (await api.balance(npub))["balance"] == amount:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"balance never reached {amount}")


async def test_mint_quote_response_fields(stack, npub):
    quote = await _mint_quote(stack.api, npub, 500)
    assert quote["invoice"].startswith("lnbc5u")
    assert quote["transactionId"].startswith("mint_")
    assert quote["amount"] == 500


async def test_worker_credits_paid_quote(stack, npub):
    await _mint_quote(stack.api, npub, 700)
    await _wait_balance(stack.api, npub, 700)


async def test_mint_complete_is_idempotent(stack, npub):
    quote = await _mint_quote(stack.api, npub, 300)
    body = {"quoteId": quote["quote"], "amount": 300, "transactionId": quote["transactionId"]}
    await _wait_balance(stack.api, npub, 300)
    first = await stack.api.call("POST", f"/api/wallet/{npub}/mint/complete", body)
    second = await stack.api.call("POST", f"/api/wallet/{npub}/mint/complete", body)
    assert first.status_code == 200
    assert second.json()["alreadyCompleted"] is True
    assert second.json()["tokenId"] == first.json()["tokenId"]
    assert "secret" not in second.text
    assert (await stack.api.balance(npub))["balance"] == 300


async def test_mint_complete_rejects_unknown_quote(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/mint/complete", {"quoteId": "nope"})
    assert response.status_code == 400
    assert response.json()["code"] == "QUOTE_NOT_FOUND"


async def test_quote_credited_after_restart(stack, npub, new_database):
    database = new_database("restart")
    first = await start_service(stack.proxy.url, database, worker_enabled=False)
    api = ApiClient(first.url)
    try:
        await _mint_quote(api, npub, 400)
        assert (await api.balance(npub))["balance"] == 0
    finally:
        await api.aclose()
        await first.stop()
    second = await start_service(stack.proxy.url, database, worker_interval_seconds=0.2)
    api = ApiClient(second.url)
    try:
        await _wait_balance(api, npub, 400)
        assert await ledger_problems(second.services) == []
    finally:
        await api.aclose()
        await second.stop()


async def test_receipts_check_credits_open_quotes(stack, npub, new_database):
    service = await start_service(stack.proxy.url, new_database("receipts"), worker_enabled=False)
    api = ApiClient(service.url)
    try:
        quote = await _mint_quote(api, npub, 250)
        response = await api.call("GET", f"/api/wallet/{npub}/receipts/check")
        body = response.json()
        assert body["checked"] == 1
        assert body["completedTransactions"] == [quote["transactionId"]]
        assert (await api.balance(npub))["balance"] == 250
        assert await ledger_problems(service.services) == []
    finally:
        await api.aclose()
        await service.stop()
