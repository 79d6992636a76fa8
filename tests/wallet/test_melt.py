"""The melt against a real Nutshell mint: paid, swapped, exact, failed, pending, ambiguous, raced."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from nctool.cashu.amounts import split_amount
from nctool.cashu.client import MintClient
from nctool.cashu.crypto import proof_y
from nctool.cashu.models import Proof
from nctool.store import operations as op_store
from nctool.store.tables import proofs
from nctool.testing.lightning import make_invoice
from nctool.wallet.outputs import blinded_messages, plan_outputs


async def _operation(stack, transaction_id):  # type: ignore[no-untyped-def]
    async with stack.svc.db.read() as conn:
        return await op_store.get_operation(conn, transaction_id)


async def test_melt_paid_with_fee_change(stack, npub):
    await stack.api.fund(npub, 1000)
    response = await stack.api.melt(npub, make_invoice(250))
    body = response.json()
    assert response.status_code == 200
    assert body["state"] == "paid"
    assert body["paidAmount"] == 250
    # 256 pays 250 + 3 sat fee reserve + 1 sat input fee directly; FakeWallet charges 1 sat,
    # so the change is the unused 2 sat of the reserve plus the 2 sat overshoot
    assert body["changeAmount"] == 4
    assert (await stack.api.balance(npub))["balance"] == 1000 - 250 - body["feesPaid"]


async def test_melt_fees_count_every_sat_that_left(stack, npub):
    await stack.api.fund(npub, 1000)
    body = (await stack.api.melt(npub, make_invoice(250))).json()
    # melt input fee 1 + Lightning fee 1
    assert body["feesPaid"] == 2
    assert (await stack.api.balance(npub))["balance"] == 748


async def test_melt_swap_fees_count_every_sat_that_left(stack, npub):
    await stack.api.fund(npub, 512)
    body = (await stack.api.melt(npub, make_invoice(100))).json()
    # swap input fee 1 + melt input fee 1 + Lightning fee 1
    assert body["feesPaid"] == 3
    assert (await stack.api.balance(npub))["balance"] == 512 - 103


async def test_melt_pays_small_overshoot_directly(stack, npub):
    await stack.api.fund(npub, 1000)  # proofs 8, 32, 64, 128, 256, 512
    swaps_before = stack.proxy.hits.get("/v1/swap", 0)
    body = (await stack.api.melt(npub, make_invoice(250))).json()
    assert body["state"] == "paid"
    assert stack.proxy.hits.get("/v1/swap", 0) == swaps_before
    operation = await _operation(stack, body["transactionId"])
    # 256 - 250 - 1 sat input fee leaves a 5 sat reserve, returned through ceil(log2(5)) = 3 blanks
    assert [o["role"] for o in operation.outputs] == ["change"] * 3


async def test_melt_swaps_first_when_selection_overshoots(stack, npub):
    await stack.api.fund(npub, 512)
    body = (await stack.api.melt(npub, make_invoice(100))).json()
    ids = {entry["transaction_id"] for entry in await stack.api.history(npub)}
    assert f"{body['transactionId']}_keep" in ids
    assert f"{body['transactionId']}_send" in ids
    assert stack.proxy.hits.get("/v1/swap", 0) >= 1


async def test_melt_exact_selection_skips_swap(stack, npub):
    await stack.api.fund(npub, 1000)  # proofs 8, 32, 64, 128, 256, 512
    swaps_before = stack.proxy.hits.get("/v1/swap", 0)
    # 260 sat + 3 sat fee reserve + 1 sat input fee for two proofs = 256 + 8
    body = (await stack.api.melt(npub, make_invoice(260))).json()
    assert body["state"] == "paid"
    assert stack.proxy.hits.get("/v1/swap", 0) == swaps_before
    operation = await _operation(stack, body["transactionId"])
    assert {o["role"] for o in operation.outputs} == {"change"}
    assert (await stack.api.balance(npub))["balance"] == 1000 - 260 - body["feesPaid"]


async def test_melt_history_entry_has_amount_and_fee(stack, npub):
    await stack.api.fund(npub, 1000)
    body = (await stack.api.melt(npub, make_invoice(100))).json()
    entry = next(e for e in await stack.api.history(npub) if e["transaction_id"] == body["transactionId"])
    assert entry["transaction_type"] == "melt"
    assert entry["status"] == "paid"
    assert entry["total_amount"] == 100
    assert entry["fee"] == body["feesPaid"]


async def test_melt_insufficient_balance_reserves_nothing(stack, npub):
    await stack.api.fund(npub, 100)
    response = await stack.api.melt(npub, make_invoice(500))
    body = response.json()
    assert response.status_code == 402
    assert body["code"] == "INSUFFICIENT_BALANCE"
    assert body["available"] == 100
    assert body["required"] > 500
    balance = await stack.api.balance(npub)
    assert balance["details"]["pendingBalance"] == 0
    assert balance["balance"] == 100


async def test_melt_failed_payment_releases_after_checkstate(failing_stack, npub):
    stack = failing_stack
    await stack.api.fund(npub, 1000)
    checks_before = stack.proxy.hits.get("/v1/checkstate", 0)
    response = await stack.api.melt(npub, make_invoice(260))
    body = response.json()
    assert response.status_code == 502
    assert body["code"] == "NUT_20004"
    assert body["fundsStatus"] == "released"
    # one checkstate for pre-flight, one to confirm the inputs are unspent before release
    assert stack.proxy.hits.get("/v1/checkstate", 0) - checks_before == 2
    balance = await stack.api.balance(npub)
    assert balance["details"]["pendingBalance"] == 0
    assert balance["balance"] == 1000


async def test_melt_failed_after_swap_keeps_only_swap_fee(failing_stack, npub):
    stack = failing_stack
    await stack.api.fund(npub, 1000)
    response = await stack.api.melt(npub, make_invoice(250))
    assert response.status_code == 502
    operation = await _operation(stack, response.json()["transactionId"])
    assert operation.state == "failed"
    assert (await stack.api.balance(npub))["balance"] == 1000 - operation.fees_paid


async def test_melt_pending_settled_later_by_worker(pending_stack, npub):
    stack = pending_stack
    await stack.api.fund(npub, 1000)
    response = await stack.api.melt(npub, make_invoice(250))
    body = response.json()
    assert response.status_code == 202
    assert body["state"] == "pending"
    assert (await stack.api.balance(npub))["details"]["pendingBalance"] > 0
    entry = await stack.api.wait_for(npub, body["transactionId"], "paid")
    assert entry["total_amount"] == 250
    balance = await stack.api.balance(npub)
    assert balance["details"]["pendingBalance"] == 0
    assert balance["balance"] == 1000 - 250 - entry["fee"]


async def test_melt_answer_lost_resolves_as_paid(stack, npub):
    await stack.api.fund(npub, 1000)
    stack.proxy.inject("/v1/melt/bolt11", "hang_after_forward", seconds=3.0)
    response = await stack.api.melt(npub, make_invoice(250))
    body = response.json()
    assert response.status_code == 504
    assert body["fundsStatus"] == "pending"
    assert (await stack.api.balance(npub))["details"]["pendingBalance"] > 0
    entry = await stack.api.wait_for(npub, body["transactionId"], "paid")
    operation = await _operation(stack, body["transactionId"])
    assert operation.change_amount == 4
    assert (await stack.api.balance(npub))["balance"] == 1000 - 250 - entry["fee"]


async def test_melt_mint_down_resolves_as_released(stack, npub):
    await stack.api.fund(npub, 1000)
    stack.proxy.inject("/v1/melt/bolt11", "refuse")
    response = await stack.api.melt(npub, make_invoice(260))
    body = response.json()
    assert response.status_code == 502
    assert body["fundsStatus"] == "pending"
    entry = await stack.api.wait_for(npub, body["transactionId"], "failed")
    assert entry["fee"] == 0
    assert (await stack.api.balance(npub))["balance"] == 1000


async def test_melt_preflight_finds_proof_spent_elsewhere(stack, npub):
    await stack.api.fund(npub, 1000)
    await _spend_elsewhere(stack, npub, amount=256)  # the proof a 250 sat payment selects
    response = await stack.api.melt(npub, make_invoice(250))
    body = response.json()
    assert response.status_code == 409
    assert body["code"] == "HIGH_SEVERITY_DISCREPANCIES"
    assert body["discrepancies"][0]["type"] == "DB_UNSPENT_MINT_SPENT"
    assert "secret" not in response.text
    assert (await stack.api.balance(npub))["balance"] == 1000 - 256


async def test_melt_after_preflight_block_succeeds(stack, npub):
    await stack.api.fund(npub, 1000)
    await _spend_elsewhere(stack, npub, amount=256)
    assert (await stack.api.melt(npub, make_invoice(250))).status_code == 409
    retry = await stack.api.melt(npub, make_invoice(250))
    assert retry.status_code == 200


async def _spend_elsewhere(stack, npub, amount):  # type: ignore[no-untyped-def]
    """Redeem one of the wallet's proofs at the mint behind nctool's back, as a leaked copy would be."""
    async with stack.svc.db.read() as conn:
        row = (
            await conn.execute(
                select(proofs)
                .where(proofs.c.amount == amount, proofs.c.state == "unspent")
                .order_by(proofs.c.id.desc())
            )
        ).first()
    client = MintClient(stack.mint.url)
    try:
        keysets = [k for k in await client.keysets() if k.active]
        outputs = plan_outputs(split_amount(amount - 1), keysets[0].id, "elsewhere")
        spent = Proof(id=row.keyset_id, amount=row.amount, secret=row.secret, C=row.C)
        assert proof_y(spent.secret) == row.Y
        await client.swap([spent], blinded_messages(outputs))
    finally:
        await client.aclose()


async def test_concurrent_melts_never_share_a_proof(stack, npub):
    await stack.api.fund(npub, 1000)
    responses = await asyncio.gather(*(stack.api.melt(npub, make_invoice(150)) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 402, 409}
    assert statuses.count(200) >= 3
    ids = [r.json()["transactionId"] for r in responses if r.status_code == 200]
    inputs = [y for i in ids for y in (await _operation(stack, i)).input_ys]
    assert len(inputs) == len(set(inputs))


async def test_same_invoice_twice_is_rejected(stack, npub):
    await stack.api.fund(npub, 1000)
    invoice = make_invoice(100)
    first = await stack.api.melt(npub, invoice)
    second = await stack.api.melt(npub, invoice)
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "INVOICE_ALREADY_PAID"
    assert (await stack.api.balance(npub))["balance"] == 1000 - 100 - first.json()["feesPaid"]


async def test_same_invoice_concurrently_pays_once(stack, npub):
    await stack.api.fund(npub, 1000)
    invoice = make_invoice(100)
    responses = await asyncio.gather(stack.api.melt(npub, invoice), stack.api.melt(npub, invoice))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409]


async def test_idempotent_replay_returns_first_result(stack, npub):
    await stack.api.fund(npub, 1000)
    invoice = make_invoice(100)
    first = await stack.api.melt(npub, invoice, key="pay-order-17")
    replay = await stack.api.melt(npub, invoice, key="pay-order-17")
    assert replay.status_code == 200
    assert replay.json()["transactionId"] == first.json()["transactionId"]
    assert replay.json()["replayed"] is True
    assert (await stack.api.balance(npub))["balance"] == 1000 - 100 - first.json()["feesPaid"]


async def test_idempotency_key_reused_for_other_invoice(stack, npub):
    await stack.api.fund(npub, 1000)
    await stack.api.melt(npub, make_invoice(100), key="pay-order-18")
    response = await stack.api.melt(npub, make_invoice(120), key="pay-order-18")
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
