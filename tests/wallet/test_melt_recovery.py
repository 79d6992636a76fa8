"""Interrupted melts finish from the journal: lost swap responses, a database failure after PAID."""

from __future__ import annotations

from nctool.observability import metrics
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.testing.db_faults import settlement_rejected
from nctool.testing.lightning import make_invoice


async def _operation(stack, transaction_id):  # type: ignore[no-untyped-def]
    async with stack.svc.db.read() as conn:
        return await op_store.get_operation(conn, transaction_id)


async def test_lost_swap_answer_restored_with_nut09(stack, npub):
    await stack.api.fund(npub, 512)
    restores_before = stack.proxy.hits.get("/v1/restore", 0)
    stack.proxy.inject("/v1/swap", "hang_after_forward", seconds=3.0)
    # The one 512 sat proof overshoots 100 sat by more than the payment, so the melt swaps first.
    response = await stack.api.melt(npub, make_invoice(100))
    body = response.json()
    assert response.status_code == 504
    assert body["fundsStatus"] == "pending"
    entry = await stack.api.wait_for(npub, body["transactionId"], "failed")
    assert stack.proxy.hits.get("/v1/restore", 0) > restores_before
    operation = await _operation(stack, body["transactionId"])
    assert operation.fees_paid == 1  # the swap's input fee; the payment itself was never sent
    assert entry["status"] == "failed"
    assert (await stack.api.balance(npub))["balance"] == 512 - 1


async def test_db_failure_after_paid_is_critical_then_recovered(stack, npub):
    await stack.api.fund(npub, 1000)
    critical_before = metrics.MELT_CRITICAL_ERRORS.labels(
        error_code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS"
    )._value.get()
    async with settlement_rejected(stack.svc.db, "fail_melt_settle"):
        response = await stack.api.melt(npub, make_invoice(250))
    body = response.json()
    assert response.status_code == 500
    assert body["code"] == "CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS"
    assert body["severity"] == "CRITICAL"
    assert body["requiresManualIntervention"] is False
    after = metrics.MELT_CRITICAL_ERRORS.labels(error_code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS")._value.get()
    # The worker may retry the settle once more before the trigger is dropped, counting it again.
    assert after >= critical_before + 1
    entry = await stack.api.wait_for(npub, body["transactionId"], "paid")
    assert (await stack.api.balance(npub))["balance"] == 1000 - 250 - entry["fee"]


async def test_interrupted_prepared_melt_rolls_back(stack, npub):
    await stack.api.fund(npub, 1000)
    svc = stack.svc
    async with svc.db.read() as conn:
        wallet = await wallet_store.get_wallet(conn, npub, svc.settings.mint_url, svc.settings.unit)
    async with svc.db.transaction("test_crash") as conn:
        candidates = await proof_store.unspent_proofs(conn, wallet.id)
        operation = await op_store.insert_operation(
            conn,
            wallet,
            operation_id=op_store.new_operation_id("melt"),
            kind="melt",
            state="prepared",
            quote_id="never-sent",
            amount=100,
            payment_hash="ab" * 32,
            input_ys=[candidates[0].Y],
        )
        assert await proof_store.reserve(conn, [candidates[0].id], operation.id)
    assert (await stack.api.balance(npub))["details"]["pendingBalance"] == candidates[0].amount
    entry = await stack.api.wait_for(npub, operation.id, "failed")
    assert entry["fee"] == 0
    assert (await stack.api.balance(npub))["balance"] == 1000
