"""The FastAPI application: builds services, migrates the schema, runs the worker and the mint monitor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

import nctool
from nctool.api.auth import PUBLIC_PATHS, ApiKeyLookup, authorize
from nctool.api.body_limit import BodySizeLimitMiddleware
from nctool.api.errors import install_error_handlers
from nctool.api.schemas import error_responses
from nctool.api.system_routes import router as system_router
from nctool.api.wallet_routes import router as wallet_router
from nctool.cashu.errors import MintError
from nctool.config import Settings, get_settings
from nctool.observability import metrics
from nctool.observability.http import HttpMetricsMiddleware
from nctool.observability.logging import get_logger
from nctool.ops.mintcheck import monitor_mint
from nctool.ops.worker import run_forever
from nctool.security.ratelimit import RateLimiter
from nctool.security.startup import check_serving_settings
from nctool.wallet.services import Services

log = get_logger()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_serving_settings(settings)
        if settings.auth_disabled:
            log.warning(
                "Authentication is disabled; every endpoint responds without credentials",
                host=settings.host,
                action="unset NCTOOL_AUTH_DISABLED outside local development",
            )
        svc = Services.create(settings)
        await svc.db.migrate()
        metrics.init_label_sets()
        try:
            await svc.keysets.refresh()
        except MintError as exc:
            log.warning("Mint not reachable at start; continuing", mintUrl=settings.mint_url, error=exc.message)
        app.state.services = svc
        if not settings.auth_disabled:
            await app.state.api_keys.load(svc)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_forever(svc, stop)) if settings.worker_enabled else None
        monitor = asyncio.create_task(monitor_mint(svc, stop))
        log.info(
            "nctool started",
            version=nctool.__version__,
            mintUrl=settings.mint_url,
            database=svc.db.dialect,
            host=settings.host,
            port=settings.port,
        )
        try:
            yield
        finally:
            stop.set()
            with suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(monitor, timeout=10)
            if worker is not None:
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(worker, timeout=10)
            await svc.close()
            log.info("nctool stopped")

    # `authorize` runs before every route handler and decides from the route's path template.
    app = FastAPI(title="nctool", version=nctool.__version__, lifespan=lifespan, dependencies=[Depends(authorize)])
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.api_keys = ApiKeyLookup()
    install_error_handlers(app)
    # Added first, so it runs inside the metrics middleware and 413s are counted.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(system_router)
    app.include_router(wallet_router)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """Build the OpenAPI document without FastAPI's default 422 (nctool returns 400), with the security schemes."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses.update(_schema_responses(error_responses(413)))
                if path not in PUBLIC_PATHS:
                    operation["security"] = [{"apiKey": []}, {"nip98": []}]
                    responses.update(_schema_responses(error_responses(401, 403, 429)))
        app.openapi_schema = schema
    return app.openapi_schema


SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key from `nctool admin api-key create`"},
    "nip98": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Nostr <base64 NIP-98 event>` signed by the wallet's npub (kind 27235, u, method, payload)",
    },
}


def _schema_responses(responses: dict[int | str, dict[str, object]]) -> dict[str, Any]:
    """Turn route-style error responses into OpenAPI response objects referring to ErrorBody."""
    return {
        str(status): {
            "description": spec["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for status, spec in responses.items()
    }
