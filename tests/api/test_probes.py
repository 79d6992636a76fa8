"""Liveness, readiness, health and the OpenAPI document."""

from __future__ import annotations


async def test_livez(stack):
    response = await stack.api.call("GET", "/livez")
    assert response.status_code == 200


async def test_readyz_checks_database_and_schema(stack):
    response = await stack.api.call("GET", "/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_system_health_shape(stack):
    body = (await stack.api.call("GET", "/api/wallet/system/health")).json()
    assert body["health"]["status"] in {"healthy", "warning", "critical"}
    assert set(body["runtime"]["melt"]) == {"attempts", "successes", "failures", "successRate"}


async def test_openapi_lists_wallet_paths(stack):
    paths = (await stack.api.call("GET", "/openapi.json")).json()["paths"]
    for path in ("/api/wallet/create", "/api/wallet/{npub}/melt", "/api/wallet/{npub}/transactions"):
        assert path in paths


async def test_metrics_exposes_melt_counters(stack):
    text = (await stack.api.call("GET", "/metrics")).text
    assert "melt_attempts_total" in text
    assert "melt_operation_duration_seconds_bucket" in text
