"""Probes and system endpoints: /livez, /readyz, /health, /metrics, /api/wallet/system/health."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import func, select

import nctool
from nctool.observability import metrics
from nctool.store import operations as op_store
from nctool.store.tables import operations, utcnow
from nctool.wallet.services import Services

router = APIRouter()

STARTED = time.time()


def _svc(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


@router.get("/livez")
async def livez() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    svc = _svc(request)
    try:
        latency = await svc.db.ping()
        current = await svc.db.schema_is_current()
    except Exception as exc:
        return JSONResponse(
            {"status": "unready", "database": f"unreachable: {exc.__class__.__name__}"}, status_code=503
        )
    if not current:
        return JSONResponse(
            {"status": "unready", "database": "schema behind; run `nctool db upgrade`"}, status_code=503
        )
    return JSONResponse({"status": "ready", "databaseLatencyMs": round(latency * 1000, 2)})


@router.get("/metrics")
async def metrics_endpoint() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _counter_total(counter: Any) -> float:
    return float(sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")))


async def health_report(svc: Services) -> dict[str, Any]:
    attempts = _counter_total(metrics.MELT_ATTEMPTS)
    successes = _counter_total(metrics.MELT_SUCCESS)
    failures = _counter_total(metrics.MELT_FAILURES)
    async with svc.db.read() as conn:
        stuck = int(
            (
                await conn.execute(
                    select(func.count()).where(
                        operations.c.state.not_in(list(op_store.FINAL_STATES)),
                        operations.c.kind == "melt",
                        operations.c.created_at < utcnow().replace(microsecond=0) - _ONE_HOUR,
                    )
                )
            ).scalar_one()
        )
    mint_up = metrics.MINT_UP._value.get()  # read the gauge the mint client keeps
    status = "healthy"
    if stuck or mint_up == 0 or (attempts >= 10 and successes / attempts < 0.95):
        status = "warning"
    if metrics.MELTS_HALTED._value.get():
        status = "critical"
    return {
        "success": True,
        "health": {
            "status": status,
            "timestamp": utcnow().isoformat(),
            "uptime": round(time.time() - STARTED),
            "version": nctool.__version__,
        },
        "runtime": {
            "melt": {
                "attempts": int(attempts),
                "successes": int(successes),
                "failures": int(failures),
                "successRate": round(100.0 * successes / attempts, 2) if attempts else 100.0,
            }
        },
        "checks": {
            "stuckMeltOperations": stuck,
            "mintUp": bool(mint_up),
            "meltsHalted": bool(metrics.MELTS_HALTED._value.get()),
        },
    }


from datetime import timedelta  # noqa: E402

_ONE_HOUR = timedelta(hours=1)


@router.get("/api/wallet/system/health")
async def system_health(request: Request) -> dict[str, Any]:
    return await health_report(_svc(request))


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    report = await health_report(_svc(request))
    return JSONResponse(report, status_code=503 if report["health"]["status"] == "critical" else 200)
