"""Log lines the runbook greps for carry their fields; no line carries a proof secret."""

from __future__ import annotations

import json
import sys

from sqlalchemy import select

from nctool.ops.mintcheck import connectivity_test
from nctool.store.tables import proofs, wallets
from nctool.testing.lightning import make_invoice

from .conftest import run_command


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


async def test_preflight_block_line_has_runbook_fields(blocked_melt, log_file):
    line = [e for e in _lines(log_file, "Pre-flight reconciliation BLOCKED") if e["npub"] == blocked_melt.npub][-1]
    assert line["transactionId"] == blocked_melt.body["transactionId"]
    assert line["discrepancies"][0]["type"] == "DB_UNSPENT_MINT_SPENT"
    assert line["reconciliationResult"]["blocked"] is True


async def test_high_severity_line_lists_discrepancies(blocked_melt, log_file):
    line = [e for e in _lines(log_file, "HIGH severity discrepancies detected") if e["npub"] == blocked_melt.npub][-1]
    assert [d["severity"] for d in line["discrepancies"]] == ["HIGH"]
    assert line["discrepancies"][0]["type"] == "DB_UNSPENT_MINT_SPENT"
    assert "Y" in line["discrepancies"][0]


async def test_critical_line_has_runbook_fields(critical_melt, log_file):
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    line = next(
        e
        for e in entries
        if e["message"].startswith("CRITICAL:") and e.get("transactionId") == critical_melt.body["transactionId"]
    )
    assert line["code"] == "CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS"
    assert line["severity"] == "CRITICAL"
    assert line["requiresManualIntervention"] is False
    assert line["quoteId"] == critical_melt.body["quoteId"]
    assert line["npub"] == critical_melt.npub
    assert line["level"] == "critical"
    assert "error" in line


async def test_atomic_failure_line_has_runbook_fields(critical_melt, log_file):
    line = next(
        e
        for e in _lines(log_file, "Atomic melt transaction failed")
        if e["transaction_id"] == critical_melt.body["transactionId"]
    )
    assert "settlement rejected" in line["error"]
    assert isinstance(line["source_token_ids"], list)


async def test_mint_connectivity_line_has_durations(stack, log_file):
    report = await connectivity_test(stack.svc.settings.mint_url, client=stack.svc.mint)
    line = [e for e in _lines(log_file, "Mint connectivity test") if e["timestamp"] >= report.timestamp[:19]][-1]
    assert isinstance(line["tests"]["mintInfo"]["duration"], float)
    assert isinstance(line["tests"]["cashuLibrary"]["duration"], float)
    assert isinstance(line["tests"]["checkstate"]["duration"], float)
    assert line["ok"] is True


async def test_request_line_has_route_status_and_duration(stack, npub, log_file):
    await stack.api.create(npub)
    response = await stack.api.call("GET", f"/api/wallet/{npub}/balance", headers={"X-Request-ID": "req-balance-1"})
    line = [e for e in _lines(log_file, "HTTP request") if e["requestId"] == "req-balance-1"][-1]
    assert response.headers["x-request-id"] == "req-balance-1"
    assert line["route"] == "/api/wallet/*/balance"
    assert line["status"] == 200
    assert line["npub"] == npub
    assert isinstance(line["durationMs"], float)


async def test_request_id_bound_to_melt_line(paid_melt, log_file):
    request_id = paid_melt.response.headers["x-request-id"]
    line = next(
        e
        for e in _lines(log_file, "Enhanced melt tokens operation completed successfully")
        if e["transactionId"] == paid_melt.body["transactionId"]
    )
    assert line["requestId"] == request_id


# The runbook's log queries (grep pattern, jq filter), run on nctool's JSON log file in place of
# /var/log/app.log. Once the scenarios have run, each returns every field it selects.
RUNBOOK_QUERIES = [
    ("Enhanced melt tokens operation completed successfully", "[.npub, .transactionId, .operationDuration]"),
    ("CRITICAL:", "[.timestamp, .error, .severity, .requiresManualIntervention]"),
    ("CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS", "[.quoteId, .transactionId, .npub]"),
    ("Pre-flight reconciliation BLOCKED", "[.npub, .discrepancies, .reconciliationResult]"),
    ("HIGH severity discrepancies detected", '[.discrepancies[] | select(.severity == "HIGH")]'),
    ("Mint proof state check", "[.mintStates, .dbStates]"),
    ("Atomic melt transaction failed", "[.error, .transaction_id, .source_token_ids]"),
    ("Balance calculation", "[.npub, .unspent_balance, .spent_balance, .total_balance]"),
    ("Mint connectivity test", "[.tests.mintInfo.duration, .tests.cashuLibrary.duration]"),
    ("operationDuration", "[.operationDuration]"),
]


async def test_runbook_log_queries_return_fields(paid_melt, blocked_melt, critical_melt, stack, log_file):
    await connectivity_test(stack.svc.settings.mint_url, client=stack.svc.mint)
    lines = log_file.read_text().splitlines(keepends=True)
    for pattern, query in RUNBOOK_QUERIES:
        matching = "".join(line for line in lines if pattern in line)
        result = await run_command(["jq", "-c", query], stdin=matching)
        rows = [json.loads(row) for row in result.stdout.splitlines()]
        assert result.returncode == 0, f"{pattern}: {result.stderr}"
        assert [row for row in rows if row and all(value is not None for value in row)], pattern


async def test_sighup_reopens_log_file(tmp_path):
    path = tmp_path / "nctool.jsonl"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from nctool.observability.logging import configure_logging, get_logger\n"
        f"path = Path({str(path)!r})\n"
        "configure_logging('INFO', path, stream=open(os.devnull, 'w'))\n"
        "get_logger().info('before rotation')\n"
        "path.rename(path.with_suffix('.1'))\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "get_logger().info('after rotation')\n"
    )
    result = await run_command([sys.executable, "-c", script])
    assert result.returncode == 0, result.stderr
    rotated = [json.loads(line)["message"] for line in path.with_suffix(".1").read_text().splitlines()]
    current = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert rotated == ["before rotation"]
    assert current == ["after rotation"]
