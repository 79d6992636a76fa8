"""Request limits: body size (413), requests per credential (429) and the daily withdrawal limit (403)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice, make_npub
from nctool.testing.service import RunningService, start_service


@pytest.fixture
async def limited(stack, tmp_path) -> AsyncIterator[RunningService]:
    service = await start_service(
        stack.mint.url,
        f"sqlite:///{tmp_path}/limited.db",
        worker_enabled=False,
        rate_limit_per_minute=3,
    )
    yield service
    await service.stop()


async def test_body_over_limit_is_413(stack, npub):
    body = b'{"encodedToken": "cashuA' + b"a" * 70_000 + b'"}'
    response = await stack.api.http.post(
        f"/api/wallet/{npub}/mint", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_chunked_body_over_limit_is_413(stack, npub):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"a" * 4096

    response = await stack.api.http.post(
        f"/api/wallet/{npub}/mint", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_body_under_limit_reaches_the_route(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/mint", {"amount": 5, "padding": "a" * 30_000})
    assert response.status_code == 200


async def test_rate_limit_gives_429_with_retry_after(limited):
    api = ApiClient(limited.url)
    npub = make_npub()
    statuses = [(await api.call("GET", f"/api/wallet/{npub}/balance")).status_code for _ in range(4)]
    last = await api.call("GET", f"/api/wallet/{npub}/balance")
    await api.aclose()
    assert statuses[:3] == [404, 404, 404]
    assert last.status_code == 429
    assert int(last.headers["Retry-After"]) >= 1
    assert last.json()["code"] == "RATE_LIMITED"


async def test_rate_limit_spares_probes(limited):
    async with httpx.AsyncClient(base_url=limited.url) as http:
        statuses = [(await http.get("/livez")).status_code for _ in range(10)]
    assert statuses == [200] * 10


async def test_withdrawal_over_daily_limit_is_403(stack, tmp_path):
    service = await start_service(
        stack.mint.url, f"sqlite:///{tmp_path}/daily.db", worker_enabled=False, daily_withdrawal_limit_sat=300
    )
    api = ApiClient(service.url)
    npub = make_npub()
    try:
        await api.fund(npub, 1000)
        first = await api.melt(npub, make_invoice(200))
        before = await api.balance(npub)
        second = await api.melt(npub, make_invoice(200))
        after = await api.balance(npub)
        books = await ledger_problems(service.services)
    finally:
        await api.aclose()
        await service.stop()
    assert first.status_code == 200
    assert second.status_code == 403
    assert second.json()["code"] == "DAILY_WITHDRAWAL_LIMIT"
    assert second.json()["used"] == 200
    assert after == before
    assert books == []


async def test_amount_above_maximum_is_400(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/mint", {"amount": 10**12})
    assert response.status_code == 400
    assert response.json()["details"][0].startswith("amount")
