"""NIP-98 events: a signed event authorizes exactly one request; anything else is a Nip98Error."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from nctool.nostr.nip98 import (
    KIND_HTTP_AUTH,
    Nip98Error,
    Nip98Event,
    authorization_header,
    decode_event,
    event_id,
    sign_event,
    verify_request,
)

URL = "http://127.0.0.1:3000/api/wallet/npub1xyz/melt"
BODY = b'{"invoice":"lnbc1..."}'
KEY = PrivateKey(bytes.fromhex("7f" * 32))
NOW = 1_760_000_000


def signed(**changes: object) -> Nip98Event:
    event = sign_event(KEY.secret, url=URL, method="POST", body=BODY, created_at=NOW)
    return Nip98Event(**{**event.__dict__, **changes})  # type: ignore[arg-type]


def token(event: Nip98Event) -> str:
    return authorization_header(event).removeprefix("Nostr ")


def verify(event: Nip98Event, *, url: str = URL, method: str = "POST", body: bytes = BODY, now: float = NOW) -> None:
    verify_request(event, url=url, method=method, body=body, now=now, max_age_seconds=60)


def test_signed_event_round_trips():
    event = signed()
    assert decode_event(token(event)) == event
    verify(decode_event(token(event)))


def test_id_matches_nip01_serialization():
    event = signed()
    serial = json.dumps([0, event.pubkey, NOW, KIND_HTTP_AUTH, event.tags, ""], separators=(",", ":"))
    assert event.id == event_id(event) == hashlib.sha256(serial.encode()).hexdigest()


def test_payload_tag_is_body_sha256():
    assert signed().tag("payload") == hashlib.sha256(BODY).hexdigest()


def test_event_of_acceptance_tool_shape_verifies():
    """An event built the way common clients build it (tags u, method, payload) verifies."""
    event = sign_event(KEY.secret, url=URL, method="post", body=BODY, created_at=int(time.time()))
    verify(event, now=time.time())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": 1}, "kind"),
        ({"content": "changed"}, "id"),
        ({"sig": "00" * 64}, "signature"),
        ({"pubkey": PrivateKey(bytes.fromhex("11" * 32)).public_key.format()[1:].hex()}, "id"),
    ],
)
def test_tampered_event_is_rejected(change, reason):
    with pytest.raises(Nip98Error, match=reason):
        verify(signed(**change))


@pytest.mark.parametrize("offset", [61, -61, 3600])
def test_event_outside_clock_window_is_rejected(offset):
    with pytest.raises(Nip98Error, match="created_at"):
        verify(signed(), now=NOW + offset)


def test_event_at_window_edge_is_accepted():
    verify(signed(), now=NOW + 60)


def test_other_url_is_rejected():
    with pytest.raises(Nip98Error, match="u tag"):
        verify(signed(), url=URL + "?x=1")


def test_other_method_is_rejected():
    with pytest.raises(Nip98Error, match="method"):
        verify(signed(), method="GET")


def test_other_body_is_rejected():
    with pytest.raises(Nip98Error, match="payload"):
        verify(signed(), body=b'{"invoice":"lnbc2..."}')


def test_body_without_payload_tag_is_rejected():
    event = sign_event(KEY.secret, url=URL, method="POST", created_at=NOW)
    with pytest.raises(Nip98Error, match="payload"):
        verify(event)


@pytest.mark.parametrize(
    "text",
    ["", "not base64!", base64.b64encode(b"[1,2]").decode(), base64.b64encode(b"{}").decode(), "A" * 9000],
)
def test_malformed_header_is_rejected(text):
    with pytest.raises(Nip98Error):
        decode_event(text)


def test_uppercase_hex_id_is_rejected():
    event = signed()
    data = json.loads(base64.b64decode(token(event)))
    data["id"] = data["id"].upper()
    with pytest.raises(Nip98Error, match="id"):
        decode_event(base64.b64encode(json.dumps(data).encode()).decode())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | JSON,
        "pubkey": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | JSON,
        "created_at": st.integers() | JSON,
        "kind": st.just(KIND_HTTP_AUTH) | st.integers(),
        "tags": st.lists(st.lists(st.text(max_size=30), max_size=3), max_size=4) | JSON,
        "content": st.text(max_size=20) | JSON,
        "sig": st.text(alphabet="0123456789abcdef", min_size=128, max_size=128) | JSON,
    },
)


@given(st.text(max_size=300))
def test_decode_arbitrary_text_raises_only_nip98_error(text):
    try:
        decode_event(text)
    except Nip98Error:
        pass


@given(FIELDS)
def test_arbitrary_event_fields_never_verify_or_crash(fields):
    try:
        event = decode_event(base64.b64encode(json.dumps(fields).encode()).decode())
        verify(event)
    except Nip98Error:
        return
    pytest.fail(f"an unsigned event verified: {fields}")


@given(st.binary(max_size=200))
def test_arbitrary_body_against_signed_event_never_crashes(body):
    try:
        verify(signed(), body=body)
    except Nip98Error:
        assert body != BODY
