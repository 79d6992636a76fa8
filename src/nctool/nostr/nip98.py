"""NIP-98 HTTP authentication: a signed Nostr event (kind 27235) that names one request.

The client sends ``Authorization: Nostr <base64 of the event JSON>``. The event is valid for a
request when all of these hold:
- its id is the SHA-256 of the NIP-01 serialization, and its BIP-340 signature verifies under its pubkey;
- `created_at` is within the allowed clock difference;
- its `u` tag is the exact absolute URL (with query), and its `method` tag the HTTP method;
- for a request with a body, its `payload` tag is the hex SHA-256 of the body.
Replay protection is the caller's job, because it needs shared storage: accept each event id once.

Sources: NIP-98 and NIP-01 (https://github.com/nostr-protocol/nips), BIP-340.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

KIND_HTTP_AUTH = 27235
# A real event is a few hundred bytes; a cap keeps decoding cheap for hostile headers.
MAX_HEADER_CHARS = 8192
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


class Nip98Error(ValueError):
    """The Authorization header is not a valid NIP-98 event for this request; the message gives the reason."""


@dataclass(frozen=True)
class Nip98Event:
    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: list[list[str]]
    content: str
    sig: str

    def tag(self, name: str) -> str | None:
        """Return the value of the first tag with this name."""
        for tag in self.tags:
            if len(tag) >= 2 and tag[0] == name:
                return tag[1]
        return None


def decode_event(token: str) -> Nip98Event:
    """Decode the base64 part of the header into an event with well-formed fields (not yet verified)."""
    if len(token) > MAX_HEADER_CHARS:
        raise Nip98Error(f"the NIP-98 event is longer than {MAX_HEADER_CHARS} characters")
    try:
        raw = base64.b64decode(token.strip(), validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Nip98Error("the NIP-98 event is not base64-encoded JSON") from exc
    if not isinstance(data, dict):
        raise Nip98Error("the NIP-98 event must be a JSON object")
    return Nip98Event(
        id=_hex_field(data, "id", _HEX64),
        pubkey=_hex_field(data, "pubkey", _HEX64),
        created_at=_int_field(data, "created_at"),
        kind=_int_field(data, "kind"),
        tags=_tags(data.get("tags")),
        content=_str_field(data, "content"),
        sig=_hex_field(data, "sig", _HEX128),
    )


def _hex_field(data: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Nip98Error(f"the NIP-98 event's {name} must be lowercase hex of the NIP-01 length")
    return value


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Nip98Error(f"the NIP-98 event's {name} must be an integer")
    return value


def _str_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise Nip98Error(f"the NIP-98 event's {name} must be a string")
    return value


def _tags(value: Any) -> list[list[str]]:
    if not isinstance(value, list) or not all(
        isinstance(tag, list) and all(isinstance(item, str) for item in tag) for tag in value
    ):
        raise Nip98Error("the NIP-98 event's tags must be a list of lists of strings")
    return value


def event_id(event: Nip98Event) -> str:
    """Return the NIP-01 id: SHA-256 of the compact JSON array [0, pubkey, created_at, kind, tags, content]."""
    serial = json.dumps(
        [0, event.pubkey, event.created_at, event.kind, event.tags, event.content],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serial.encode()).hexdigest()


def verify_request(event: Nip98Event, *, url: str, method: str, body: bytes, now: float, max_age_seconds: int) -> None:
    """Raise Nip98Error unless the event is a valid, signed, fresh authorization of exactly this request."""
    if event.kind != KIND_HTTP_AUTH:
        raise Nip98Error(f"the NIP-98 event's kind must be {KIND_HTTP_AUTH}, got {event.kind}")
    if event_id(event) != event.id:
        raise Nip98Error("the NIP-98 event's id is not the hash of its content")
    if not _signature_valid(event):
        raise Nip98Error("the NIP-98 event's signature does not verify under its pubkey")
    if abs(now - event.created_at) > max_age_seconds:
        raise Nip98Error(
            f"the NIP-98 event's created_at is {int(now - event.created_at)} s away from the server clock; "
            f"sign a new event for each request (allowed: {max_age_seconds} s)"
        )
    if event.tag("u") != url:
        raise Nip98Error(f"the NIP-98 event's u tag must be the exact request URL {url}")
    if (event.tag("method") or "").upper() != method.upper():
        raise Nip98Error(f"the NIP-98 event's method tag must be {method.upper()}")
    payload = event.tag("payload")
    if body and payload is None:
        raise Nip98Error("a request with a body needs a payload tag: the hex SHA-256 of the body")
    if payload is not None and payload.lower() != hashlib.sha256(body).hexdigest():
        raise Nip98Error("the NIP-98 event's payload tag is not the SHA-256 of the request body")


def _signature_valid(event: Nip98Event) -> bool:
    try:
        key = PublicKeyXOnly(bytes.fromhex(event.pubkey))
        return bool(key.verify(bytes.fromhex(event.sig), bytes.fromhex(event.id)))
    except (ValueError, TypeError):
        # The pubkey is not the x coordinate of a curve point.
        return False


def sign_event(
    secret_key: bytes, *, url: str, method: str, body: bytes | None = None, created_at: int, nonce: str | None = None
) -> Nip98Event:
    """Build and sign a NIP-98 event for one request (for clients, tests and the CLI).

    Two requests with the same URL, method and body in the same second get the same event id,
    and the second is rejected as a replay. A `nonce` tag makes their ids differ.
    """
    from coincurve import PrivateKey

    key = PrivateKey(secret_key)
    pubkey = key.public_key.format(compressed=True)[1:].hex()
    tags = [["u", url], ["method", method.upper()]]
    if body:
        tags.append(["payload", hashlib.sha256(body).hexdigest()])
    if nonce is not None:
        tags.append(["nonce", nonce])
    unsigned = Nip98Event("", pubkey, created_at, KIND_HTTP_AUTH, tags, "", "")
    digest = event_id(unsigned)
    sig = key.sign_schnorr(bytes.fromhex(digest)).hex()
    return Nip98Event(digest, pubkey, created_at, KIND_HTTP_AUTH, tags, "", sig)


def authorization_header(event: Nip98Event) -> str:
    body = {
        "id": event.id,
        "pubkey": event.pubkey,
        "created_at": event.created_at,
        "kind": event.kind,
        "tags": event.tags,
        "content": event.content,
        "sig": event.sig,
    }
    return "Nostr " + base64.b64encode(json.dumps(body).encode()).decode()
