"""Schemathesis against the OpenAPI document of a service on 127.0.0.1: no input gives a 5xx or breaks the books.

The budget per operation and generation mode is NCTOOL_FUZZ_EXAMPLES (default 10, so that `make
test` stays fast); `make fuzz` raises it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_npub
from nctool.testing.service import RunningService, start_service

EXAMPLES = int(os.environ.get("NCTOOL_FUZZ_EXAMPLES", "10"))


@pytest.fixture
async def target(stack, tmp_path) -> AsyncIterator[RunningService]:
    service = await start_service(stack.mint.url, f"sqlite:///{tmp_path}/fuzz.db", worker_interval_seconds=0.2)
    yield service
    await service.stop()


def fuzz(raw_schema: dict, base_url: str, api_key: str, npub: str | None) -> tuple[list[int], list[str]]:  # type: ignore[type-arg]
    """Call every operation with generated valid and invalid input; return all statuses and the 5xx calls."""
    schema = schemathesis.openapi.from_dict(raw_schema)
    statuses: list[int] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        has_npub = "{npub}" in operation.path
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters={"npub": npub} if npub and has_npub else None
            )

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(strategy)
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

            try:
                call()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid input to generate.
                assert mode == GenerationMode.NEGATIVE
    return statuses, failures


async def test_fuzzed_requests_never_give_5xx(target):
    api = ApiClient(target.url)
    npub = make_npub()
    await api.fund(npub, 200)
    raw = (await api.call("GET", "/openapi.json")).json()
    await api.aclose()

    random_statuses, random_failures = await asyncio.to_thread(fuzz, raw, target.url, str(target.api_key), None)
    wallet_statuses, wallet_failures = await asyncio.to_thread(fuzz, raw, target.url, str(target.api_key), npub)

    assert random_failures == []
    assert wallet_failures == []
    assert len(random_statuses) + len(wallet_statuses) >= 10 * len(raw["paths"])
    assert 200 in wallet_statuses
    assert 400 in wallet_statuses
    assert await ledger_problems(target.services) == []
