"""Tests for nctool.cashu.tokens, driven by the NUT-00 token vectors (github.com/cashubtc/nuts)."""

# The proof secrets in this file are public spec test vectors, not credentials.

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nctool.cashu.models import DLEQ, Proof, Token
from nctool.cashu.tokens import TokenDecodeError, decode_token, encode_token_v3, encode_token_v4

# Source: cashubtc/nuts tests/00-tests.md, "Serialization of TokenV3" (JSON and serialized form).
V3_DOCUMENT: dict[str, Any] = {
    "token": [
        {
            "mint": "https://8333.space:3338",
            "proofs": [
                {
                    "amount": 2,
                    "id": "009a1f293253e41e",
                    "secret": "407915bc212be61a77e3e6d2aeb4c727980bda51cd06a6afc29e2861768a7837",
                    "C": "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
                },
                {
                    "amount": 8,
                    "id": "009a1f293253e41e",
                    "secret": "fe15109314e61d7756b0f8ee0f23a624acaa3f4e042f61433c728c7057b931be",
                    "C": "029e8e5050b890a7d6c0968db16bc1d5d5fa040ea1de284f6ec69d61299f671059",
                },
            ],
        }
    ],
    "unit": "sat",
    "memo": "Thank you.",
}
V3_SERIALIZED = (
    "cashuAeyJ0b2tlbiI6W3sibWludCI6Imh0dHBzOi8vODMzMy5zcGFjZTozMzM4IiwicHJvb2ZzIjpbeyJhbW91bnQiOjIsImlk"
    "IjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6IjQwNzkxNWJjMjEyYmU2MWE3N2UzZTZkMmFlYjRjNzI3OTgwYmRhNTFjZDA2"
    "YTZhZmMyOWUyODYxNzY4YTc4MzciLCJDIjoiMDJiYzkwOTc5OTdkODFhZmIyY2M3MzQ2YjVlNDM0NWE5MzQ2YmQyYTUwNmViNzk1"
    "ODU5OGE3MmYwY2Y4NTE2M2VhIn0seyJhbW91bnQiOjgsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6ImZlMTUxMDkz"
    "MTRlNjFkNzc1NmIwZjhlZTBmMjNhNjI0YWNhYTNmNGUwNDJmNjE0MzNjNzI4YzcwNTdiOTMxYmUiLCJDIjoiMDI5ZThlNTA1MGI4"
    "OTBhN2Q2YzA5NjhkYjE2YmMxZDVkNWZhMDQwZWExZGUyODRmNmVjNjlkNjEyOTlmNjcxMDU5In1dfV0sInVuaXQiOiJzYXQiLCJt"
    "ZW1vIjoiVGhhbmsgeW91LiJ9"
)
# Source: cashubtc/nuts tests/00-tests.md, "Deserialization of TokenV3": incorrectly formatted tokens.
V3_INVALID = {
    "wrong_prefix_casshuA": "casshuA" + V3_SERIALIZED.removeprefix("cashuA"),
    "no_prefix": V3_SERIALIZED.removeprefix("cashuA"),
}

# Source: cashubtc/nuts tests/00-tests.md, "Serialization of TokenV4", "Single keyset".
V4_SINGLE_KEYSET = (
    "cashuBpGF0gaJhaUgArSaMTR9YJmFwgaNhYQFhc3hAOWE2ZGJiODQ3YmQyMzJiYTc2ZGIwZGYxOTcyMTZiMjlkM2I4Y2MxNDU1M2Nk"
    "Mjc4MjdmYzFjYzk0MmZlZGI0ZWFjWCEDhhhUP_trhpXfStS6vN6So0qWvc2X3O4NfM-Y1HISZ5JhZGlUaGFuayB5b3VhbXVodHRw"
    "Oi8vbG9jYWxob3N0OjMzMzhhdWNzYXQ="
)
V4_SINGLE_KEYSET_TOKEN = Token(
    mint="http://localhost:3338",
    unit="sat",
    memo="Thank you",
    proofs=[
        Proof(
            id="00ad268c4d1f5826",
            amount=1,
            secret="9a6dbb847bd232ba76db0df197216b29d3b8cc14553cd27827fc1cc942fedb4e",
            C="038618543ffb6b8695df4ad4babcde92a34a96bdcd97dcee0d7ccf98d472126792",
        )
    ],
)

# Source: cashubtc/nuts tests/00-tests.md, "Serialization of TokenV4", "Multiple keysets".
V4_MULTIPLE_KEYSETS = (
    "cashuBo2F0gqJhaUgA_9SLj17PgGFwgaNhYQFhc3hAYWNjMTI0MzVlN2I4NDg0YzNjZjE4NTAxNDkyMThhZjkwZjcxNmE1MmJmNGE1"
    "ZWQzNDdlNDhlY2MxM2Y3NzM4OGFjWCECRFODGd5IXVW-07KaZCvuWHk3WrnnpiDhHki6SCQh88-iYWlIAK0mjE0fWCZhcIKjYWECYXN4"
    "QDEzMjNkM2Q0NzA3YTU4YWQyZTIzYWRhNGU5ZjFmNDlmNWE1YjRhYzdiNzA4ZWIwZDYxZjczOGY0ODMwN2U4ZWVhY1ghAjRWqhENhLSs"
    "dHrr2Cw7AFrKUL9Ffr1XN6RBT6w659lNo2FhAWFzeEA1NmJjYmNiYjdjYzY0MDZiM2ZhNWQ1N2QyMTc0ZjRlZmY4YjQ0MDJiMTc2OTI2"
    "ZDNhNTdkM2MzZGNiYjU5ZDU3YWNYIQJzEpxXGeWZN5qXSmJjY8MzxWyvwObQGr5G1YCCgHicY2FtdWh0dHA6Ly9sb2NhbGhvc3Q6MzMz"
    "OGF1Y3NhdA=="
)
V4_MULTIPLE_KEYSETS_TOKEN = Token(
    mint="http://localhost:3338",
    unit="sat",
    memo=None,
    proofs=[
        Proof(
            id="00ffd48b8f5ecf80",
            amount=1,
            secret="acc12435e7b8484c3cf1850149218af90f716a52bf4a5ed347e48ecc13f77388",
            C="0244538319de485d55bed3b29a642bee5879375ab9e7a620e11e48ba482421f3cf",
        ),
        Proof(
            id="00ad268c4d1f5826",
            amount=2,
            secret="1323d3d4707a58ad2e23ada4e9f1f49f5a5b4ac7b708eb0d61f738f48307e8ee",
            C="023456aa110d84b4ac747aebd82c3b005aca50bf457ebd5737a4414fac3ae7d94d",
        ),
        Proof(
            id="00ad268c4d1f5826",
            amount=1,
            secret="56bcbcbb7cc6406b3fa5d57d2174f4eff8b4402b176926d3a57d3c3dcbb59d57",
            C="0273129c5719e599379a974a626363c333c56cafc0e6d01abe46d5808280789c63",
        ),
    ],
)

V3_TOKEN = Token(
    mint="https://8333.space:3338",
    unit="sat",
    memo="Thank you.",
    proofs=[Proof(**proof) for proof in V3_DOCUMENT["token"][0]["proofs"]],
)

# A token with the optional DLEQ and witness fields, which the spec vectors do not cover.
# The DLEQ values are the proof vector from cashubtc/nuts tests/12-tests.md.
TOKEN_WITH_OPTIONAL_FIELDS = Token(
    mint="https://mint.example",
    unit="usd",
    memo=None,
    proofs=[
        Proof(
            id="00882760bfa2eb41",
            amount=1,
            secret="daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63e9",
            C="024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc",
            dleq=DLEQ(
                e="b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4",
                s="8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8",
                r="a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861",
            ),
            witness='{"signatures":["00"]}',
        ),
        Proof(
            id="00882760bfa2eb41",
            amount=4,
            secret="407915bc212be61a77e3e6d2aeb4c727980bda51cd06a6afc29e2861768a7837",
            C="02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
            dleq=DLEQ(
                e="9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73d9",
                s="9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73da",
            ),
        ),
    ],
)

ALL_TOKENS = {
    "v3_vector": V3_TOKEN,
    "v4_single_keyset": V4_SINGLE_KEYSET_TOKEN,
    "v4_multiple_keysets": V4_MULTIPLE_KEYSETS_TOKEN,
    "optional_fields": TOKEN_WITH_OPTIONAL_FIELDS,
}
ENCODERS = {"v3": encode_token_v3, "v4": encode_token_v4}


def _v3(document: Any) -> str:
    """Serialize any JSON value as a V3 token string."""
    return "cashuA" + base64.urlsafe_b64encode(json.dumps(document).encode("utf-8")).decode("ascii")


def _v4(document: Any) -> str:
    """Serialize any CBOR value as a V4 token string."""
    return "cashuB" + base64.urlsafe_b64encode(cbor2.dumps(document)).decode("ascii")


def _v3_raw(payload: bytes) -> str:
    """Serialize raw bytes as a V3 token string."""
    return "cashuA" + base64.urlsafe_b64encode(payload).decode("ascii")


def _v4_raw(payload: bytes) -> str:
    """Serialize raw bytes as a V4 token string."""
    return "cashuB" + base64.urlsafe_b64encode(payload).decode("ascii")


def _v3_with(path: tuple[Any, ...], value: Any) -> str:
    """Serialize the V3 vector with the value at `path` replaced."""
    document = copy.deepcopy(V3_DOCUMENT)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return _v3(document)


def _v3_without(path: tuple[Any, ...]) -> str:
    """Serialize the V3 vector with the key at `path` removed."""
    document = copy.deepcopy(V3_DOCUMENT)
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return _v3(document)


def _v4_document() -> dict[str, Any]:
    return dict(cbor2.loads(base64.urlsafe_b64decode(V4_SINGLE_KEYSET.removeprefix("cashuB"))))


def _v4_with(path: tuple[Any, ...], value: Any) -> str:
    """Serialize the single-keyset V4 vector with the value at `path` replaced."""
    document = _v4_document()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return _v4(document)


def _v4_without(path: tuple[Any, ...]) -> str:
    """Serialize the single-keyset V4 vector with the key at `path` removed."""
    document = _v4_document()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return _v4(document)


# V3 vectors


def test_decode_v3_vector_token_fields() -> None:
    token = decode_token(V3_SERIALIZED)
    assert token.mint == "https://8333.space:3338"
    assert token.unit == "sat"
    assert token.memo == "Thank you."
    assert token.amount == 10


def test_decode_v3_vector_proofs() -> None:
    assert decode_token(V3_SERIALIZED).proofs == V3_TOKEN.proofs


def test_encode_v3_matches_vector() -> None:
    assert encode_token_v3(V3_TOKEN) == V3_SERIALIZED


@pytest.mark.parametrize("name", sorted(V3_INVALID))
def test_decode_v3_invalid_vectors(name: str) -> None:
    with pytest.raises(TokenDecodeError, match="cashuA"):
        decode_token(V3_INVALID[name])


# V4 vectors


def test_decode_v4_single_keyset_vector() -> None:
    assert decode_token(V4_SINGLE_KEYSET) == V4_SINGLE_KEYSET_TOKEN


def test_decode_v4_multiple_keysets_vector() -> None:
    assert decode_token(V4_MULTIPLE_KEYSETS) == V4_MULTIPLE_KEYSETS_TOKEN


@pytest.mark.parametrize(
    ("token", "expected"),
    [(V4_SINGLE_KEYSET_TOKEN, V4_SINGLE_KEYSET), (V4_MULTIPLE_KEYSETS_TOKEN, V4_MULTIPLE_KEYSETS)],
    ids=["single_keyset", "multiple_keysets"],
)
def test_encode_v4_matches_vector(token: Token, expected: str) -> None:
    # The spec vectors carry base64 padding, and the encoder omits it.
    assert encode_token_v4(token) == expected.rstrip("=")


# Round trips


@pytest.mark.parametrize("encoder_name", sorted(ENCODERS))
@pytest.mark.parametrize("token_name", sorted(ALL_TOKENS))
def test_round_trip_preserves_token(encoder_name: str, token_name: str) -> None:
    token = ALL_TOKENS[token_name]
    assert decode_token(ENCODERS[encoder_name](token)) == token


def _cbor_document(token_text: str) -> Any:
    """Decode the CBOR payload of an unpadded V4 token string, independently of decode_token."""
    payload = token_text.removeprefix("cashuB")
    return cbor2.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_encode_v4_groups_by_keyset() -> None:
    document = _cbor_document(encode_token_v4(V4_MULTIPLE_KEYSETS_TOKEN))
    assert [group["i"].hex() for group in document["t"]] == ["00ffd48b8f5ecf80", "00ad268c4d1f5826"]
    assert [len(group["p"]) for group in document["t"]] == [1, 2]


def test_encode_v4_dleq_as_bytes() -> None:
    document = _cbor_document(encode_token_v4(TOKEN_WITH_OPTIONAL_FIELDS))
    dleq = document["t"][0]["p"][0]["d"]
    assert dleq["e"] == bytes.fromhex("b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4")
    assert dleq["r"] == bytes.fromhex("a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861")


def test_encode_v4_has_no_padding() -> None:
    assert not encode_token_v4(V4_MULTIPLE_KEYSETS_TOKEN).endswith("=")


# Tolerated input forms

TOLERATED_FORMS = {
    "v3_surrounding_whitespace": ("  \n" + V3_SERIALIZED + "\t\n", V3_TOKEN),
    "v3_uri_prefix": ("cashu:" + V3_SERIALIZED, V3_TOKEN),
    "v3_uppercase_uri_prefix": ("CASHU:" + V3_SERIALIZED, V3_TOKEN),
    "v4_missing_padding": (V4_MULTIPLE_KEYSETS.rstrip("="), V4_MULTIPLE_KEYSETS_TOKEN),
    "v4_uri_prefix_and_whitespace": (" cashu:" + V4_SINGLE_KEYSET + "\n", V4_SINGLE_KEYSET_TOKEN),
    "v4_standard_base64_alphabet": (
        V4_SINGLE_KEYSET.replace("-", "+").replace("_", "/"),
        V4_SINGLE_KEYSET_TOKEN,
    ),
}


@pytest.mark.parametrize("name", sorted(TOLERATED_FORMS))
def test_decode_tolerated_forms(name: str) -> None:
    text, expected = TOLERATED_FORMS[name]
    assert decode_token(text) == expected


def test_decode_v3_missing_unit_is_sat() -> None:
    assert decode_token(_v3_without(("unit",))).unit == "sat"


def test_decode_v3_missing_memo_is_none() -> None:
    assert decode_token(_v3_without(("memo",))).memo is None


def test_decode_v3_merges_same_mint_entries() -> None:
    document = copy.deepcopy(V3_DOCUMENT)
    document["token"].append(copy.deepcopy(document["token"][0]))
    token = decode_token(_v3(document))
    assert token.mint == "https://8333.space:3338"
    assert len(token.proofs) == 4


# Rejected input: (token text, expected message fragment)

SECOND_MINT_ENTRY = {**V3_DOCUMENT["token"][0], "mint": "https://other.mint"}
REJECTED_INPUTS = {
    "empty_string": ("", "cashuA"),
    "whitespace_only": ("  \n", "cashuA"),
    "unknown_version": ("cashuC" + V3_SERIALIZED[6:], "cashuA"),
    "uri_prefix_only": ("cashu:", "cashuA"),
    "v3_bad_base64": ("cashuA!!!!", "not valid base64"),
    "v3_inner_whitespace": (V3_SERIALIZED[:50] + " " + V3_SERIALIZED[50:], "not valid base64"),
    "v3_one_char_payload": ("cashuAe", "not valid base64"),
    "v3_empty_payload": ("cashuA", "not valid JSON"),
    "v3_not_json": ("cashuA" + base64.urlsafe_b64encode(b"{not json").decode(), "not valid JSON"),
    "v3_deeply_nested": (_v3_raw(b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
    "v3_invalid_utf8": (_v3_raw(b'{"token": "\xff"}'), "not valid JSON"),
    "v3_top_level_list": (_v3([V3_DOCUMENT]), "JSON object"),
    "v3_token_missing": (_v3_without(("token",)), "'token' must be a non-empty list"),
    "v3_token_empty": (_v3_with(("token",), []), "'token' must be a non-empty list"),
    "v3_entry_not_object": (_v3_with(("token", 0), "mint"), "entry 0: expected a JSON object"),
    "v3_multi_mint": (
        _v3({**V3_DOCUMENT, "token": [V3_DOCUMENT["token"][0], SECOND_MINT_ENTRY]}),
        "multi-mint tokens are not supported",
    ),
    "v3_mint_missing": (_v3_without(("token", 0, "mint")), "'mint': expected a string, got null"),
    "v3_mint_empty": (_v3_with(("token", 0, "mint"), ""), "mint URL is missing"),
    "v3_proofs_empty": (_v3_with(("token", 0, "proofs"), []), "'proofs' must be a non-empty list"),
    "v3_proof_not_object": (_v3_with(("token", 0, "proofs", 1), 8), "proof 1: expected a JSON object"),
    "v3_amount_zero": (
        _v3_with(("token", 0, "proofs", 0, "amount"), 0),
        "proof 0: amount 0 is not a positive integer",
    ),
    "v3_amount_negative": (_v3_with(("token", 0, "proofs", 1, "amount"), -8), "proof 1: amount -8 is not"),
    "v3_amount_string": (_v3_with(("token", 0, "proofs", 0, "amount"), "2"), "expected an integer, got str"),
    "v3_amount_float": (_v3_with(("token", 0, "proofs", 0, "amount"), 2.0), "expected an integer, got float"),
    "v3_amount_bool": (_v3_with(("token", 0, "proofs", 0, "amount"), True), "expected an integer, got bool"),
    "v3_amount_huge_negative": (
        _v3_with(("token", 0, "proofs", 0, "amount"), -(10**100)),
        "amount \\(out of range\\) is not a positive integer",
    ),
    "v3_id_not_hex": (
        _v3_with(("token", 0, "proofs", 0, "id"), "I2yN+iRYfkzT"),
        "keyset id 'I2yN\\+iRYfkzT'",
    ),
    "v3_id_missing": (_v3_without(("token", 0, "proofs", 0, "id")), "proof 0 'id': expected a string"),
    "v3_secret_not_string": (_v3_with(("token", 0, "proofs", 0, "secret"), 7), "proof 0 'secret'"),
    "v3_c_not_hex": (_v3_with(("token", 0, "proofs", 0, "C"), "02xyz0"), "proof 0 C: expected a non-empty"),
    "v3_dleq_not_object": (_v3_with(("token", 0, "proofs", 0, "dleq"), "e"), "proof 0 'dleq'"),
    "v3_dleq_e_not_hex": (
        _v3_with(("token", 0, "proofs", 0, "dleq"), {"e": "zz", "s": "00"}),
        "proof 0 DLEQ e",
    ),
    "v3_witness_not_string": (_v3_with(("token", 0, "proofs", 0, "witness"), {"signatures": []}), "witness"),
    "v3_unit_not_string": (_v3_with(("unit",), 1), "'unit': expected a string"),
    "v3_memo_not_string": (_v3_with(("memo",), ["x"]), "'memo': expected a string"),
    "v4_bad_base64": ("cashuB%%%%", "not valid base64"),
    "v4_empty_payload": ("cashuB", "not valid CBOR"),
    "v4_truncated_cbor": (V4_SINGLE_KEYSET[:60], "not valid CBOR"),
    "v4_json_payload": ("cashuB" + V3_SERIALIZED[6:], "not valid CBOR|CBOR map"),
    "v4_deeply_nested": (_v4_raw(b"\x81" * 100_000 + b"\x00"), "not valid CBOR"),
    # Tag 1 (epoch datetime) around a text string makes cbor2's tag decoder fail.
    "v4_bad_datetime_tag": (_v4_raw(b"\xc1\x61x"), "not valid CBOR"),
    "v4_top_level_list": (_v4([1, 2]), "CBOR map at the top level"),
    "v4_t_missing": (_v4_without(("t",)), "'t' must be a non-empty array"),
    "v4_t_empty": (_v4_with(("t",), []), "'t' must be a non-empty array"),
    "v4_group_not_map": (_v4_with(("t", 0), [1]), "keyset entry 0: expected a CBOR map"),
    "v4_keyset_id_string": (_v4_with(("t", 0, "i"), "00ad268c4d1f5826"), "keyset id 'i': expected a byte"),
    "v4_keyset_id_empty": (_v4_with(("t", 0, "i"), b""), "keyset id 'i': the byte string is empty"),
    "v4_proofs_empty": (_v4_with(("t", 0, "p"), []), "'p' must be a non-empty array"),
    "v4_proof_not_map": (_v4_with(("t", 0, "p", 0), "proof"), "proof 0: expected a CBOR map"),
    "v4_amount_zero": (_v4_with(("t", 0, "p", 0, "a"), 0), "proof 0: amount 0 is not a positive integer"),
    "v4_amount_bytes": (_v4_with(("t", 0, "p", 0, "a"), b"\x01"), "expected an integer, got bytes"),
    "v4_amount_huge_negative": (_v4_with(("t", 0, "p", 0, "a"), -(2**300)), "out of range"),
    "v4_secret_bytes": (_v4_with(("t", 0, "p", 0, "s"), b"\x01"), "secret 's': expected a string"),
    "v4_c_string": (_v4_with(("t", 0, "p", 0, "c"), "02ab"), "signature 'c': expected a byte string"),
    "v4_dleq_not_map": (_v4_with(("t", 0, "p", 0, "d"), b"\x01"), "DLEQ 'd': expected a CBOR map"),
    "v4_dleq_s_missing": (
        _v4_with(("t", 0, "p", 0, "d"), {"e": b"\x01"}),
        "DLEQ 's': expected a byte string",
    ),
    "v4_dleq_r_string": (
        _v4_with(("t", 0, "p", 0, "d"), {"e": b"\x01", "s": b"\x02", "r": "03"}),
        "DLEQ 'r': expected a byte string",
    ),
    "v4_witness_bytes": (_v4_with(("t", 0, "p", 0, "w"), b"{}"), "witness 'w': expected a string"),
    "v4_mint_missing": (_v4_without(("m",)), "mint 'm': expected a string, got null"),
    "v4_unit_missing": (_v4_without(("u",)), "unit 'u': expected a string, got null"),
    "v4_unit_empty": (_v4_with(("u",), ""), "the unit is missing"),
    "v4_memo_not_string": (_v4_with(("d",), 5), "memo 'd': expected a string"),
}


@pytest.mark.parametrize("name", sorted(REJECTED_INPUTS))
def test_decode_rejects_invalid_input(name: str) -> None:
    text, message = REJECTED_INPUTS[name]
    with pytest.raises(TokenDecodeError, match=message):
        decode_token(text)


def test_decode_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="cashuA"):
        decode_token("not a token")


def test_decode_error_omits_secret() -> None:
    secret = V3_DOCUMENT["token"][0]["proofs"][0]["secret"]
    with pytest.raises(TokenDecodeError) as raised:
        decode_token(_v3_with(("token", 0, "proofs", 0, "amount"), 0))
    assert secret not in str(raised.value)


def test_decode_error_omits_dleq_r() -> None:
    bad_r = "abc"
    with pytest.raises(TokenDecodeError) as raised:
        decode_token(_v3_with(("token", 0, "proofs", 0, "dleq"), {"e": "00", "s": "00", "r": bad_r}))
    assert bad_r not in str(raised.value)


def test_decode_error_chains_cause() -> None:
    with pytest.raises(TokenDecodeError) as raised:
        decode_token("cashuA!!!!")
    assert raised.value.__cause__ is not None


# Encoder input checks

INVALID_FOR_ENCODING = {
    "no_proofs": Token(mint="https://mint.example", unit="sat", proofs=[]),
    "zero_amount": Token(
        mint="https://mint.example", unit="sat", proofs=[Proof(id="00ab", amount=0, secret="x", C="02ab")]
    ),
    "id_not_hex": Token(
        mint="https://mint.example", unit="sat", proofs=[Proof(id="xyz", amount=1, secret="x", C="02ab")]
    ),
    "empty_mint": Token(mint="", unit="sat", proofs=[Proof(id="00ab", amount=1, secret="x", C="02ab")]),
}


@pytest.mark.parametrize("encoder_name", sorted(ENCODERS))
@pytest.mark.parametrize("token_name", sorted(INVALID_FOR_ENCODING))
def test_encode_rejects_invalid_token(encoder_name: str, token_name: str) -> None:
    with pytest.raises(ValueError, match="cannot encode token"):
        ENCODERS[encoder_name](INVALID_FOR_ENCODING[token_name])


# Arbitrary input: decode_token may raise TokenDecodeError and nothing else.

PREFIXES = st.sampled_from(["cashuA", "cashuB", "cashu:cashuA", " cashuB"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["t", "i", "p", "a", "s", "c", "d", "w", "m", "u", "e", "r"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def _decodes_or_raises_token_error(text: str) -> None:
    """Fail the test if decode_token raises anything other than TokenDecodeError."""
    try:
        decode_token(text)
    except TokenDecodeError:
        pass


@settings(max_examples=300)
@given(st.text())
def test_decode_arbitrary_text(text: str) -> None:
    _decodes_or_raises_token_error(text)


@settings(max_examples=300)
@given(PREFIXES, st.binary(max_size=200), st.booleans())
def test_decode_base64_garbage(prefix: str, payload: bytes, strip_padding: bool) -> None:
    encoded = base64.urlsafe_b64encode(payload).decode("ascii")
    _decodes_or_raises_token_error(prefix + (encoded.rstrip("=") if strip_padding else encoded))


@settings(max_examples=300)
@given(PREFIXES, st.text(alphabet="ABCDEFabcdef0123456789-_+/=", max_size=200))
def test_decode_base64_alphabet_garbage(prefix: str, payload: str) -> None:
    _decodes_or_raises_token_error(prefix + payload)


@settings(max_examples=300)
@given(JSON_VALUES)
def test_decode_arbitrary_v3_json(document: Any) -> None:
    _decodes_or_raises_token_error(_v3(document))


@settings(max_examples=300)
@given(CBOR_VALUES)
def test_decode_arbitrary_v4_cbor(document: Any) -> None:
    _decodes_or_raises_token_error(_v4(document))


@settings(max_examples=300)
@given(
    st.sampled_from(["amount", "id", "secret", "C", "dleq", "witness"]),
    JSON_VALUES,
)
def test_decode_v3_mutated_proof_field(field: str, value: Any) -> None:
    _decodes_or_raises_token_error(_v3_with(("token", 0, "proofs", 0, field), value))


@settings(max_examples=300)
@given(st.sampled_from(["a", "s", "c", "d", "w"]), CBOR_VALUES)
def test_decode_v4_mutated_proof_field(field: str, value: Any) -> None:
    _decodes_or_raises_token_error(_v4_with(("t", 0, "p", 0, field), value))


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=300))
def test_decode_v4_tagged_cbor_garbage(payload: bytes) -> None:
    # Major type 6 (0xc0-0xdb) starts a semantic tag, which makes cbor2 run a tag decoder.
    _decodes_or_raises_token_error(_v4_raw(bytes([0xC0 + payload[0] % 28]) + payload[1:]))
