"""Tests for nctool.cashu.crypto, driven by the Cashu spec test vectors (github.com/cashubtc/nuts)."""

# The proof secrets in this file are public spec test vectors, not credentials.

from __future__ import annotations

import hashlib

import pytest
from coincurve import PublicKey

from nctool.cashu.crypto import (
    SECP256K1_ORDER,
    CryptoError,
    blind_bytes,
    blind_message,
    hash_e,
    hash_to_curve,
    parse_point,
    proof_y,
    unblind_signature,
    verify_dleq_proof,
    verify_dleq_signature,
)


def _compressed_hex(point: PublicKey) -> str:
    return point.format(compressed=True).hex()


def _scalar(value: int) -> bytes:
    return value.to_bytes(32, "big")


# Source: cashubtc/nuts tests/00-tests.md, "Hash-to-curve function". Messages are hex-encoded bytes.
HASH_TO_CURVE_VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "024cce997d3b518f739663b757deaec95bcd9473c30a14ac2fd04023a739d1a725",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "022e7158e11c9506f1aa4248bf531298daa7febd6194f003edcd9b93ade6253acf",
    ),
    # The spec notes that this message needs several counter iterations before a valid point.
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "026cdbe15362df59cd1dd3c9c11de8aedac2106eca69236ecd9fbe117af897be4f",
    ),
]

# Source: cashubtc/nuts tests/00-tests.md, "Blinded messages": (x as hex bytes, r, B_).
BLINDED_MESSAGE_VECTORS = [
    (
        "d341ee4871f1f889041e63cf0d3823c713eea6aff01e80f1719f08f9e5be98f6",
        "99fce58439fc37412ab3468b73db0569322588f62fb3a49182d67e23d877824a",
        "033b1a9737a40cc3fd9b6af4b723632b76a67a36782596304612a6c2bfb5197e6d",
    ),
    (
        "f1aaf16c2239746f369572c0784d9dd3d032d952c2d992175873fb58fae31a60",
        "f78476ea7cc9ade20f9e05e58a804cf19533f03ea805ece5fee88c8e2874ba50",
        "029bdf2d716ee366eddf599ba252786c1033f47e230248a4612a5670ab931f1763",
    ),
]

# Source: cashubtc/nuts tests/00-tests.md, "Blinded signatures": (mint private key k, B_, C_).
BLIND_SIGNATURE_VECTORS = [
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
    ),
    (
        "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        "0398bc70ce8184d27ba89834d19f5199c84443c31131e48d3c1214db24247d005d",
    ),
]

# Source: cashubtc/nuts tests/12-tests.md, "hash_e function": (R1, R2, K, C_) and the expected hash.
HASH_E_POINTS = [
    "020000000000000000000000000000000000000000000000000000000000000001",
    "020000000000000000000000000000000000000000000000000000000000000001",
    "020000000000000000000000000000000000000000000000000000000000000001",
    "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
]
HASH_E_EXPECTED = "a4dc034b74338c28c6bc3ea49731f2a24440fc7c4affc08b31a93fc9fbe6401e"

# Source: cashubtc/nuts tests/12-tests.md, "DLEQ verification on BlindSignature" and
# "Deterministic nonce derivation". Both must pass the wallet-side check.
DLEQ_SIGNATURE_VECTORS = {
    "blind_signature": {
        "B_": "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        "C_": "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        "e": "9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73d9",
        "s": "9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73da",
        "A": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    },
    "deterministic_nonce": {
        "B_": "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        "C_": "0244eccfc7a348274458bb38044c7f3c389b3c2086c7ec18b5812d2877ab937787",
        "e": "be53688e1952a916726cf4f031584404c6a79b32ccf0b58f3db9a46794abc1dc",
        "s": "1d6ecdf7ca128c90f65bd64e1f894fad985be8af6b350fece5ca4e9e259a54ad",
        "A": "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
    },
}

# Source: cashubtc/nuts tests/12-tests.md, "DLEQ verification on Proof".
DLEQ_PROOF_VECTOR = {
    "secret": "daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63e9",
    "C": "024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc",
    "r": "a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861",
    "e": "b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4",
    "s": "8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8",
    "A": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
}

# Malformed values. Each must raise CryptoError wherever a point or a scalar is expected.
VALID_POINT = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
MALFORMED_POINTS = {
    "not_hex": "zz" * 33,
    "odd_length": VALID_POINT[:-1],
    "empty": "",
    "too_short": VALID_POINT[:-2],
    "uncompressed_prefix": "04" + VALID_POINT[2:],
    # x = 5 has no y on secp256k1 because 5**3 + 7 = 132 is not a square mod p.
    "x_not_on_curve": "02" + "00" * 31 + "05",
    "whitespace": " " + VALID_POINT,
    "hex_prefix": "0x" + VALID_POINT[2:],
}
MALFORMED_SCALARS = {
    "not_hex": "zz" * 32,
    "too_short": "01" * 31,
    "too_long": "01" * 33,
    "zero": "00" * 32,
    "group_order": f"{SECP256K1_ORDER:064x}",
    "above_group_order": "ff" * 32,
}


def _mint_sign(B_: str, k: bytes) -> str:
    """Sign as the mint does (C_ = k*B_). Pinned by test_mint_sign_helper_matches_spec."""
    return _compressed_hex(PublicKey(bytes.fromhex(B_)).multiply(k))


def _mint_dleq(B_: str, a: bytes, nonce: bytes) -> tuple[str, str]:
    """Produce a NUT-12 DLEQ (e, s) as the mint does, for end-to-end checks."""
    blinded = PublicKey(bytes.fromhex(B_))
    blind_signature = blinded.multiply(a)
    r1 = PublicKey.from_secret(nonce)
    r2 = blinded.multiply(nonce)
    e = hash_e(r1, r2, PublicKey.from_secret(a), blind_signature)
    s = (int.from_bytes(nonce, "big") + int.from_bytes(e, "big") * int.from_bytes(a, "big")) % SECP256K1_ORDER
    return e.hex(), f"{s:064x}"


def _tamper(hex_value: str) -> str:
    """Flip the lowest bit of the last hex digit, keeping length and format."""
    return hex_value[:-1] + f"{int(hex_value[-1], 16) ^ 1:x}"


# hash_to_curve and proof_y


@pytest.mark.parametrize(("message_hex", "expected_point"), HASH_TO_CURVE_VECTORS)
def test_hash_to_curve_spec_vectors(message_hex: str, expected_point: str) -> None:
    assert _compressed_hex(hash_to_curve(bytes.fromhex(message_hex))) == expected_point


def test_hash_to_curve_domain_separated() -> None:
    # A plain "02 || sha256(message)" point would ignore the domain separator.
    message = bytes(32)
    plain = hashlib.sha256(hashlib.sha256(message).digest() + bytes(4)).digest()
    assert _compressed_hex(hash_to_curve(message)) != "02" + plain.hex()


def test_proof_y_hashes_utf8_secret() -> None:
    secret = DLEQ_PROOF_VECTOR["secret"]
    assert proof_y(secret) == _compressed_hex(hash_to_curve(secret.encode("utf-8")))


def test_proof_y_non_ascii_secret() -> None:
    secret = "sécret-✓"
    assert proof_y(secret) == _compressed_hex(hash_to_curve(secret.encode("utf-8")))


# Blinding and unblinding


@pytest.mark.parametrize(("message_hex", "r_hex", "expected_b"), BLINDED_MESSAGE_VECTORS)
def test_blind_bytes_spec_vectors(message_hex: str, r_hex: str, expected_b: str) -> None:
    blinded, blinding_factor = blind_bytes(bytes.fromhex(message_hex), bytes.fromhex(r_hex))
    assert blinded == expected_b
    assert blinding_factor == bytes.fromhex(r_hex)


@pytest.mark.parametrize(("message_hex", "r_hex", "expected_b"), BLINDED_MESSAGE_VECTORS)
def test_blind_message_hashes_utf8_secret(message_hex: str, r_hex: str, expected_b: str) -> None:
    # Wallet secrets are hex strings, and blind_message hashes the string's characters.
    r = bytes.fromhex(r_hex)
    assert blind_message(message_hex, r) == blind_bytes(message_hex.encode("utf-8"), r)
    assert blind_message(message_hex, r)[0] != expected_b


def test_blind_message_random_factor() -> None:
    first_b, first_r = blind_message("secret")
    second_b, second_r = blind_message("secret")
    assert len(first_r) == 32
    assert first_r != second_r
    assert first_b != second_b
    assert _compressed_hex(parse_point(first_b)) == first_b


BAD_BLINDING_FACTORS = [b"", b"\x01" * 31, b"\x01" * 33, _scalar(0), _scalar(SECP256K1_ORDER), b"\xff" * 32]


@pytest.mark.parametrize("r", BAD_BLINDING_FACTORS)
def test_blind_message_rejects_bad_factor(r: bytes) -> None:
    with pytest.raises(CryptoError, match="blinding factor r"):
        blind_message("secret", r)


@pytest.mark.parametrize(("k_hex", "b_hex", "expected_c"), BLIND_SIGNATURE_VECTORS)
def test_mint_sign_helper_matches_spec(k_hex: str, b_hex: str, expected_c: str) -> None:
    assert _mint_sign(b_hex, bytes.fromhex(k_hex)) == expected_c


@pytest.mark.parametrize(("message_hex", "r_hex", "_expected_b"), BLINDED_MESSAGE_VECTORS)
@pytest.mark.parametrize(("k_hex", "_b_hex", "_expected_c"), BLIND_SIGNATURE_VECTORS)
def test_unblind_signature_yields_k_times_y(
    message_hex: str, r_hex: str, _expected_b: str, k_hex: str, _b_hex: str, _expected_c: str
) -> None:
    k = bytes.fromhex(k_hex)
    r = bytes.fromhex(r_hex)
    blinded, _ = blind_message(message_hex, r)
    mint_key = _compressed_hex(PublicKey.from_secret(k))

    unblinded = unblind_signature(_mint_sign(blinded, k), r, mint_key)

    assert unblinded == _compressed_hex(hash_to_curve(message_hex.encode("utf-8")).multiply(k))


@pytest.mark.parametrize("name", sorted(MALFORMED_POINTS))
def test_unblind_rejects_bad_c_(name: str) -> None:
    with pytest.raises(CryptoError, match="invalid C_"):
        unblind_signature(MALFORMED_POINTS[name], _scalar(1), VALID_POINT)


@pytest.mark.parametrize("name", sorted(MALFORMED_POINTS))
def test_unblind_rejects_bad_mint_key(name: str) -> None:
    with pytest.raises(CryptoError, match="invalid K"):
        unblind_signature(VALID_POINT, _scalar(1), MALFORMED_POINTS[name])


@pytest.mark.parametrize("r", BAD_BLINDING_FACTORS)
def test_unblind_rejects_bad_factor(r: bytes) -> None:
    with pytest.raises(CryptoError, match="blinding factor r"):
        unblind_signature(VALID_POINT, r, VALID_POINT)


def test_unblind_infinity_raises() -> None:
    # With C_ = r*K the unblinded point is the point at infinity.
    with pytest.raises(CryptoError, match="infinity"):
        unblind_signature(VALID_POINT, _scalar(1), VALID_POINT)


def test_parse_point_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid B_"):
        parse_point("00", "B_")


# NUT-12 hash_e


def test_hash_e_spec_vector() -> None:
    points = [PublicKey(bytes.fromhex(point)) for point in HASH_E_POINTS]
    assert hash_e(*points).hex() == HASH_E_EXPECTED


# NUT-12 wallet-side check on a BlindSignature


@pytest.mark.parametrize("vector_name", sorted(DLEQ_SIGNATURE_VECTORS))
def test_dleq_signature_spec_vectors(vector_name: str) -> None:
    assert verify_dleq_signature(**DLEQ_SIGNATURE_VECTORS[vector_name]) is True


@pytest.mark.parametrize(
    ("field", "replacement"),
    [
        ("e", _tamper(DLEQ_SIGNATURE_VECTORS["blind_signature"]["e"])),
        ("s", _tamper(DLEQ_SIGNATURE_VECTORS["blind_signature"]["s"])),
        ("A", DLEQ_SIGNATURE_VECTORS["deterministic_nonce"]["A"]),
        ("B_", DLEQ_SIGNATURE_VECTORS["deterministic_nonce"]["C_"]),
        ("C_", DLEQ_SIGNATURE_VECTORS["deterministic_nonce"]["C_"]),
    ],
)
def test_dleq_signature_tampered_fails(field: str, replacement: str) -> None:
    arguments = {**DLEQ_SIGNATURE_VECTORS["blind_signature"], field: replacement}
    assert verify_dleq_signature(**arguments) is False


@pytest.mark.parametrize("field", ["B_", "C_", "A"])
@pytest.mark.parametrize("name", sorted(MALFORMED_POINTS))
def test_dleq_signature_bad_point_raises(field: str, name: str) -> None:
    arguments = {**DLEQ_SIGNATURE_VECTORS["blind_signature"], field: MALFORMED_POINTS[name]}
    with pytest.raises(CryptoError, match=f"invalid {field}"):
        verify_dleq_signature(**arguments)


@pytest.mark.parametrize("field", ["e", "s"])
@pytest.mark.parametrize("name", sorted(MALFORMED_SCALARS))
def test_dleq_signature_bad_scalar_raises(field: str, name: str) -> None:
    arguments = {**DLEQ_SIGNATURE_VECTORS["blind_signature"], field: MALFORMED_SCALARS[name]}
    with pytest.raises(CryptoError, match=f"invalid {field}"):
        verify_dleq_signature(**arguments)


def test_dleq_signature_infinity_fails() -> None:
    # With A = G, e = 1 and s = 1, R1 = s*G - e*A is the point at infinity.
    arguments = {
        **DLEQ_SIGNATURE_VECTORS["blind_signature"],
        "A": VALID_POINT,
        "e": "00" * 31 + "01",
        "s": "00" * 31 + "01",
    }
    assert verify_dleq_signature(**arguments) is False


# NUT-12 receiver-side check on a Proof


def test_dleq_proof_spec_vector() -> None:
    assert verify_dleq_proof(**DLEQ_PROOF_VECTOR) is True


@pytest.mark.parametrize(
    ("field", "replacement"),
    [
        ("secret", _tamper(DLEQ_PROOF_VECTOR["secret"])),
        ("C", DLEQ_SIGNATURE_VECTORS["deterministic_nonce"]["C_"]),
        ("r", _tamper(DLEQ_PROOF_VECTOR["r"])),
        ("e", _tamper(DLEQ_PROOF_VECTOR["e"])),
        ("s", _tamper(DLEQ_PROOF_VECTOR["s"])),
        ("A", DLEQ_SIGNATURE_VECTORS["deterministic_nonce"]["A"]),
    ],
)
def test_dleq_proof_tampered_fails(field: str, replacement: str) -> None:
    arguments = {**DLEQ_PROOF_VECTOR, field: replacement}
    assert verify_dleq_proof(**arguments) is False


@pytest.mark.parametrize("field", ["C", "A"])
@pytest.mark.parametrize("name", sorted(MALFORMED_POINTS))
def test_dleq_proof_bad_point_raises(field: str, name: str) -> None:
    arguments = {**DLEQ_PROOF_VECTOR, field: MALFORMED_POINTS[name]}
    with pytest.raises(CryptoError, match=f"invalid {field}"):
        verify_dleq_proof(**arguments)


@pytest.mark.parametrize("field", ["r", "e", "s"])
@pytest.mark.parametrize("name", sorted(MALFORMED_SCALARS))
def test_dleq_proof_bad_scalar_raises(field: str, name: str) -> None:
    arguments = {**DLEQ_PROOF_VECTOR, field: MALFORMED_SCALARS[name]}
    with pytest.raises(CryptoError, match=f"invalid {field}"):
        verify_dleq_proof(**arguments)


def test_dleq_end_to_end_with_blinding() -> None:
    mint_secret = _scalar(0x1234567890ABCDEF)
    mint_key = _compressed_hex(PublicKey.from_secret(mint_secret))
    secret = "407915bc212be61a77e3e6d2aeb4c727980bda51cd06a6afc29e2861768a7837"
    blinded, r = blind_message(secret)
    blind_signature = _mint_sign(blinded, mint_secret)
    e, s = _mint_dleq(blinded, mint_secret, nonce=_scalar(0xC0FFEE))

    signature = unblind_signature(blind_signature, r, mint_key)

    assert verify_dleq_signature(blinded, blind_signature, e, s, mint_key) is True
    assert verify_dleq_proof(secret, signature, r.hex(), e, s, mint_key) is True
