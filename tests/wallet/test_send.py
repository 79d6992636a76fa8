"""Send and receive between wallets of one service, against a real Nutshell mint."""

from __future__ import annotations

from nctool.cashu.tokens import decode_token
from nctool.store import operations as op_store
from nctool.testing.lightning import make_npub


async def _operation(stack, transaction_id):  # type: ignore[no-untyped-def]
    async with stack.svc.db.read() as conn:
        return await op_store.get_operation(conn, transaction_id)


async def _send(stack, npub, body):  # type: ignore[no-untyped-def]
    return await stack.api.call("POST", f"/api/wallet/{npub}/send", body)


async def _receive(stack, npub, token, **extra):  # type: ignore[no-untyped-def]
    return await stack.api.call("POST", f"/api/wallet/{npub}/receive", {"encodedToken": token, **extra})


async def test_send_returns_cashub_token_of_amount(stack, npub):
    await stack.api.fund(npub, 1000)
    response = await _send(stack, npub, {"amount": 100})
    body = response.json()
    assert response.status_code == 200
    assert body["encodedToken"].startswith("cashuB")
    token = decode_token(body["encodedToken"])
    assert token.amount == 100
    assert token.mint == stack.svc.settings.mint_url


async def test_send_token_carries_dleq_proofs(stack, npub):
    await stack.api.fund(npub, 1000)
    token = decode_token((await _send(stack, npub, {"amount": 100})).json()["encodedToken"])
    assert all(p.dleq is not None and p.dleq.r is not None for p in token.proofs)


async def test_send_cashua_on_request(stack, npub):
    await stack.api.fund(npub, 1000)
    body = (await _send(stack, npub, {"amount": 10, "format": "cashuA"})).json()
    assert body["encodedToken"].startswith("cashuA")


async def test_send_takes_amount_out_of_balance(stack, npub):
    await stack.api.fund(npub, 1000)
    body = (await _send(stack, npub, {"amount": 100})).json()
    details = (await stack.api.balance(npub))["details"]
    assert details["unspentBalance"] == 1000 - 100 - body["feesPaid"]
    assert details["pendingBalance"] == 0
    assert details["pendingSendBalance"] == 100


async def test_send_history_shows_pending_sent_token(stack, npub):
    await stack.api.fund(npub, 1000)
    body = (await _send(stack, npub, {"amount": 100})).json()
    entry = next(e for e in await stack.api.history(npub) if e["transaction_id"] == body["transactionId"])
    assert entry["transaction_type"] == "sent"
    assert entry["status"] == "pending"
    assert entry["total_amount"] == 100


async def test_send_insufficient_balance_is_402(stack, npub):
    await stack.api.fund(npub, 100)
    response = await _send(stack, npub, {"amount": 500})
    assert response.status_code == 402
    assert response.json()["available"] == 100
    assert (await stack.api.balance(npub))["details"]["pendingBalance"] == 0


async def test_send_rejects_invalid_amount(stack, npub):
    await stack.api.fund(npub, 100)
    for amount in (0, -5, 2.5, "10"):
        response = await _send(stack, npub, {"amount": amount})
        assert response.status_code == 400, amount
        assert "amount" in response.text


async def test_send_rejects_invalid_recipient_pubkey(stack, npub):
    await stack.api.fund(npub, 100)
    response = await _send(stack, npub, {"amount": 10, "recipientPubkey": "02abcd"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PUBKEY"
    assert (await stack.api.balance(npub))["balance"] == 100


async def test_receive_between_two_wallets(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(receiver)
    token = (await _send(stack, npub, {"amount": 100})).json()["encodedToken"]
    response = await _receive(stack, receiver, token)
    body = response.json()
    assert response.status_code == 200
    assert body["tokenAmount"] == 100
    assert body["totalAmount"] == 100 - body["fee"]
    assert (await stack.api.balance(receiver))["balance"] == body["totalAmount"]


async def test_receive_marks_local_sent_token_spent(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(receiver)
    sent = (await _send(stack, npub, {"amount": 100})).json()
    await _receive(stack, receiver, sent["encodedToken"])
    entry = next(e for e in await stack.api.history(npub) if e["transaction_id"] == sent["transactionId"])
    assert entry["status"] == "spent"
    assert (await stack.api.balance(npub))["details"]["pendingSendBalance"] == 0


async def test_receive_twice_is_rejected_and_changes_nothing(stack, npub):
    first, second = make_npub(), make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(first)
    await stack.api.create(second)
    token = (await _send(stack, npub, {"amount": 100})).json()["encodedToken"]
    assert (await _receive(stack, first, token)).status_code == 200
    response = await _receive(stack, second, token)
    assert response.status_code == 409
    assert response.json()["code"] == "TOKEN_ALREADY_SPENT"
    assert (await stack.api.balance(second))["balance"] == 0
    assert await stack.api.history(second) == []


async def test_reclaim_returns_unredeemed_token(stack, npub):
    await stack.api.fund(npub, 1000)
    sent = (await _send(stack, npub, {"amount": 100})).json()
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send/{sent['transactionId']}/reclaim")
    body = response.json()
    assert response.status_code == 200
    assert body["reclaimedTransactionId"] == sent["transactionId"]
    balance = (await stack.api.balance(npub))["details"]
    assert balance["unspentBalance"] == 1000 - sent["feesPaid"] - body["fee"]
    assert balance["pendingSendBalance"] == 0


async def test_reclaim_after_redeem_is_rejected(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(receiver)
    sent = (await _send(stack, npub, {"amount": 100})).json()
    await _receive(stack, receiver, sent["encodedToken"])
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send/{sent['transactionId']}/reclaim")
    assert response.status_code == 409
    assert response.json()["code"] == "TOKEN_ALREADY_SPENT"


async def test_reclaimed_token_cannot_be_received(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(receiver)
    sent = (await _send(stack, npub, {"amount": 100})).json()
    await stack.api.call("POST", f"/api/wallet/{npub}/send/{sent['transactionId']}/reclaim")
    response = await _receive(stack, receiver, sent["encodedToken"])
    assert response.status_code == 409
    assert (await stack.api.balance(receiver))["balance"] == 0


async def test_receive_retry_names_first_result(stack, npub):
    receiver = make_npub()
    await stack.api.fund(npub, 1000)
    await stack.api.create(receiver)
    token = (await _send(stack, npub, {"amount": 100})).json()["encodedToken"]
    first = (await _receive(stack, receiver, token)).json()
    response = await _receive(stack, receiver, token)
    body = response.json()
    assert response.status_code == 409
    assert body["code"] == "TOKEN_ALREADY_RECEIVED"
    assert body["transactionId"] == first["transactionId"]
    assert body["totalAmount"] == first["totalAmount"]
    assert (await stack.api.balance(receiver))["balance"] == first["totalAmount"]


async def test_send_retry_with_key_returns_same_token(stack, npub):
    await stack.api.fund(npub, 1000)
    headers = {"Idempotency-Key": "send-retry-1"}
    first = (await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 100}, headers)).json()
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 100}, headers)
    body = response.json()
    assert response.status_code == 200
    assert body["replayed"] is True
    assert body["encodedToken"] == first["encodedToken"]
    assert (await stack.api.balance(npub))["details"]["pendingSendBalance"] == 100


async def test_send_key_reused_for_other_amount_is_409(stack, npub):
    await stack.api.fund(npub, 1000)
    headers = {"Idempotency-Key": "send-retry-2"}
    await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 100}, headers)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 200}, headers)
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await stack.api.balance(npub))["details"]["pendingSendBalance"] == 100
