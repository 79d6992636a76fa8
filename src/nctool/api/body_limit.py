"""Reject request bodies larger than the configured maximum with 413, before any handler reads them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nctool.errors import PayloadTooLargeError


class BodySizeLimitMiddleware:
    """Read the whole body (at most `max_bytes`) up front, then hand it to the app.

    A declared Content-Length above the limit is rejected without reading. A chunked body is
    counted as it arrives and rejected as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away; let the app see the disconnect.
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _reject(self, send: Send) -> None:
        error = PayloadTooLargeError(
            f"the request body is larger than {self.max_bytes} bytes; send a smaller body "
            "(the limit is NCTOOL_MAX_BODY_BYTES)",
            maxBytes=self.max_bytes,
        )
        body = json.dumps(error.to_body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """Return a receive that yields the buffered body as one message, then defers to the real one."""
    queue: list[Message] = [pending] if pending else [{"type": "http.request", "body": b"".join(chunks)}]

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
