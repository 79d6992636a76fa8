"""`nctool ops report daily`: volume, success rates, errors and trend, durations, from the database."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from nctool.ops.report import daily_report, render_markdown
from nctool.store import audit
from nctool.store import operations as op_store
from nctool.store import wallets as wallet_store
from nctool.store.database import Database
from nctool.store.tables import audit_log, utcnow
from nctool.testing.lightning import make_npub

from .conftest import CommandResult, run_command

DAY = date(2025, 8, 7)
NCTOOL = [sys.executable, "-m", "nctool.cli.main"]


async def _journal(
    db: Database,
    created: datetime,
    state: str,
    *,
    kind: str = "melt",
    amount: int = 100,
    seconds: float | None = None,
    swap_after: float | None = None,
    error_code: str | None = None,
) -> None:
    async with db.transaction("test_insert") as conn:
        npub = make_npub()
        wallet = await wallet_store.insert_wallet(conn, npub, "http://127.0.0.1:1", "sat")
        assert wallet is not None
        operation_id = op_store.new_operation_id(kind)
        await op_store.insert_operation(
            conn,
            wallet,
            operation_id=operation_id,
            kind=kind,
            state=state,
            amount=amount,
            fees_paid=2 if state == "completed" else 0,
            error_code=error_code,
            created_at=created,
            updated_at=created,
            completed_at=created + timedelta(seconds=seconds) if seconds is not None else None,
        )
        if swap_after is not None:
            await audit.record(conn, "melt_swap_settled", operation_id=operation_id, npub=npub)
            await conn.execute(
                audit_log.update()
                .where(audit_log.c.operation_id == operation_id)
                .values(at=created + timedelta(seconds=swap_after))
            )


@pytest_asyncio.fixture(scope="module")
async def journal(new_database: Callable[[str], str]) -> AsyncIterator[tuple[Database, str]]:
    """A journal for DAY and the day before, written through the store."""
    url = new_database("report")
    db = Database(url)
    await db.migrate()
    noon = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=UTC)
    await _journal(db, noon, "completed", seconds=1.0)
    await _journal(db, noon + timedelta(minutes=1), "completed", seconds=2.0, swap_after=0.5)
    await _journal(db, noon + timedelta(minutes=2), "completed", seconds=3.0)
    await _journal(db, noon + timedelta(hours=2), "failed", seconds=1.0, error_code="LIGHTNING_PAYMENT_FAILED")
    await _journal(db, noon, "failed", seconds=0.1, error_code="INSUFFICIENT_BALANCE")
    await _journal(db, noon, "completed", kind="mint", amount=1000, seconds=30.0)
    for hour in range(3):
        await _journal(db, noon - timedelta(days=1, hours=hour), "failed", error_code="LIGHTNING_PAYMENT_FAILED")
    await _journal(db, noon + timedelta(days=1), "completed", seconds=9.0)
    yield db, url
    await db.dispose()


@pytest_asyncio.fixture(scope="module")
async def report(journal) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    db, _ = journal
    async with db.read() as conn:
        return await daily_report(conn, DAY, timedelta(hours=1))


async def test_report_counts_volume_per_kind(report):
    melt = report["volume"]["melt"]
    assert melt["operations"] == 5
    assert melt["completed"] == 3
    assert melt["failed"] == 2
    assert melt["amount"] == 300
    assert melt["fees"] == 6
    assert report["volume"]["mint"]["amount"] == 1000


async def test_report_success_rate_leaves_out_caller_errors(report):
    rates = report["successRates"]["melt"]
    assert rates["successRate"] == 75.0
    assert rates["callerErrors"] == 1
    assert rates["failed"] == 1


async def test_report_errors_compare_with_day_before(report):
    errors = report["errors"]
    assert errors["total"] == 2
    assert errors["previousDay"] == 3
    assert errors["trend"] == "down"


async def test_report_errors_by_code(report):
    by_code = {(e["kind"], e["code"]): e for e in report["errors"]["byCode"]}
    payment = by_code[("melt", "LIGHTNING_PAYMENT_FAILED")]
    assert payment["count"] == 1
    assert payment["previousDay"] == 3
    assert payment["change"] == -2


async def test_report_errors_by_hour(report):
    assert report["errors"]["byHour"][12] == 1
    assert report["errors"]["byHour"][14] == 1
    assert sum(report["errors"]["byHour"]) == 2


async def test_report_melt_percentiles(report):
    total = report["meltDurations"]["total"]
    assert total["count"] == 3
    assert total["p50Ms"] == 2000.0
    assert total["p95Ms"] == 3000.0


async def test_report_splits_melt_at_the_swap(report):
    assert report["meltDurations"]["swap"]["count"] == 1
    assert report["meltDurations"]["swap"]["p50Ms"] == 500.0
    assert report["meltDurations"]["payment"]["count"] == 3


async def test_report_counts_audit_actions(report):
    assert report["auditActions"] == {"melt_swap_settled": 1}


async def test_report_renders_markdown(report):
    text = render_markdown(report)
    assert text.startswith("# nctool daily report, 2025-08-07 (UTC)")
    assert "| melt | 5 | 3 | 2 | 0 | 0 | 300 | 6 | 75.0 % |" in text
    assert "| melt | LIGHTNING_PAYMENT_FAILED | 1 | 3 | -2 |" in text


async def _nctool(*args: str, env: dict[str, str]) -> CommandResult:
    return await run_command([*NCTOOL, *args], env=env)


async def test_report_command_prints_json(journal):
    _, url = journal
    result = await _nctool(
        "ops", "report", "daily", "--date", DAY.isoformat(), "--json", env={"NCTOOL_DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["volume"]["melt"]["operations"] == 5


async def test_report_command_reads_live_melts(paid_melt, stack):
    url = stack.svc.settings.database_url
    result = await _nctool(
        "ops", "report", "daily", "--date", utcnow().date().isoformat(), env={"NCTOOL_DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stderr
    assert "## Melt durations (ms)" in result.stdout
    assert "| melt |" in result.stdout


@pytest.mark.parametrize("value", ["2025-13-01", "2999-01-01"], ids=["malformed", "future"])
async def test_report_command_rejects_bad_date(value, new_database):
    result = await _nctool(
        "ops", "report", "daily", "--date", value, env={"NCTOOL_DATABASE_URL": new_database("bad_date")}
    )
    assert result.returncode == 2
    assert "--date" in result.stderr or "future" in result.stderr


async def test_report_command_on_empty_database_says_upgrade(new_database):
    result = await _nctool("ops", "report", "daily", env={"NCTOOL_DATABASE_URL": new_database("empty")})
    assert result.returncode == 1
    assert "nctool db upgrade" in result.stderr
