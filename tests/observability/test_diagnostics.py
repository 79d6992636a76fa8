"""Diagnostics: database, mint timings, recent errors from the database, percentiles, resources."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest_asyncio

from nctool.ops.database_stats import SLOW_QUERY_SECONDS
from nctool.testing.databases import selected_engine


@pytest_asyncio.fixture(scope="session")
async def diagnostics(paid_melt, blocked_melt, stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await stack.api.call("GET", "/api/wallet/system/diagnostics")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_diagnostics_reports_database(diagnostics):
    database = diagnostics["database"]
    assert database["status"] == "ok"
    assert database["dialect"] == selected_engine()
    assert database["latencyMs"] >= 0
    assert database["schemaCurrent"] is True


async def test_diagnostics_reports_pool(diagnostics, stack):
    pool = diagnostics["database"]["pool"]
    if selected_engine() != "postgresql":
        assert pool == {"size": None, "maxConnections": None, "utilization": 0.0, "statementTimeoutSeconds": None}
        return
    assert pool["size"] == stack.svc.settings.db_pool_size
    assert pool["maxConnections"] == stack.svc.settings.db_pool_size + stack.svc.settings.db_max_overflow
    assert 0 <= pool["utilization"] <= 1
    assert pool["statementTimeoutSeconds"] == stack.svc.settings.db_statement_timeout_seconds


async def test_diagnostics_reports_cache_hits_on_postgresql(diagnostics):
    database = diagnostics["database"]
    if selected_engine() != "postgresql":
        assert "indexHitRatio" not in database  # SQLite keeps no cache statistics
        return
    assert 0 < database["indexHitRatio"] <= 1
    assert 0 < database["tableHitRatio"] <= 1


async def test_diagnostics_lists_running_slow_query(stack):
    if selected_engine() != "postgresql":
        response = await stack.api.call("GET", "/api/wallet/system/diagnostics")
        assert "slowQueries" not in response.json()["database"]  # SQLite cannot list running statements
        return
    async with stack.svc.db.engine.connect() as conn:
        sleeper = asyncio.create_task(conn.exec_driver_sql("SELECT pg_sleep(2.5)"))
        await asyncio.sleep(SLOW_QUERY_SECONDS + 0.5)
        response = await stack.api.call("GET", "/api/wallet/system/diagnostics")
        await sleeper
    slow = response.json()["database"]["slowQueries"]
    assert slow["thresholdSeconds"] == SLOW_QUERY_SECONDS
    listed = [q for q in slow["running"] if "pg_sleep" in q["query"]]
    assert len(listed) == 1
    assert listed[0]["seconds"] > SLOW_QUERY_SECONDS


async def test_diagnostics_times_each_mint_endpoint(diagnostics):
    tests = diagnostics["mint"]["tests"]
    assert set(tests) == {"mintInfo", "cashuLibrary", "checkstate"}
    assert all(test["ok"] for test in tests.values())
    assert all(test["duration"] > 0 for test in tests.values())


async def test_diagnostics_summarizes_recent_errors(diagnostics, blocked_melt):
    codes = {entry["code"]: entry for entry in diagnostics["recentErrors"]["byCode"]}
    entry = codes["HIGH_SEVERITY_DISCREPANCIES"]
    assert entry["kind"] == "melt"
    assert entry["count"] >= 1
    assert entry["lastMessage"]


async def test_diagnostics_reports_melt_percentiles(diagnostics):
    melts = diagnostics["performance"]["meltsFromDatabase"]
    assert melts["count"] >= 1
    assert 0 < melts["p50Ms"] <= melts["p95Ms"] <= melts["maxMs"]


async def test_diagnostics_reports_stage_percentiles(diagnostics):
    stage = diagnostics["performance"]["sinceStart"]["stages"]["mint"]
    assert stage["count"] >= 1
    assert stage["p95Ms"] > 0


async def test_diagnostics_reports_resources(diagnostics):
    resources = diagnostics["resources"]
    assert resources["rssBytes"] > 0
    assert resources["openFiles"] > 0
    assert resources["connections"]["established"] >= 1
    assert resources["uptimeSeconds"] >= 0


async def test_diagnostics_lists_open_operations(diagnostics):
    assert diagnostics["operations"]["stuckThresholdSeconds"] == 3600
    assert isinstance(diagnostics["operations"]["open"], dict)


async def test_diagnostics_on_mint_down_reports_failed_tests(down_api):
    response = await down_api.call("GET", "/api/wallet/system/diagnostics")
    body = response.json()
    assert response.status_code == 200
    assert body["mint"]["ok"] is False
    assert body["mint"]["tests"]["mintInfo"]["ok"] is False
    assert body["database"]["status"] == "ok"
