"""Tests for NIP-19 npub decoding and encoding."""

from __future__ import annotations

import pytest
from bech32 import bech32_encode, convertbits
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from nctool.nostr.nip19 import NostrKeyError, decode_npub, encode_npub

# Examples from NIP-19, https://github.com/nostr-protocol/nips/blob/master/19.md
SPEC_VECTORS = [
    (
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
    ),
    (
        "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6",
        "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
    ),
]
SPEC_NPUB, SPEC_HEX = SPEC_VECTORS[0]
SPEC_NSEC = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
SPEC_NPROFILE = (
    "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3"
    "k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p"
)
# Test vector from NIP-49, https://github.com/nostr-protocol/nips/blob/master/49.md
NIP49_NCRYPTSEC = (
    "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl"
    "8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
)


def _bech32(prefix: str, payload: bytes) -> str:
    words = convertbits(payload, 8, 5, True)
    assert words is not None
    return bech32_encode(prefix, words)


def _decode_error(text: str) -> str:
    with pytest.raises(NostrKeyError) as excinfo:
        decode_npub(text)
    return str(excinfo.value)


@pytest.mark.parametrize(("npub", "pubkey_hex"), SPEC_VECTORS)
def test_decode_spec_vector(npub: str, pubkey_hex: str) -> None:
    assert decode_npub(npub) == bytes.fromhex(pubkey_hex)


@pytest.mark.parametrize(("npub", "pubkey_hex"), SPEC_VECTORS)
def test_encode_spec_vector(npub: str, pubkey_hex: str) -> None:
    assert encode_npub(bytes.fromhex(pubkey_hex)) == npub


@pytest.mark.parametrize("text", [f"  {SPEC_NPUB}\n", f"\t{SPEC_NPUB} "])
def test_decode_strips_whitespace(text: str) -> None:
    assert decode_npub(text) == bytes.fromhex(SPEC_HEX)


def test_decode_accepts_upper_case() -> None:
    assert decode_npub(SPEC_NPUB.upper()) == bytes.fromhex(SPEC_HEX)


def test_error_is_value_error() -> None:
    assert issubclass(NostrKeyError, ValueError)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_decode_empty(text: str) -> None:
    message = _decode_error(text)
    assert "empty" in message
    assert "npub1" in message


@pytest.mark.parametrize("text", [SPEC_NSEC, SPEC_NSEC.upper(), f" {SPEC_NSEC} ", SPEC_NSEC[:-1]])
def test_decode_nsec(text: str) -> None:
    message = _decode_error(text)
    assert "private key" in message
    assert "Never send it, send the npub" in message
    assert SPEC_NSEC[5:].lower() not in message.lower()


def test_decode_ncryptsec() -> None:
    message = _decode_error(NIP49_NCRYPTSEC)
    assert "private key" in message
    assert "Never send it" in message


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        (_bech32("note", bytes.fromhex(SPEC_HEX)), "note"),
        (SPEC_NPROFILE, "nprofile"),
        (_bech32("nevent", bytes(34)), "nevent"),
        (_bech32("naddr", bytes(40)), "naddr"),
        (_bech32("nrelay", b"\x00\x0dwss://r.x.com"), "nrelay"),
    ],
)
def test_decode_other_nip19_entity(text: str, prefix: str) -> None:
    message = _decode_error(text)
    assert f"NIP-19 {prefix}" in message
    assert "not a public key" in message
    assert "npub1" in message


@pytest.mark.parametrize("text", ["hello", "lnbc1xyz", "nostr:" + SPEC_NPUB, "1abc"])
def test_decode_unknown_prefix(text: str) -> None:
    message = _decode_error(text)
    assert "starts with npub1" in message


@pytest.mark.parametrize("text", [SPEC_HEX, SPEC_HEX.upper(), "02" + SPEC_HEX])
def test_decode_hex_key(text: str) -> None:
    message = _decode_error(text)
    assert "as npub with NIP-19" in message
    assert text not in message


def test_decode_bad_checksum() -> None:
    last = SPEC_NPUB[-1]
    replacement = "q" if last != "q" else "p"
    message = _decode_error(SPEC_NPUB[:-1] + replacement)
    assert "checksum" in message
    assert "Copy the npub again" in message


def test_decode_truncated() -> None:
    message = _decode_error(SPEC_NPUB[:-10])
    assert "checksum" in message


def test_decode_mixed_case() -> None:
    mixed = SPEC_NPUB[:10] + SPEC_NPUB[10:].upper()
    message = _decode_error(mixed)
    assert "mixes upper and lower case" in message


@pytest.mark.parametrize("char", ["b", "i", "o"])
def test_decode_invalid_character(char: str) -> None:
    message = _decode_error(SPEC_NPUB[:20] + char + SPEC_NPUB[21:])
    assert "invalid in bech32" in message
    assert repr(char) in message


@pytest.mark.parametrize("length", [0, 20, 31, 33, 64])
def test_decode_wrong_length(length: int) -> None:
    message = _decode_error(_bech32("npub", b"\x01" * length))
    assert f"decodes to {length} bytes" in message
    assert "32 bytes" in message


def test_decode_nonzero_padding() -> None:
    words = convertbits(bytes.fromhex(SPEC_HEX), 8, 5, True)
    assert words is not None
    # 32 bytes fill 52 five-bit words with 4 padding bits, which must be zero.
    words[-1] |= 1
    message = _decode_error(bech32_encode("npub", words))
    assert "padding" in message


@pytest.mark.parametrize(
    "x_hex",
    [
        "00" * 32,
        "ff" * 32,
        # The field prime p is not a valid x coordinate because x must be less than p.
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f",
    ],
)
def test_decode_invalid_x_coordinate(x_hex: str) -> None:
    message = _decode_error(_bech32("npub", bytes.fromhex(x_hex)))
    assert "not a valid secp256k1 x coordinate" in message


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_encode_wrong_length(length: int) -> None:
    with pytest.raises(NostrKeyError) as excinfo:
        encode_npub(b"\x02" * length)
    message = str(excinfo.value)
    assert f"is {length} bytes" in message
    assert "32 bytes" in message


def test_encode_invalid_x_coordinate() -> None:
    with pytest.raises(NostrKeyError) as excinfo:
        encode_npub(b"\x00" * 32)
    assert "not a valid secp256k1 x coordinate" in str(excinfo.value)


@given(st.binary(min_size=32, max_size=32))
def test_round_trip_random_key(secret: bytes) -> None:
    try:
        private_key = PrivateKey(secret)
    except ValueError:
        # Zero and values of at least the group order are not private keys.
        return
    pubkey = private_key.public_key.format(compressed=True)[1:]
    npub = encode_npub(pubkey)
    assert npub.startswith("npub1")
    assert len(npub) == 63
    assert decode_npub(npub) == pubkey


@given(st.text(max_size=120))
def test_decode_arbitrary_text_raises_only_nostr_key_error(text: str) -> None:
    try:
        decode_npub(text)
    except NostrKeyError:
        pass


@given(st.text(alphabet="qpzry9x8gf2tvdw0s3jn54khce6mua7l", min_size=1, max_size=70))
def test_decode_bech32_text_raises_key_error(data: str) -> None:
    try:
        assert len(decode_npub("npub1" + data)) == 32
    except NostrKeyError:
        pass
