"""Log lines the runbook greps for carry their fields; no line carries a proof secret."""

from __future__ import annotations

import json

from sqlalchemy import select

from nctool.store.tables import proofs, wallets
from nctool.testing.lightning import make_invoice


def _lines(log_file, message):  # type: ignore[no-untyped-def]
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    return [e for e in entries if e["message"] == message]


async def test_melt_success_line_has_runbook_fields(stack, npub, log_file):
    await stack.api.fund(npub, 500)
    body = (await stack.api.melt(npub, make_invoice(100))).json()
    line = next(
        e
        for e in _lines(log_file, "Enhanced melt tokens operation completed successfully")
        if e["transactionId"] == body["transactionId"]
    )
    assert line["npub"] == npub
    assert isinstance(line["operationDuration"], int)
    assert line["quoteId"] == body["quoteId"]
    assert line["level"] == "info"
    assert "timestamp" in line


async def test_balance_line_has_runbook_fields(stack, npub, log_file):
    await stack.api.fund(npub, 200)
    await stack.api.balance(npub)
    line = [e for e in _lines(log_file, "Balance calculation") if e["npub"] == npub][-1]
    assert line["unspent_balance"] == 200
    assert line["pending_balance"] == 0
    assert line["total_balance"] == 200
    assert "spent_balance" in line


async def test_proof_state_check_line_has_counts(stack, npub, log_file):
    await stack.api.fund(npub, 200)
    await stack.api.call("GET", f"/api/wallet/{npub}/proofs/status")
    line = [e for e in _lines(log_file, "Mint proof state check") if e["npub"] == npub][-1]
    assert line["mintStates"] == {"UNSPENT": 3}
    assert line["dbStates"] == {"unspent": 3}


async def test_no_proof_secret_in_logs(stack, npub, log_file):
    await stack.api.fund(npub, 300)
    await stack.api.melt(npub, make_invoice(100))
    async with stack.svc.db.read() as conn:
        secrets = [row[0] for row in (await conn.execute(select(proofs.c.secret))).all()]
    text = log_file.read_text()
    assert secrets
    assert [s for s in secrets if s in text] == []


async def test_wallet_seed_never_leaves_the_database(stack, npub, log_file):
    await stack.api.fund(npub, 300)
    await stack.api.melt(npub, make_invoice(100))
    async with stack.svc.db.read() as conn:
        seed = (await conn.execute(select(wallets.c.seed).where(wallets.c.npub == npub))).scalar_one()
    info = await stack.api.call("GET", f"/api/wallet/{npub}/info")
    history = await stack.api.call("GET", f"/api/wallet/{npub}/transactions")
    assert len(seed) == 128
    assert seed not in log_file.read_text()
    assert seed not in info.text
    assert seed not in history.text
