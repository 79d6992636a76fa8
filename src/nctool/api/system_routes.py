"""Probes and system endpoints: /livez, /readyz, /health, /metrics and /api/wallet/system/*."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from nctool.errors import NctoolError
from nctool.observability.logging import get_logger
from nctool.ops import breaker
from nctool.ops.alerts import check_stuck_operations, export_stuck_gauge, stuck_after
from nctool.ops.diagnostics import diagnostics_report, health_report
from nctool.wallet.services import Services

log = get_logger()
router = APIRouter()

# One week: an operation open longer than that is stuck under any reasonable threshold.
MAX_THRESHOLD_MINUTES = 7 * 24 * 60


def _svc(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


@router.get("/livez")
async def livez() -> dict[str, Any]:
    """Return 200 while the process runs; liveness does no I/O."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Return 200 after a database round trip with the schema at the newest revision, else 503."""
    svc = _svc(request)
    try:
        latency = await svc.db.ping()
        current = await svc.db.schema_is_current()
    except Exception as exc:  # any driver error means not ready
        return JSONResponse(
            {"status": "unready", "database": f"unreachable: {exc.__class__.__name__}"}, status_code=503
        )
    if not current:
        return JSONResponse(
            {"status": "unready", "database": "schema behind; run `nctool db upgrade`"}, status_code=503
        )
    return JSONResponse({"status": "ready", "databaseLatencyMs": round(latency * 1000, 2)})


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    """Return Prometheus text or OpenMetrics, as the Accept header requests, after refreshing database gauges."""
    svc = _svc(request)
    try:
        await export_stuck_gauge(svc)
        await breaker.halted_reason(svc)
    except NctoolError as exc:
        log.warning("Gauges read from the database not refreshed", error=exc.message)
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(REGISTRY), headers={"Content-Type": content_type})


@router.get("/api/wallet/system/health")
async def system_health(request: Request) -> dict[str, Any]:
    """Return the health report with status 200, so that callers read the status from the body."""
    return await health_report(_svc(request))


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Return the same report as system/health, with status 503 when the health status is critical."""
    report = await health_report(_svc(request))
    return JSONResponse(report, status_code=503 if report["health"]["status"] == "critical" else 200)


@router.get("/api/wallet/system/diagnostics")
async def system_diagnostics(request: Request) -> dict[str, Any]:
    """Return database status, mint connectivity, recent errors, performance and resource use."""
    return await diagnostics_report(_svc(request))


@router.post("/api/wallet/system/check-alerts")
async def check_alerts(
    request: Request,
    threshold_minutes: int | None = Query(
        default=None,
        alias="thresholdMinutes",
        ge=1,
        le=MAX_THRESHOLD_MINUTES,
        description="minutes an operation may stay open before it counts as stuck (default NCTOOL_STUCK_AFTER_SECONDS)",
    ),
) -> dict[str, Any]:
    """Alert on operations that have not reached a final state within the threshold."""
    svc = _svc(request)
    after = timedelta(minutes=threshold_minutes) if threshold_minutes is not None else stuck_after(svc)
    return await check_stuck_operations(svc, after)
