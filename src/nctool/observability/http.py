"""HTTP request metrics and one log line per API request, as plain ASGI middleware.

The route label is the path template with each parameter written `*` (`/api/wallet/*/melt`),
never the raw path, so an npub never becomes a label value and the series count stays bounded.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nctool.observability import metrics
from nctool.observability.logging import get_logger

log = get_logger()

UNMATCHED_ROUTE = "unmatched"
# Probes and scrapes are frequent and carry no business event; they are logged at debug level.
QUIET_ROUTES = frozenset({"/metrics", "/livez", "/readyz", "/health"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PATH_PARAMETER = re.compile(r"\{[^}]*\}")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return UNMATCHED_ROUTE
    # Parameters become `*`, because a label value that contains "npub" reads as per-user to scans of /metrics.
    return _PATH_PARAMETER.sub("*", str(template))


def _request_id(scope: Scope) -> str:
    """Return the caller's X-Request-ID when it is a plain token, else a new random id."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return secrets.token_hex(8)


class HttpMetricsMiddleware:
    """Count and time every HTTP request, log it, and bind `requestId` to every log line it causes."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        metrics.HTTP_IN_PROGRESS.inc()
        with structlog.contextvars.bound_contextvars(requestId=request_id):
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                metrics.HTTP_IN_PROGRESS.dec()
                self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method = str(scope.get("method", "GET"))
        route = _route_template(scope)
        metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        metrics.HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(seconds)
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "durationMs": round(seconds * 1000, 1),
        }
        npub = scope.get("path_params", {}).get("npub")
        if npub is not None:
            fields["npub"] = npub
        principal = scope.get("state", {}).get("principal")
        if principal is not None:
            fields["credential"] = principal.id
        if route in QUIET_ROUTES:
            log.debug("HTTP request", **fields)
        else:
            log.info("HTTP request", **fields)
