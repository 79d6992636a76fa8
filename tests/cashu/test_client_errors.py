"""Mint error classification: only known NUT codes are definitive."""

from __future__ import annotations

import httpx
import pytest

from nctool.cashu.client import MintClient
from nctool.cashu.errors import (
    AMBIGUOUS_CODES,
    DEFINITIVE_CODES,
    NUT_ERROR_DESCRIPTIONS,
    MintAmbiguousError,
    MintRejectedError,
    MintTimeoutError,
    MintUnreachableError,
)


def _client(handler) -> MintClient:  # type: ignore[no-untyped-def]
    return MintClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler))


def test_every_nut_code_is_classified():
    assert set(NUT_ERROR_DESCRIPTIONS) == AMBIGUOUS_CODES | DEFINITIVE_CODES
    assert not AMBIGUOUS_CODES & DEFINITIVE_CODES


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, b'{"detail": "Lightning payment failed.", "code": 20004}', MintRejectedError),
        (400, b'{"detail": "proofs already spent", "code": 11001}', MintAmbiguousError),
        (400, b'{"detail": "quote pending", "code": 20005}', MintAmbiguousError),
        (400, b'{"detail": "melt quote already paid", "code": 11000}', MintAmbiguousError),
        (400, b'{"detail": "no code"}', MintAmbiguousError),
        (500, b'{"detail": "boom", "code": 20004}', MintAmbiguousError),
        (502, b"<html>bad gateway</html>", MintAmbiguousError),
        (200, b"not json", MintAmbiguousError),
        (200, b'{"unexpected": true}', MintAmbiguousError),
    ],
)
async def test_answer_classification(status, body, expected):
    client = _client(lambda request: httpx.Response(status, content=body))
    with pytest.raises(expected) as caught:
        await client.get_melt_quote("q1")
    assert type(caught.value) is expected


async def test_timeout_is_ambiguous():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(MintTimeoutError) as caught:
        await _client(handler).melt("q1", [], [])
    assert caught.value.ambiguous is True
    assert caught.value.error_code == "MINT_TIMEOUT"


async def test_connection_refused_is_ambiguous():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(MintUnreachableError):
        await _client(handler).swap([], [])


async def test_rejection_carries_nut_code():
    client = _client(lambda request: httpx.Response(400, json={"detail": "spent", "code": 20004}))
    with pytest.raises(MintRejectedError) as caught:
        await client.melt("q1", [], [])
    assert caught.value.code == 20004
    assert caught.value.error_code == "NUT_20004"
