"""Every route of the app against a table of credentials: who gets in, who gets 401, who gets 403.

The routes come from the running app, so a route added later is covered without editing this file.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from coincurve import PrivateKey

from nctool.api.auth import app_routes, template_policy
from nctool.nostr.nip19 import encode_npub
from nctool.nostr.nip98 import authorization_header, sign_event
from nctool.store import api_keys

DENIED = {401, 403}


@dataclass
class Keypair:
    secret: bytes
    npub: str


def new_keypair() -> Keypair:
    key = PrivateKey()
    return Keypair(key.secret, encode_npub(key.public_key.format(compressed=True)[1:]))


@dataclass
class Request:
    method: str
    template: str
    path: str
    body: bytes
    url: str


@dataclass
class World:
    """One service with an owner wallet, a stranger, and API keys of every kind."""

    base: str
    owner: Keypair
    stranger: Keypair
    admin_key: str
    wallet_key: str
    owner_key: str
    stranger_key: str
    revoked_key: str


@pytest.fixture(scope="module")
async def world(stack) -> World:
    owner, stranger = new_keypair(), new_keypair()
    (await stack.api.create(owner.npub)).raise_for_status()
    keys = {}
    async with stack.svc.db.transaction("api_key_create") as conn:
        for name, scope, npub in (
            ("wallet", "wallet", None),
            ("owner", "wallet", owner.npub),
            ("stranger", "wallet", stranger.npub),
            ("revoked", "wallet", None),
        ):
            row, keys[name] = await api_keys.create_key(conn, scope, npub, label=f"auth table {name}")
            if name == "revoked":
                await api_keys.revoke_key(conn, row.id)
    return World(
        stack.service.url,
        owner,
        stranger,
        stack.service.api_key,
        keys["wallet"],
        keys["owner"],
        keys["stranger"],
        keys["revoked"],
    )


def app_requests(stack, world: World) -> list[Request]:
    """One request per method and route of the running app, aimed at the owner's wallet."""
    requests = []
    for template, methods in app_routes(stack.service.server.config.app):
        path = template.replace("{npub}", world.owner.npub)
        path = re.sub(r"\{[^}]+\}", "tx_unknown", path)
        for method in methods:
            if method == "HEAD":
                continue
            body = json.dumps({"npub": world.owner.npub}).encode() if method != "GET" else b""
            requests.append(Request(method, template, path, body, world.base + path))
    return requests


Headers = Callable[[World, Request], dict[str, str]]


def bearer(attribute: str) -> Headers:
    return lambda world, _request: {"Authorization": f"Bearer {getattr(world, attribute)}"}


def nip98(
    signer: str = "owner", *, url: str | None = None, method: str | None = None, age: int = 0, payload: bool = True
) -> Headers:
    def headers(world: World, request: Request) -> dict[str, str]:
        keypair: Keypair = getattr(world, signer)
        event = sign_event(
            keypair.secret,
            url=url or request.url,
            method=method or request.method,
            body=request.body if payload else None,
            created_at=int(time.time()) - age,
        )
        return {"Authorization": authorization_header(event)}

    return headers


# (case, headers, expected for wallet routes, expected for admin routes)
CASES: list[tuple[str, Headers | None, set[int] | None, set[int] | None]] = [
    ("no credentials", None, {401}, {401}),
    ("unknown key", lambda _w, _r: {"Authorization": "Bearer nct_wrong"}, {401}, {401}),
    ("revoked key", bearer("revoked_key"), {401}, {401}),
    ("malformed scheme", lambda _w, _r: {"Authorization": "Basic dXNlcjpwYXNz"}, {401}, {401}),
    ("wallet key", bearer("wallet_key"), None, {403}),
    ("wallet key bound to owner", bearer("owner_key"), None, {403}),
    ("wallet key bound to stranger", bearer("stranger_key"), {403}, {403}),
    ("admin key", bearer("admin_key"), None, None),
    ("nip98 own npub", nip98(), None, {403}),
    ("nip98 other npub", nip98("stranger"), {403}, {403}),
    ("nip98 wrong url", nip98(url="http://127.0.0.1:1/api/wallet/elsewhere"), {401}, {401}),
    ("nip98 wrong method", nip98(method="DELETE"), {401}, {401}),
    ("nip98 stale", nip98(age=120), {401}, {401}),
    ("nip98 from the future", nip98(age=-120), {401}, {401}),
]


def expected(case: tuple[str, Headers | None, set[int] | None, set[int] | None], policy: str) -> set[int] | None:
    if policy == "public":
        return None
    return case[2] if policy == "wallet" else case[3]


async def send(world: World, request: Request, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=world.base, timeout=30) as http:
        return await http.request(
            request.method,
            request.path,
            content=request.body or None,
            headers={**headers, "Content-Type": "application/json"},
        )


async def table_mismatches(stack, world: World, case) -> list[str]:  # type: ignore[no-untyped-def]
    name, headers, *_ = case
    mismatches = []
    for request in app_requests(stack, world):
        response = await send(world, request, headers(world, request) if headers else {})
        want = expected(case, template_policy(request.template))
        got = response.status_code
        if (want is None and got in DENIED) or (want is not None and got not in want) or got >= 500:
            wanted = want or "anything but 401/403"
            mismatches.append(f"{name}: {request.method} {request.template} gave {got}, expected {wanted}")
    return mismatches


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_credential_table(stack, world, case):
    assert await table_mismatches(stack, world, case) == []


async def test_table_covers_wallet_and_system_routes(stack, world):
    templates = {r.template for r in app_requests(stack, world)}
    assert "/api/wallet/{npub}/melt" in templates
    assert "/api/wallet/system/diagnostics" in templates
    assert "/api/wallet/create" in templates


async def test_unknown_routes_default_to_admin():
    assert template_policy("/api/wallet/system/something-new") == "admin"
    assert template_policy("/api/wallet/{npub}/send/{transactionId}/reclaim") == "wallet"
    assert template_policy("/livez") == "public"


async def test_nip98_event_used_twice_is_rejected(stack, world):
    request = Request("GET", "", f"/api/wallet/{world.owner.npub}/balance", b"", "")
    request.url = world.base + request.path
    headers = nip98()(world, request)
    first = await send(world, request, headers)
    second = await send(world, request, headers)
    assert first.status_code == 200
    assert second.status_code == 401
    assert "already used" in second.json()["message"]


async def test_nip98_body_without_payload_tag_is_rejected(stack, world):
    path = f"/api/wallet/{world.owner.npub}/mint"
    request = Request("POST", "", path, json.dumps({"amount": 10}).encode(), world.base + path)
    response = await send(world, request, nip98(payload=False)(world, request))
    assert response.status_code == 401
    assert "payload" in response.json()["message"]


async def test_nip98_payload_of_other_body_is_rejected(stack, world):
    path = f"/api/wallet/{world.owner.npub}/mint"
    signed = Request("POST", "", path, json.dumps({"amount": 10}).encode(), world.base + path)
    headers = nip98()(world, signed)
    sent = Request("POST", "", path, json.dumps({"amount": 99999}).encode(), world.base + path)
    response = await send(world, sent, headers)
    assert response.status_code == 401


async def test_nip98_creates_own_wallet_only(stack, world):
    newcomer = new_keypair()
    path = "/api/wallet/create"
    own = Request("POST", "", path, json.dumps({"npub": newcomer.npub}).encode(), world.base + path)
    other = Request("POST", "", path, json.dumps({"npub": world.stranger.npub}).encode(), world.base + path)
    world_as_newcomer = World(**{**world.__dict__, "owner": newcomer})
    assert (await send(world, own, nip98()(world_as_newcomer, own))).status_code == 200
    assert (await send(world, other, nip98()(world_as_newcomer, other))).status_code == 403


async def test_unauthenticated_response_names_both_schemes(stack, world):
    response = await send(world, Request("GET", "", f"/api/wallet/{world.owner.npub}/balance", b"", ""), {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="nctool", Nostr'
    assert response.json()["code"] == "UNAUTHENTICATED"


async def test_nip98_nonce_tag_allows_same_request_twice(stack, world):
    path = f"/api/wallet/{world.owner.npub}/balance"
    request = Request("GET", "", path, b"", world.base + path)
    now = int(time.time())
    statuses = []
    for nonce in ("a1", "b2"):
        event = sign_event(world.owner.secret, url=request.url, method="GET", created_at=now, nonce=nonce)
        statuses.append((await send(world, request, {"Authorization": authorization_header(event)})).status_code)
    assert statuses == [200, 200]


async def test_request_log_names_credential_not_key(stack, world, log_file):
    path = f"/api/wallet/{world.owner.npub}/balance"
    response = await send(world, Request("GET", "", path, b"", ""), {"Authorization": f"Bearer {world.owner_key}"})
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if world.owner.npub in line]
    requests = [
        line for line in lines if line["message"] == "HTTP request" and line.get("route", "").endswith("/balance")
    ]
    assert response.status_code == 200
    assert requests[-1]["credential"].startswith("key_")
    assert world.owner_key not in log_file.read_text()
