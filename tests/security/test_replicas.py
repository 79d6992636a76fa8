"""Security state lives in the database, so replicas sharing it agree: NIP-98 replays and daily limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from coincurve import PrivateKey

from nctool.nostr.nip19 import encode_npub
from nctool.nostr.nip98 import authorization_header, sign_event
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice
from nctool.testing.postgres import PostgresCluster, PostgresUnavailable
from nctool.testing.service import RunningService, start_service

PUBLIC_URL = "https://wallet.example.com"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster(tmp_path_factory.mktemp("pg")).start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL is not available: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def replicas(request, stack, tmp_path: Path) -> AsyncIterator[tuple[RunningService, RunningService]]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        database = f"sqlite:///{tmp_path}/shared.db"
    else:
        database = request.getfixturevalue("postgres").create_database()
    options = {"worker_enabled": False, "public_url": PUBLIC_URL, "daily_withdrawal_limit_sat": 300}
    first = await start_service(stack.mint.url, database, **options)
    second = await start_service(stack.mint.url, database, **options)
    yield first, second
    # Both replicas share one database, so checking through one covers every wallet.
    books = await ledger_problems(first.services)
    await first.stop()
    await second.stop()
    assert books == []


async def test_nip98_replay_on_other_replica_is_rejected(replicas):
    first, second = replicas
    signer = PrivateKey()
    npub = encode_npub(signer.public_key.format(compressed=True)[1:])
    api = ApiClient(first.url)
    assert (await api.create(npub)).status_code == 200
    await api.aclose()
    path = f"/api/wallet/{npub}/balance"
    event = sign_event(signer.secret, url=PUBLIC_URL + path, method="GET", created_at=int(time.time()))
    headers = {"Authorization": authorization_header(event)}

    async with httpx.AsyncClient() as http:
        on_first = await http.get(first.url + path, headers=headers)
        on_second = await http.get(second.url + path, headers=headers)

    assert on_first.status_code == 200
    assert on_second.status_code == 401
    assert "already used" in on_second.json()["message"]


async def test_daily_limit_counts_other_replica(replicas):
    first, second = replicas
    signer = PrivateKey()
    npub = encode_npub(signer.public_key.format(compressed=True)[1:])
    api_first, api_second = ApiClient(first.url), ApiClient(second.url)
    await api_first.fund(npub, 1000)

    on_first = await api_first.melt(npub, make_invoice(200))
    on_second = await api_second.melt(npub, make_invoice(200))
    await api_first.aclose()
    await api_second.aclose()

    assert on_first.status_code == 200
    assert on_second.status_code == 403
    assert on_second.json()["code"] == "DAILY_WITHDRAWAL_LIMIT"
