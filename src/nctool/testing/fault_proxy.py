"""An HTTP proxy in front of a real mint that injects faults the mint cannot produce itself.

Used only for failure shapes: the response to a request lost after the mint carried it out, a
mint that is down for one endpoint, a 5xx. The mint behind it is always a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from nctool.devmint import free_port


@dataclass
class Fault:
    """Fault for requests to one path. `times` counts down, and None means every time."""

    mode: str  # "hang_after_forward" | "refuse" | "server_error"
    times: int | None = 1
    seconds: float = 5.0


@dataclass
class FaultProxy:
    upstream: str
    faults: dict[str, Fault] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    # Request bodies per path, kept only for the paths listed in `record_paths`.
    record_paths: frozenset[str] = frozenset()
    bodies: dict[str, list[bytes]] = field(default_factory=dict)
    upstream_errors: list[str] = field(default_factory=list)
    url: str = ""
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def inject(self, path: str, mode: str, *, times: int | None = 1, seconds: float = 5.0) -> None:
        self.faults[path] = Fault(mode, times, seconds)

    def clear(self) -> None:
        self.faults.clear()

    def _take(self, path: str) -> Fault | None:
        fault = self.faults.get(path)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[path]
        return fault

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path in self.record_paths:
            self.bodies.setdefault(path, []).append(body)
        fault = self._take(path)
        if fault is not None and fault.mode == "refuse":
            await _respond(send, 503, b'{"detail": "proxy: mint unavailable"}')
            return
        if fault is not None and fault.mode == "server_error":
            await _respond(send, 500, b"Internal Server Error")
            return
        try:
            async with httpx.AsyncClient(base_url=self.upstream, timeout=60) as client:
                upstream = await client.request(
                    scope["method"], path, content=body, headers={"content-type": "application/json"}
                )
        except httpx.HTTPError as exc:
            self.upstream_errors.append(f"{path}: {exc!r}")
            await _respond(send, 502, b'{"detail": "proxy: upstream mint failed"}')
            return
        if fault is not None and fault.mode == "hang_after_forward":
            # The mint did the work; the caller never hears about it.
            await asyncio.sleep(fault.seconds)
        await _respond(send, upstream.status_code, upstream.content)

    async def start(self) -> FaultProxy:
        port = free_port()
        config = uvicorn.Config(self, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110  # uvicorn exposes no event for this
            await asyncio.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
