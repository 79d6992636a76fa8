"""Interrupted sends and receives finish from the journal: lost swap responses and killed processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nctool.cashu.tokens import decode_token
from nctool.config import Settings
from nctool.faults import CRASH_EXIT_CODE
from nctool.ops.reconcile import reconcile
from nctool.store import operations as op_store
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_npub
from nctool.testing.process import start_process
from nctool.wallet.outputs import blinded_messages, plan_outputs
from nctool.wallet.services import Services


async def _operation(svc, transaction_id):  # type: ignore[no-untyped-def]
    async with svc.db.read() as conn:
        return await op_store.get_operation(conn, transaction_id)


async def _final(svc, npub, kind, timeout=30.0):  # type: ignore[no-untyped-def]
    found = []
    for _ in range(int(timeout / 0.2)):
        async with svc.db.read() as conn:
            found = [o for o in await op_store.list_operations_by_npub(conn, npub) if o.kind == kind]
        if found and found[0].state in op_store.FINAL_STATES:
            return found[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{kind} not final after {timeout} s: {[(o.id, o.state) for o in found]}")


async def _send(api, npub, amount=100):  # type: ignore[no-untyped-def]
    return await api.call("POST", f"/api/wallet/{npub}/send", {"amount": amount})


async def test_lost_send_swap_answer_returns_proofs(stack, npub):
    await stack.api.fund(npub, 1000)
    stack.proxy.inject("/v1/swap", "hang_after_forward", seconds=3.0)
    response = await _send(stack.api, npub)
    body = response.json()
    assert response.status_code == 504
    assert body["fundsStatus"] == "pending"
    operation = await _final(stack.svc, npub, "send")
    assert operation.state == "failed"
    assert operation.error_code == "INTERRUPTED"
    balance = (await stack.api.balance(npub))["details"]
    assert balance["unspentBalance"] == 1000 - operation.fees_paid
    assert balance["pendingBalance"] == 0
    assert balance["pendingSendBalance"] == 0


async def test_lost_locked_send_swap_answer_keeps_token_readable(stack, npub):
    owner = make_npub()
    pub = (await stack.api.create(owner)).json()["walletDetails"]["p2pkPub"]
    await stack.api.fund(npub, 1000)
    stack.proxy.inject("/v1/swap", "hang_after_forward", seconds=3.0)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": 100, "recipientPubkey": pub})
    assert response.status_code == 504
    operation = await _final(stack.svc, npub, "send")
    assert operation.state == "completed"
    again = await stack.api.call("GET", f"/api/wallet/{npub}/send/{operation.id}")
    assert again.status_code == 200
    received = await stack.api.call(
        "POST", f"/api/wallet/{owner}/receive", {"encodedToken": again.json()["encodedToken"]}
    )
    assert received.status_code == 200
    assert received.json()["tokenAmount"] == 100


async def test_lost_receive_swap_answer_credited_by_recovery(stack, npub):
    receiver = make_npub()
    await stack.api.create(receiver)
    await stack.api.fund(npub, 1000)
    token = (await _send(stack.api, npub)).json()["encodedToken"]
    restores_before = stack.proxy.hits.get("/v1/restore", 0)
    stack.proxy.inject("/v1/swap", "hang_after_forward", seconds=3.0)
    response = await stack.api.call("POST", f"/api/wallet/{receiver}/receive", {"encodedToken": token})
    assert response.status_code == 504
    assert response.json()["fundsStatus"] == "pending"
    operation = await _final(stack.svc, receiver, "receive")
    assert operation.state == "completed"
    assert stack.proxy.hits.get("/v1/restore", 0) > restores_before
    assert (await stack.api.balance(receiver))["balance"] == operation.change_amount
    assert operation.change_amount == 100 - operation.details["fee"]


async def test_receive_race_lost_to_other_wallet_is_409(stack, npub):
    first, second = make_npub(), make_npub()
    await stack.api.create(first)
    await stack.api.create(second)
    await stack.api.fund(npub, 1000)
    token = (await _send(stack.api, npub)).json()["encodedToken"]
    results = await asyncio.gather(
        stack.api.call("POST", f"/api/wallet/{first}/receive", {"encodedToken": token}),
        stack.api.call("POST", f"/api/wallet/{second}/receive", {"encodedToken": token}),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409]
    total = (await stack.api.balance(first))["balance"] + (await stack.api.balance(second))["balance"]
    assert total == 99


async def test_sweep_marks_redeemed_sent_token_spent(stack, npub):
    await stack.api.fund(npub, 1000)
    sent = (await _send(stack.api, npub)).json()
    # Redeem through the mint directly, outside this service: only the sweep can notice.
    token = decode_token(sent["encodedToken"])
    keyset = await stack.svc.keysets.active("sat")
    outputs = plan_outputs([64, 32, 2, 1], keyset.id, "receive")  # 100 less the input fee of 1
    await stack.svc.mint.swap(token.proofs, blinded_messages(outputs))
    report = await reconcile(stack.svc, npub=npub)
    assert report.actions["send_redeemed"] == len(token.proofs)
    entry = next(e for e in await stack.api.history(npub) if e["transaction_id"] == sent["transactionId"])
    assert entry["status"] == "spent"
    assert (await stack.api.balance(npub))["details"]["pendingSendBalance"] == 0


# crash point -> final state of the operation
SEND_CRASHES = [
    ("send.after_reserve", "failed"),
    ("send.before_swap", "failed"),
    ("send.after_swap_answer", "failed"),
]


@pytest.mark.parametrize(("point", "final_state"), SEND_CRASHES)
async def test_send_crash_recovers(stack, npub, tmp_path, point, final_state):
    database = f"sqlite:///{tmp_path}/crash.db"
    first = await start_process(stack.mint.url, database, tmp_path, NCTOOL_CRASH_AT=point)
    api = ApiClient(first.url)
    try:
        await api.fund(npub, 1000)
        with pytest.raises(httpx.TransportError):
            await _send(api, npub)
        assert await first.exited() == CRASH_EXIT_CODE
    finally:
        await api.aclose()
        first.kill()

    second = await start_process(stack.mint.url, database, tmp_path)
    svc = Services.create(Settings(database_url=database, mint_url=stack.mint.url))
    try:
        operation = await _final(svc, npub, "send")
        assert operation.state == final_state
        balance = (await ApiClient(second.url).balance(npub))["details"]
        assert balance["pendingBalance"] == 0
        assert balance["pendingSendBalance"] == 0
        assert balance["unspentBalance"] == 1000 - operation.fees_paid
        assert await ledger_problems(svc) == []
    finally:
        await svc.close()
        second.kill()


RECEIVE_CRASHES = [
    ("receive.before_swap", "failed"),
    ("receive.after_swap_answer", "completed"),
]


@pytest.mark.parametrize(("point", "final_state"), RECEIVE_CRASHES)
async def test_receive_crash_recovers(stack, npub, tmp_path, point, final_state):
    receiver = make_npub()
    database = f"sqlite:///{tmp_path}/crash.db"
    first = await start_process(stack.mint.url, database, tmp_path, NCTOOL_CRASH_AT=point)
    api = ApiClient(first.url)
    try:
        await api.fund(npub, 1000)
        await api.create(receiver)
        token = (await _send(api, npub)).json()["encodedToken"]
        with pytest.raises(httpx.TransportError):
            await api.call("POST", f"/api/wallet/{receiver}/receive", {"encodedToken": token})
        assert await first.exited() == CRASH_EXIT_CODE
    finally:
        await api.aclose()
        first.kill()

    second = await start_process(stack.mint.url, database, tmp_path)
    svc = Services.create(Settings(database_url=database, mint_url=stack.mint.url))
    api = ApiClient(second.url)
    try:
        operation = await _final(svc, receiver, "receive")
        assert operation.state == final_state
        credited = (await api.balance(receiver))["balance"]
        if final_state == "completed":
            assert credited == 100 - operation.details["fee"]
        else:
            # The swap never happened: the token is still good, and a retry redeems it.
            assert credited == 0
            retry = await api.call("POST", f"/api/wallet/{receiver}/receive", {"encodedToken": token})
            assert retry.status_code == 200
        assert await ledger_problems(svc) == []
    finally:
        await api.aclose()
        await svc.close()
        second.kill()
