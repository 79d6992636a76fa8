"""The FastAPI application: builds services, migrates the schema, runs the worker and the mint monitor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import nctool
from nctool.api.errors import install_error_handlers
from nctool.api.system_routes import router as system_router
from nctool.api.wallet_routes import router as wallet_router
from nctool.cashu.errors import MintError
from nctool.config import Settings, get_settings
from nctool.observability import metrics
from nctool.observability.http import HttpMetricsMiddleware
from nctool.observability.logging import get_logger
from nctool.ops.mintcheck import monitor_mint
from nctool.ops.worker import run_forever
from nctool.wallet.services import Services

log = get_logger()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Services.create(settings)
        await svc.db.migrate()
        metrics.init_label_sets()
        try:
            await svc.keysets.refresh()
        except MintError as exc:
            log.warning("Mint not reachable at start; continuing", mintUrl=settings.mint_url, error=exc.message)
        app.state.services = svc
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

    app = FastAPI(title="nctool", version=nctool.__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(system_router)
    app.include_router(wallet_router)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """Build the OpenAPI document without FastAPI's default 422: nctool returns 400 for invalid input."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema
