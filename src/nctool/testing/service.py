"""Run nctool in-process on 127.0.0.1 for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import uvicorn

from nctool.api.app import create_app
from nctool.config import Settings
from nctool.devmint import free_port
from nctool.store.database import Database
from nctool.testing.credentials import create_admin_key, register
from nctool.wallet.services import Services


@dataclass
class RunningService:
    url: str
    settings: Settings
    server: uvicorn.Server
    task: asyncio.Task[None]
    # Admin key of this service (also registered for ApiClient); None with auth disabled.
    api_key: str | None = None

    @property
    def services(self) -> Services:
        app: Any = self.server.config.app
        svc: Services = app.state.services
        return svc

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_service(mint_url: str, database_url: str, **overrides: Any) -> RunningService:
    """Start the API and worker on a free port in this event loop; return once it serves.

    Authentication is on, as by default; the service gets an admin key that `ApiClient(url)` uses.
    Tests call far faster than one client would, so the rate limit is off unless `overrides` sets it.
    """
    port = free_port()
    overrides.setdefault("rate_limit_per_minute", 0)
    settings = Settings(mint_url=mint_url, database_url=database_url, port=port, **overrides)
    # The key exists before the service starts, as an operator's would, so the service's snapshot of
    # active keys contains it from the start.
    api_key = None if settings.auth_disabled else await _admin_key(database_url)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # The caller owns the process's signals; uvicorn would otherwise take SIGINT and SIGTERM.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            running = RunningService(f"http://127.0.0.1:{port}", settings, server, task, api_key)
            if api_key is not None:
                register(running.url, api_key)
            return running
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"nctool did not start on port {port}")


async def _admin_key(database_url: str) -> str:
    db = Database(database_url)
    try:
        return await create_admin_key(db)
    finally:
        await db.dispose()
