"""Liveness, readiness, health and the OpenAPI document."""

from __future__ import annotations


async def test_livez(stack):
    response = await stack.api.call("GET", "/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_schema(stack):
    response = await stack.api.call("GET", "/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["databaseLatencyMs"] >= 0


async def test_system_health_shape(stack):
    body = (await stack.api.call("GET", "/api/wallet/system/health")).json()
    assert body["health"]["status"] in {"healthy", "warning", "critical"}
    assert set(body["runtime"]["melt"]) == {"attempts", "successes", "failures", "successRate"}


async def test_health_probe_is_200_unless_critical(stack):
    response = await stack.api.call("GET", "/health")
    assert response.json()["health"]["status"] != "critical"
    assert response.status_code == 200


async def test_health_probe_matches_system_health(stack):
    probe = (await stack.api.call("GET", "/health")).json()
    system = (await stack.api.call("GET", "/api/wallet/system/health")).json()
    assert set(probe) == set(system)
    assert set(probe["checks"]) == set(system["checks"])


async def test_openapi_lists_wallet_paths(stack):
    paths = (await stack.api.call("GET", "/openapi.json")).json()["paths"]
    for path in ("/api/wallet/create", "/api/wallet/{npub}/melt", "/api/wallet/{npub}/transactions"):
        assert path in paths


async def test_openapi_lists_system_paths(stack):
    paths = (await stack.api.call("GET", "/openapi.json")).json()["paths"]
    for path in ("/api/wallet/system/health", "/api/wallet/system/diagnostics", "/api/wallet/system/check-alerts"):
        assert path in paths


async def test_metrics_exposes_melt_counters(stack):
    text = (await stack.api.call("GET", "/metrics")).text
    assert "melt_attempts_total" in text
    assert "melt_operation_duration_seconds_bucket" in text


async def test_metrics_uses_prometheus_text_format(stack):
    response = await stack.api.call("GET", "/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")


async def test_response_carries_request_id(stack):
    response = await stack.api.call("GET", "/livez")
    assert len(response.headers["x-request-id"]) == 16


async def test_malformed_request_id_is_replaced(stack):
    response = await stack.api.call("GET", "/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


async def test_metrics_offers_openmetrics_when_asked(stack):
    response = await stack.api.call(
        "GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
