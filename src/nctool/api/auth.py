"""Who may call what: one FastAPI dependency on every route decides from the route's path template.

Rules, in order:
- public routes (probes, metrics, health, the OpenAPI document) need nothing;
- with NCTOOL_AUTH_DISABLED (loopback only) every route is open;
- every other route needs `Authorization: Bearer <API key>` or `Authorization: Nostr <NIP-98 event>`,
  else 401;
- a route with an `{npub}` parameter, and POST /api/wallet/create (npub in the body), act for one
  wallet. An admin key, an unbound wallet key, a wallet key bound to that npub or a NIP-98 event
  signed by that npub may call them, and other valid credentials get 403;
- every other route, including routes added later, is for admin keys only (403 for the rest).

The route table test enumerates the app's routes against these rules, so a new route is covered
the moment it is registered.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.routing import Route

from nctool.errors import (
    AuthenticationError,
    NctoolError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    StoreError,
)
from nctool.nostr.nip19 import encode_npub
from nctool.nostr.nip98 import Nip98Error, decode_event, verify_request
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.security.ratelimit import RateLimiter, retry_after_header
from nctool.store import api_keys
from nctool.store.tables import nip98_events
from nctool.wallet.services import Services

log = get_logger()

Policy = Literal["public", "wallet", "admin"]

PUBLIC_PATHS = frozenset(
    {
        "/livez",
        "/readyz",
        "/metrics",
        "/health",
        "/api/wallet/system/health",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)
CREATE_PATH = "/api/wallet/create"
CHALLENGE = 'Bearer realm="nctool", Nostr'


@dataclass(frozen=True)
class Principal:
    """The caller a request acts as: an API key (by id) or the npub that signed a NIP-98 event."""

    kind: Literal["api_key", "nip98"]
    id: str
    scope: Literal["admin", "wallet", "npub"]
    npub: str | None

    def may_act_for(self, npub: str | None) -> bool:
        if self.scope == "admin" or (self.scope == "wallet" and self.npub is None):
            return True
        return npub is not None and npub.strip().lower() == self.npub


def route_policy(path: str, path_params: Iterable[str]) -> Policy:
    """Return the policy of a route from its path and the names of its path parameters."""
    if path in PUBLIC_PATHS:
        return "public"
    if "npub" in path_params or path == CREATE_PATH:
        return "wallet"
    return "admin"


def template_policy(template: str) -> Policy:
    """Return the policy of a route from its path template (`/api/wallet/{npub}/balance`)."""
    return route_policy(template, re.findall(r"\{(\w+)(?::\w+)?\}", template))


def app_routes(app: FastAPI) -> list[tuple[str, list[str]]]:
    """Return (path template, methods) of every route the app serves, routers included."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI 0.165 and later keep routers nested
    except ImportError:  # older FastAPI flattens included routers into app.routes
        return [(r.path, sorted(r.methods or [])) for r in app.routes if isinstance(r, APIRoute | Route)]
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute | Route) and context.path:
            found.append((context.path, sorted(route.methods or [])))
    return found


async def authorize(request: Request) -> None:
    """Reject the request with 401, 403 or 429 unless its credentials reach this route."""
    # Decided from the concrete request, so a router mounted under any prefix gets the same rules.
    policy = route_policy(request.url.path, request.path_params)
    svc: Services = request.app.state.services
    if policy == "public" or svc.settings.auth_disabled:
        return
    try:
        principal = await _authenticate(request, svc)
        _check_rate(request, principal)
        await _check_permission(request, principal, policy)
    except NctoolError as exc:
        log.info("Request rejected", path=request.url.path, status=exc.http_status, code=exc.code, error=exc.message)
        raise
    request.state.principal = principal
    # Every log line of this request names the credential that authorized it (a key id or an npub, never a key).
    structlog.contextvars.bind_contextvars(credential=principal.id)


async def _authenticate(request: Request, svc: Services) -> Principal:
    header = request.headers.get("authorization", "").strip()
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return await _api_key_principal(request, svc, credential.strip())
    if scheme.lower() == "nostr" and credential.strip():
        return await _nip98_principal(request, svc, credential.strip())
    raise _unauthenticated(
        "missing",
        "this endpoint needs credentials: send Authorization: Bearer <API key> "
        "or Authorization: Nostr <NIP-98 event signed by the wallet's npub>",
    )


class ApiKeyLookup:
    """Look API keys up in the database on every request, so that a revocation applies at once.

    A snapshot of the active keys, loaded at the first lookup and refreshed at most every
    SNAPSHOT_SECONDS, is used only while the database is unavailable, so that operators can
    still reach diagnostics during a database outage.
    """

    SNAPSHOT_SECONDS = 60.0

    def __init__(self) -> None:
        self._snapshot: dict[str, api_keys.ApiKey] = {}
        self._loaded_at: float | None = None

    async def find(self, svc: Services, key: str) -> api_keys.ApiKey | None:
        digest = api_keys.hash_key(key)
        try:
            async with svc.db.read() as conn:
                if self._loaded_at is None or time.monotonic() - self._loaded_at > self.SNAPSHOT_SECONDS:
                    self._snapshot = await api_keys.active_keys_by_hash(conn)
                    self._loaded_at = time.monotonic()
                return await api_keys.find_active_key(conn, key)
        except StoreError as exc:
            if digest in self._snapshot:
                log.warning("API key accepted from the snapshot: the database is unavailable", error=exc.message)
                return self._snapshot[digest]
            raise ServiceUnavailableError(
                "credentials cannot be checked while the database is unavailable; retry once /readyz returns 200",
                code="CREDENTIALS_UNAVAILABLE",
            ) from exc

    async def load(self, svc: Services) -> None:
        """Load the snapshot now (at start), so that it exists before any outage."""
        async with svc.db.read() as conn:
            self._snapshot = await api_keys.active_keys_by_hash(conn)
        self._loaded_at = time.monotonic()


async def _api_key_principal(request: Request, svc: Services, key: str) -> Principal:
    lookup: ApiKeyLookup = request.app.state.api_keys
    found = await lookup.find(svc, key)
    if found is None:
        raise _unauthenticated("invalid_key", "the API key is unknown or revoked; ask an operator for a valid key")
    scope: Literal["admin", "wallet"] = "admin" if found.scope == "admin" else "wallet"
    return Principal("api_key", found.id, scope, found.npub)


async def _nip98_principal(request: Request, svc: Services, token: str) -> Principal:
    settings = svc.settings
    try:
        event = decode_event(token)
        verify_request(
            event,
            url=expected_url(request, settings.public_url),
            method=request.method,
            body=await request.body(),
            now=time.time(),
            max_age_seconds=settings.nip98_max_age_seconds,
        )
    except Nip98Error as exc:
        raise _unauthenticated("invalid_nip98", str(exc)) from None
    await _record_event(svc, event.id, event.pubkey, event.created_at + settings.nip98_max_age_seconds)
    npub = encode_npub(bytes.fromhex(event.pubkey))
    return Principal("nip98", npub, "npub", npub)


def expected_url(request: Request, public_url: str | None) -> str:
    """Return the absolute URL a NIP-98 event must name for this request."""
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


async def _record_event(svc: Services, event_id: str, pubkey: str, valid_until: int) -> None:
    """Store the event id until the event is stale anyway; a second use of one id is a replay (401).

    The ids live in the database, so a replay is caught by whichever replica it reaches.
    """
    now = datetime.now(UTC)
    # One extra second covers rounding of created_at; after that the clock check rejects the event.
    expires = datetime.fromtimestamp(valid_until + 1, UTC)
    insert = postgresql_insert if svc.db.dialect == "postgresql" else sqlite_insert
    statement = (
        insert(nip98_events)
        .values(event_id=event_id, pubkey=pubkey, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    async with svc.db.transaction("nip98_replay") as conn:
        await conn.execute(delete(nip98_events).where(nip98_events.c.expires_at < now - timedelta(seconds=1)))
        inserted = (await conn.execute(statement)).rowcount
    if inserted != 1:
        raise _unauthenticated(
            "replayed_nip98", "this NIP-98 event was already used; sign a new event for each request"
        )


def _check_rate(request: Request, principal: Principal) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(f"{principal.kind}:{principal.id}")
    if wait > 0:
        metrics.AUTH_FAILURES.labels(reason="rate_limited").inc()
        error = RateLimitedError(
            f"this credential sent more than {int(limiter.capacity)} requests in a minute; "
            f"retry after {retry_after_header(wait)} s",
            retryAfter=int(retry_after_header(wait)),
        )
        error.headers["Retry-After"] = retry_after_header(wait)
        raise error


async def _check_permission(request: Request, principal: Principal, policy: Policy) -> None:
    if policy == "admin":
        if principal.scope != "admin":
            raise _forbidden("this endpoint needs an admin API key")
        return
    npub = request.path_params.get("npub")
    if npub is None and request.url.path == CREATE_PATH:
        npub = await _body_npub(request)
    if not principal.may_act_for(npub):
        raise _forbidden(
            f"these credentials act for {principal.npub} only; use an API key or a NIP-98 event of the wallet's npub"
        )


async def _body_npub(request: Request) -> str | None:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    npub = data.get("npub") if isinstance(data, dict) else None
    return npub if isinstance(npub, str) else None


def _unauthenticated(reason: str, message: str) -> AuthenticationError:
    metrics.AUTH_FAILURES.labels(reason=reason).inc()
    error = AuthenticationError(message)
    error.headers["WWW-Authenticate"] = CHALLENGE
    return error


def _forbidden(message: str) -> PermissionDeniedError:
    metrics.AUTH_FAILURES.labels(reason="forbidden").inc()
    return PermissionDeniedError(message)
