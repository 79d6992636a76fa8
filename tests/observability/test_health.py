"""Health status from real signals: the database, the mint, the breaker, stuck operations, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio

from nctool.ops import breaker
from nctool.testing.db_faults import make_unreachable
from nctool.testing.lightning import make_invoice, make_npub

from .conftest import insert_operation


async def _health(api, path="/api/wallet/system/health"):  # type: ignore[no-untyped-def]
    response = await api.call("GET", path)
    return response.status_code, response.json()


async def test_health_has_runbook_fields(stack):
    _, body = await _health(stack.api)
    assert body["success"] is True
    assert body["health"]["status"] in {"healthy", "warning", "critical"}
    assert isinstance(body["health"]["timestamp"], str)
    assert isinstance(body["health"]["uptime"], int)
    assert body["health"]["version"]
    assert set(body["runtime"]["melt"]) == {"attempts", "successes", "failures", "successRate"}


async def test_health_counts_melts_since_start(paid_melt, stack):
    _, body = await _health(stack.api)
    assert body["runtime"]["melt"]["attempts"] >= 1
    assert body["runtime"]["melt"]["successes"] >= 1


async def test_fresh_service_is_healthy(idle_api):
    status, body = await _health(idle_api, "/health")
    assert status == 200
    assert body["health"]["status"] == "healthy"
    assert body["reasons"] == []


async def test_fresh_service_passes_every_check(idle_api):
    _, body = await _health(idle_api)
    statuses = {name: check["status"] for name, check in body["checks"].items()}
    assert statuses == dict.fromkeys(("database", "mint", "breaker", "stuckOperations", "meltFailureRate"), "healthy")


async def test_mint_down_is_critical(down_api):
    _, body = await _health(down_api)
    assert body["health"]["status"] == "critical"
    assert body["checks"]["mint"]["ok"] is False


async def test_mint_down_health_probe_is_503(down_api):
    status, _ = await _health(down_api, "/health")
    assert status == 503


async def test_system_health_stays_200_when_critical(down_api):
    status, _ = await _health(down_api)
    assert status == 200


async def test_breaker_makes_health_critical(idle_service, idle_api):
    await breaker.trip(idle_service.services, "health test", by="test")
    try:
        status, body = await _health(idle_api, "/health")
    finally:
        await breaker.resume(idle_service.services, by="test", reason="health test done")
    assert status == 503
    assert body["checks"]["breaker"]["meltsHalted"] is True
    assert body["health"]["status"] == "critical"


async def test_stuck_operation_makes_health_warning(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), state="melt_sent", age=timedelta(hours=2))
    status, body = await _health(quiet_api, "/health")
    assert status == 200
    assert body["health"]["status"] == "warning"
    assert body["checks"]["stuckOperations"]["count"] == 1


async def test_recent_operation_is_not_stuck(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), state="melt_sent", age=timedelta(minutes=10))
    _, body = await _health(quiet_api)
    assert body["checks"]["stuckOperations"]["count"] == 0


async def test_some_failed_melts_make_health_warning(quiet_service, quiet_api):
    npub = make_npub()
    for _ in range(9):
        await insert_operation(quiet_service, npub, state="completed", duration=timedelta(seconds=1))
    await insert_operation(quiet_service, npub, state="failed", duration=timedelta(seconds=1), error_code="NUT_20004")
    _, body = await _health(quiet_api)
    assert body["checks"]["meltFailureRate"]["failureRate"] == 10.0
    assert body["health"]["status"] == "warning"


async def test_caller_errors_do_not_count_as_failures(quiet_service, quiet_api):
    npub = make_npub()
    for _ in range(5):
        await insert_operation(quiet_service, npub, state="completed", duration=timedelta(seconds=1))
    for _ in range(5):
        await insert_operation(
            quiet_service, npub, state="failed", duration=timedelta(seconds=1), error_code="INSUFFICIENT_BALANCE"
        )
    _, body = await _health(quiet_api)
    assert body["checks"]["meltFailureRate"]["failed"] == 0
    assert body["health"]["status"] == "healthy"


async def test_few_melts_do_not_judge_failure_rate(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), state="failed", duration=timedelta(seconds=1))
    _, body = await _health(quiet_api)
    assert body["checks"]["meltFailureRate"]["status"] == "healthy"


async def test_failing_payments_make_health_critical(failing_stack):
    npub = make_npub()
    await failing_stack.api.fund(npub, 1000)
    for _ in range(5):
        response = await failing_stack.api.melt(npub, make_invoice(260))
        assert response.status_code == 502
    status, body = await _health(failing_stack.api, "/health")
    assert body["checks"]["meltFailureRate"]["status"] == "critical"
    assert body["health"]["status"] == "critical"
    assert status == 503


@pytest_asyncio.fixture
async def outage_api(quiet_service, quiet_api):  # type: ignore[no-untyped-def]
    """The quiet service after its database became unreachable, so no connection opens."""
    await make_unreachable(quiet_service.services.db)
    return quiet_api


async def test_database_outage_is_critical(outage_api):
    status, body = await _health(outage_api, "/health")
    assert status == 503
    assert body["checks"]["database"]["ok"] is False
    assert body["health"]["status"] == "critical"


async def test_database_outage_fails_readiness(outage_api):
    response = await outage_api.call("GET", "/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"


async def test_database_outage_in_diagnostics(outage_api):
    response = await outage_api.call("GET", "/api/wallet/system/diagnostics")
    body = response.json()
    assert response.status_code == 200
    assert body["database"]["status"] == "error"
    assert "recentErrors" not in body
