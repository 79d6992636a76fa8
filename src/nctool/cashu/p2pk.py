"""Pay-to-public-key locks: NUT-10 well-known secrets of kind P2PK and NUT-11 witnesses.

A locked proof's secret is the JSON array `["P2PK", {"nonce", "data": <pubkey>, "tags"}]`. The
mint accepts it as an input only with a witness `{"signatures": [...]}` that contains a BIP-340
Schnorr signature of sha256(secret) by the key in `data`. After `locktime` a `refund` key signs
instead, and without refund keys anyone may spend the proof. Private keys pass through this
module but are never logged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field

from coincurve import PrivateKey, PublicKeyXOnly

from nctool.cashu.crypto import CryptoError, parse_point
from nctool.nostr.nip19 import NostrKeyError, decode_npub

P2PK_KIND = "P2PK"
SIG_INPUTS = "SIG_INPUTS"


class P2PKError(ValueError):
    """A malformed NUT-10 secret, public key or private key."""


@dataclass(frozen=True)
class P2PKLock:
    """The spending condition of a P2PK secret."""

    pubkeys: list[str]
    n_sigs: int = 1
    locktime: int | None = None
    refund_pubkeys: list[str] = field(default_factory=list)
    sigflag: str = SIG_INPUTS

    def signers_at(self, now: float) -> list[str] | None:
        """Return the keys of which one may sign at `now`; None when anyone may spend (lock expired)."""
        if self.locktime is not None and now >= self.locktime:
            return self.refund_pubkeys or None
        return self.pubkeys


def normalize_pubkey(text: str) -> str:
    """Return a receiver's public key as 33-byte compressed hex.

    Accepts compressed hex (02/03 prefix), 32-byte x-only hex and an npub, whose x-only key gets
    the 02 prefix as NIP-19 keys do in Cashu wallets.
    """
    value = text.strip()
    if value.lower().startswith("npub1"):
        try:
            value = "02" + decode_npub(value.lower()).hex()
        except NostrKeyError as exc:
            raise P2PKError(f"not a valid npub: {exc}") from exc
    elif len(value) == 64:
        value = "02" + value
    try:
        return parse_point(value.lower(), "public key").format(compressed=True).hex()
    except CryptoError as exc:
        raise P2PKError(
            "expected a 33-byte compressed secp256k1 public key in hex (66 digits), a 32-byte x-only key or an npub"
        ) from exc


def parse_private_key(text: str) -> bytes:
    """Parse a private key given as 64 hex digits."""
    value = text.strip().lower()
    try:
        raw = bytes.fromhex(value)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
        PrivateKey(raw)
    except ValueError as exc:
        raise P2PKError("expected a secp256k1 private key as 64 hex digits") from exc
    return raw


def public_key_of(private_key: bytes) -> str:
    return PrivateKey(private_key).public_key.format(compressed=True).hex()


def new_private_key() -> bytes:
    return PrivateKey().secret


def lock_secret(pubkey: str) -> str:
    """Build a fresh P2PK secret locked to `pubkey` (compressed hex) with a random nonce."""
    body = {"nonce": secrets.token_hex(32), "data": pubkey, "tags": [["sigflag", SIG_INPUTS]]}
    return json.dumps([P2PK_KIND, body], separators=(",", ":"))


def is_well_known_secret(secret: str) -> bool:
    """Return whether the secret claims NUT-10 form (a JSON array); plain secrets are random strings."""
    return secret.lstrip().startswith("[")


def parse_lock(secret: str) -> P2PKLock | None:
    """Return the P2PK lock of a secret, None for a plain secret; raise P2PKError for other NUT-10 kinds."""
    if not is_well_known_secret(secret):
        return None
    try:
        document = json.loads(secret)
    except ValueError as exc:
        raise P2PKError("the secret starts like a NUT-10 secret but is not valid JSON") from exc
    if not (isinstance(document, list) and len(document) == 2 and isinstance(document[1], dict)):
        raise P2PKError('a NUT-10 secret must be ["<kind>", {"nonce", "data", "tags"}]')
    kind, body = document
    if kind != P2PK_KIND:
        raise P2PKError(f"spending condition {kind!r} is not supported; only P2PK is")
    tags = _read_tags(body.get("tags"))
    data = body.get("data")
    if not isinstance(data, str):
        raise P2PKError("the P2PK secret has no public key in 'data'")
    return P2PKLock(
        pubkeys=[_lock_key(data), *(_lock_key(k) for k in tags.get("pubkeys", []))],
        n_sigs=_tag_int(tags, "n_sigs", 1) or 1,
        locktime=_tag_int(tags, "locktime", None),
        refund_pubkeys=[_lock_key(k) for k in tags.get("refund", [])],
        sigflag=(tags.get("sigflag") or [SIG_INPUTS])[0],
    )


def _read_tags(raw: object) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise P2PKError("the P2PK secret's 'tags' must be a list")
    tags: dict[str, list[str]] = {}
    for tag in raw:
        if not (isinstance(tag, list) and tag and all(isinstance(v, str) for v in tag)):
            raise P2PKError("each P2PK tag must be a list of strings")
        tags[tag[0]] = tag[1:]
    return tags


def _tag_int(tags: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = tags.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError as exc:
        raise P2PKError(f"the P2PK tag {name!r} must be an integer") from exc


def _lock_key(value: str) -> str:
    try:
        return parse_point(value.lower(), "P2PK public key").format(compressed=True).hex()
    except CryptoError as exc:
        raise P2PKError(f"the P2PK secret names an invalid public key: {exc}") from exc


def sign_secret(secret: str, private_key: bytes) -> str:
    """Return the BIP-340 signature (hex) of sha256(secret) that NUT-11 expects in the witness."""
    digest = hashlib.sha256(secret.encode("utf-8")).digest()
    return PrivateKey(private_key).sign_schnorr(digest, secrets.token_bytes(32)).hex()


def verify_signature(secret: str, pubkey: str, signature: str) -> bool:
    digest = hashlib.sha256(secret.encode("utf-8")).digest()
    xonly = PublicKeyXOnly(bytes.fromhex(pubkey)[1:])
    return bool(xonly.verify(bytes.fromhex(signature), digest))


def witness(signatures: list[str]) -> str:
    return json.dumps({"signatures": signatures}, separators=(",", ":"))
