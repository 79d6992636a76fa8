"""NIP-19 ``npub`` encoding and decoding of Nostr public keys.

An npub is the bech32 (not bech32m) encoding of a 32-byte x-only secp256k1 public key
with the human-readable part ``npub``.

Source: NIP-19, https://github.com/nostr-protocol/nips/blob/master/19.md
"""

from __future__ import annotations

import re

from bech32 import CHARSET, bech32_encode, bech32_verify_checksum, convertbits
from coincurve import PublicKey

NPUB_PREFIX = "npub"
PUBKEY_LENGTH = 32

# Prefixes that mark a private key, plain (NIP-19 nsec) or password-encrypted (NIP-49 ncryptsec).
_PRIVATE_KEY_PREFIXES = frozenset({"nsec", "ncryptsec"})

# Other NIP-19 entities, mapped to what they contain.
_OTHER_ENTITY_PREFIXES = {
    "note": "a note (event) id",
    "nevent": "an event pointer",
    "nprofile": "a profile pointer with relay hints",
    "naddr": "an addressable event coordinate",
    "nrelay": "a relay pointer",
}

# 64 hex characters is an x-only key, 66 starting with 02 or 03 a compressed key.
_HEX_KEY = re.compile(r"(?:0[23])?[0-9a-fA-F]{64}")
_CHECKSUM_LENGTH = 6


class NostrKeyError(ValueError):
    """Invalid Nostr public key input. The message names the problem and the fix."""


def decode_npub(text: str) -> bytes:
    """Decode an ``npub1...`` string into the 32-byte x-only public key.

    Surrounding whitespace is ignored. Raises NostrKeyError for an empty string, a
    private key (nsec or ncryptsec), another NIP-19 entity or a hex key. It is also
    raised for mixed case, invalid characters or a bad checksum, and for a payload
    that is not 32 bytes or not the x coordinate of a secp256k1 point.
    """
    stripped = text.strip()
    if not stripped:
        raise NostrKeyError("The public key is empty. Paste the recipient's npub1... key.")

    # A 64-character hex string could be a private key, so the message never echoes it.
    if _HEX_KEY.fullmatch(stripped):
        raise NostrKeyError(
            f"The key is {len(stripped)} hex characters, not an npub. Encode the public "
            "key as npub with NIP-19 and send that, and never send a private key."
        )

    lowered = stripped.lower()
    separator = lowered.rfind("1")
    prefix = lowered[:separator] if separator > 0 else ""
    _check_prefix(prefix)

    if stripped != lowered and stripped != stripped.upper():
        raise NostrKeyError(
            f"The npub {stripped!r} mixes upper and lower case, which bech32 forbids. "
            "Copy the npub again without editing it."
        )

    data_part = lowered[separator + 1 :]
    invalid = sorted({char for char in data_part if char not in CHARSET})
    if invalid:
        raise NostrKeyError(
            f"The npub {stripped!r} contains characters that are invalid in bech32: "
            f"{''.join(invalid)!r}. Copy the npub again."
        )

    words = [CHARSET.index(char) for char in data_part]
    if len(words) < _CHECKSUM_LENGTH or not bech32_verify_checksum(prefix, words):
        raise NostrKeyError(
            f"The npub {stripped!r} has an invalid bech32 checksum, so it was probably "
            "mistyped or truncated. Copy the npub again."
        )

    # convertbits returns None when the padding bits are not zero.
    payload = convertbits(words[:-_CHECKSUM_LENGTH], 5, 8, False)
    if payload is None:
        raise NostrKeyError(
            f"The npub {stripped!r} has invalid bech32 padding, so its data is not a "
            "whole number of bytes. Copy the npub again."
        )
    if len(payload) != PUBKEY_LENGTH:
        raise NostrKeyError(
            f"The npub {stripped!r} decodes to {len(payload)} bytes, but a public key is "
            f"{PUBKEY_LENGTH} bytes. Copy the npub again."
        )

    pubkey = bytes(payload)
    _check_x_coordinate(pubkey, stripped)
    return pubkey


def encode_npub(pubkey: bytes) -> str:
    """Encode a 32-byte x-only public key as an ``npub1...`` string.

    Raises NostrKeyError unless the key is 32 bytes and the x coordinate of a
    secp256k1 point.
    """
    if len(pubkey) != PUBKEY_LENGTH:
        raise NostrKeyError(
            f"The public key is {len(pubkey)} bytes, but an x-only public key is "
            f"{PUBKEY_LENGTH} bytes. Drop the 02/03 prefix from a 33-byte compressed key."
        )
    _check_x_coordinate(pubkey, pubkey.hex())

    words = convertbits(pubkey, 8, 5, True)
    # convertbits returns None only for values outside 0..255, which bytes cannot contain.
    assert words is not None
    return bech32_encode(NPUB_PREFIX, words)


def _check_prefix(prefix: str) -> None:
    if prefix in _PRIVATE_KEY_PREFIXES:
        raise NostrKeyError(f"This is a private key ({prefix}1...). Never send it, send the npub instead.")
    if prefix in _OTHER_ENTITY_PREFIXES:
        raise NostrKeyError(
            f"This is a NIP-19 {prefix} ({_OTHER_ENTITY_PREFIXES[prefix]}), not a "
            "public key. Send the recipient's npub1... key instead."
        )
    if prefix != NPUB_PREFIX:
        prefix_description = f"prefix {prefix!r}" if prefix else "no bech32 prefix"
        raise NostrKeyError(
            f"The key has {prefix_description}, but a Nostr public key starts with npub1. "
            "Send the recipient's npub1... key."
        )


def _check_x_coordinate(pubkey: bytes, key_text: str) -> None:
    # An x-only key is valid when the even-y point 0x02 || x is on the curve.
    try:
        PublicKey(b"\x02" + pubkey)
    except ValueError as exc:
        raise NostrKeyError(
            f"The public key {key_text!r} is not a valid secp256k1 x coordinate. "
            "Ask the recipient for their npub again."
        ) from exc
