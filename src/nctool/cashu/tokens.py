"""Cashu token serialization: V3 (`cashuA`, JSON) and V4 (`cashuB`, CBOR), as specified in NUT-00.

`decode_token` accepts both versions and raises only `TokenDecodeError`, so callers that handle
user-pasted text need a single except clause. Tokens with proofs from more than one mint are
rejected because a `Token` has a single mint field. Error messages name the field and proof index but
never include a proof secret.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import cbor2

from nctool.cashu.models import DLEQ, Proof, Token

__all__ = ["TokenDecodeError", "decode_token", "encode_token_v3", "encode_token_v4"]

TOKEN_V3_PREFIX = "cashuA"  # noqa: S105 (a format prefix, not a password)
TOKEN_V4_PREFIX = "cashuB"  # noqa: S105 (a format prefix, not a password)
CASHU_URI_SCHEME = "cashu:"
# V3 tokens from before NUT-00 added the `unit` field are denominated in sats.
DEFAULT_V3_UNIT = "sat"

_HEX_RE = re.compile(r"[0-9a-fA-F]+")


class TokenDecodeError(ValueError):
    """A token string that cannot be decoded into a valid single-mint `Token`."""


# Encoding


def encode_token_v3(token: Token) -> str:
    """Serialize a token as V3: "cashuA" + URL-safe base64 (padded) of compact JSON.

    Raises ValueError if the token is invalid, for example when it has no proofs.
    """
    _validate_for_encoding(token)
    document: dict[str, Any] = {
        "token": [{"mint": token.mint, "proofs": [_proof_to_v3(proof) for proof in token.proofs]}],
        "unit": token.unit,
    }
    if token.memo is not None:
        document["memo"] = token.memo

    payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return TOKEN_V3_PREFIX + base64.urlsafe_b64encode(payload).decode("ascii")


def encode_token_v4(token: Token) -> str:
    """Serialize a token as V4: "cashuB" + URL-safe base64 (unpadded) of CBOR.

    Proofs are grouped by keyset id in order of first appearance, and keyset ids, C and
    DLEQ values are stored as byte strings as NUT-00 requires.
    Raises ValueError if the token is invalid, for example when an id is not hex.
    """
    _validate_for_encoding(token)
    document: dict[str, Any] = {"t": _group_proofs_v4(token.proofs)}
    if token.memo is not None:
        document["d"] = token.memo
    document["m"] = token.mint
    document["u"] = token.unit

    payload = base64.urlsafe_b64encode(cbor2.dumps(document)).decode("ascii")
    return TOKEN_V4_PREFIX + payload.rstrip("=")


def _proof_to_v3(proof: Proof) -> dict[str, Any]:
    """Build the V3 JSON object of a proof, with keys in the order NUT-00 examples use."""
    out: dict[str, Any] = {"amount": proof.amount, "id": proof.id, "secret": proof.secret, "C": proof.C}
    if proof.dleq is not None:
        out["dleq"] = proof.dleq.to_dict()
    if proof.witness is not None:
        out["witness"] = proof.witness
    return out


def _group_proofs_v4(proofs: list[Proof]) -> list[dict[str, Any]]:
    """Group proofs into V4 `t` entries, one per keyset id."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for proof in proofs:
        groups.setdefault(proof.id, []).append(_proof_to_v4(proof))
    return [{"i": bytes.fromhex(keyset_id), "p": items} for keyset_id, items in groups.items()]


def _proof_to_v4(proof: Proof) -> dict[str, Any]:
    """Build the V4 CBOR map of a proof: a=amount, s=secret, c=C, d=DLEQ, w=witness."""
    out: dict[str, Any] = {"a": proof.amount, "s": proof.secret, "c": bytes.fromhex(proof.C)}
    if proof.dleq is not None:
        dleq: dict[str, bytes] = {"e": bytes.fromhex(proof.dleq.e), "s": bytes.fromhex(proof.dleq.s)}
        if proof.dleq.r is not None:
            dleq["r"] = bytes.fromhex(proof.dleq.r)
        out["d"] = dleq
    if proof.witness is not None:
        out["w"] = proof.witness
    return out


def _validate_for_encoding(token: Token) -> None:
    """Run the decoder's checks so that encode never emits a token decode_token would reject."""
    try:
        _validate_token(token)
    except TokenDecodeError as exc:
        raise ValueError(f"cannot encode token: {exc}") from exc


# Decoding


def decode_token(text: str) -> Token:
    """Decode a V3 or V4 token string, raising TokenDecodeError for every kind of invalid input.

    Surrounding whitespace, a "cashu:" URI prefix and missing base64 padding are tolerated,
    and the base64 payload may use the URL-safe or the standard alphabet.
    """
    if not isinstance(text, str):
        raise TokenDecodeError(f"invalid token: expected a string, got {type(text).__name__}")

    body = text.strip()
    if body[: len(CASHU_URI_SCHEME)].lower() == CASHU_URI_SCHEME:
        body = body[len(CASHU_URI_SCHEME) :].strip()

    if body.startswith(TOKEN_V3_PREFIX):
        token = _decode_v3(_decode_base64(body[len(TOKEN_V3_PREFIX) :], TOKEN_V3_PREFIX))
    elif body.startswith(TOKEN_V4_PREFIX):
        token = _decode_v4(_decode_base64(body[len(TOKEN_V4_PREFIX) :], TOKEN_V4_PREFIX))
    else:
        raise TokenDecodeError(
            f"invalid token: expected it to start with {TOKEN_V3_PREFIX} (V3) or {TOKEN_V4_PREFIX} (V4)"
        )

    _validate_token(token)
    return token


def _decode_base64(payload: str, prefix: str) -> bytes:
    """Decode strict base64 in either alphabet, adding any missing padding."""
    unpadded = payload.rstrip("=")
    try:
        data = unpadded.encode("ascii")
        return base64.b64decode(data + b"=" * (-len(data) % 4), altchars=b"-_", validate=True)
    except ValueError as exc:  # binascii.Error and UnicodeEncodeError are both ValueErrors.
        raise TokenDecodeError(f"invalid token: the text after {prefix} is not valid base64") from exc


# V3 (JSON)


def _decode_v3(payload: bytes) -> Token:
    """Build a Token from a V3 JSON document, merging entries of the same mint."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise TokenDecodeError("invalid V3 token: the payload is not valid JSON") from exc
    if not isinstance(document, dict):
        raise TokenDecodeError("invalid V3 token: expected a JSON object at the top level")

    entries = document.get("token")
    if not isinstance(entries, list) or not entries:
        raise TokenDecodeError("invalid V3 token: 'token' must be a non-empty list")

    mints: list[str] = []
    proofs: list[Proof] = []
    for index, entry in enumerate(entries):
        mint, entry_proofs = _read_v3_entry(entry, index, first_proof_index=len(proofs))
        if mint not in mints:
            mints.append(mint)
        proofs.extend(entry_proofs)

    if len(mints) > 1:
        raise TokenDecodeError(
            f"multi-mint tokens are not supported: this V3 token contains proofs from {len(mints)} mints "
            f"({', '.join(mints)}); ask the sender for a separate token per mint"
        )

    unit = document.get("unit")
    if unit is None:
        unit = DEFAULT_V3_UNIT
    return Token(
        mint=mints[0],
        unit=_expect_str(unit, "V3 token 'unit'"),
        proofs=proofs,
        memo=_optional_str(document, "memo", "V3 token"),
    )


def _read_v3_entry(entry: object, index: int, first_proof_index: int) -> tuple[str, list[Proof]]:
    """Read one {"mint", "proofs"} entry. Proof indexes in messages count across the whole token."""
    where = f"V3 token entry {index}"
    if not isinstance(entry, dict):
        raise TokenDecodeError(f"invalid {where}: expected a JSON object")

    mint = _expect_str(entry.get("mint"), f"{where} 'mint'")
    items = entry.get("proofs")
    if not isinstance(items, list) or not items:
        raise TokenDecodeError(f"invalid {where}: 'proofs' must be a non-empty list")
    proofs = [_read_v3_proof(item, first_proof_index + offset) for offset, item in enumerate(items)]
    return mint, proofs


def _read_v3_proof(item: object, index: int) -> Proof:
    """Read a V3 proof object. Hex and amount checks happen later in _validate_token."""
    where = f"proof {index}"
    if not isinstance(item, dict):
        raise TokenDecodeError(f"invalid {where}: expected a JSON object")

    dleq_item = item.get("dleq")
    dleq = None if dleq_item is None else _read_v3_dleq(dleq_item, where)
    return Proof(
        id=_expect_str(item.get("id"), f"{where} 'id'"),
        amount=_expect_int(item.get("amount"), f"{where} 'amount'"),
        secret=_expect_str(item.get("secret"), f"{where} 'secret'"),
        C=_expect_str(item.get("C"), f"{where} 'C'"),
        dleq=dleq,
        witness=_optional_str(item, "witness", where),
    )


def _read_v3_dleq(item: object, where: str) -> DLEQ:
    """Read a V3 DLEQ object {"e", "s", "r"?} of hex strings."""
    if not isinstance(item, dict):
        raise TokenDecodeError(f"invalid {where} 'dleq': expected a JSON object")
    return DLEQ(
        e=_expect_str(item.get("e"), f"{where} DLEQ 'e'"),
        s=_expect_str(item.get("s"), f"{where} DLEQ 's'"),
        r=_optional_str(item, "r", f"{where} DLEQ"),
    )


# V4 (CBOR)


def _decode_v4(payload: bytes) -> Token:
    """Build a Token from a V4 CBOR map {m, u, d?, t: [{i, p}]}."""
    try:
        document = cbor2.loads(payload)
    except Exception as exc:
        # cbor2 also decodes semantic tags (dates, decimals, regexes, UUIDs) from untrusted input.
        # cbor2 6.3 wraps those failures in CBORDecodeError, which is not a ValueError, and other
        # versions may raise other types, so this boundary catches every Exception.
        raise TokenDecodeError("invalid V4 token: the payload is not valid CBOR") from exc
    if not isinstance(document, dict):
        raise TokenDecodeError("invalid V4 token: expected a CBOR map at the top level")

    groups = document.get("t")
    if not isinstance(groups, list) or not groups:
        raise TokenDecodeError("invalid V4 token: 't' must be a non-empty array")
    proofs: list[Proof] = []
    for index, group in enumerate(groups):
        proofs.extend(_read_v4_group(group, index, first_proof_index=len(proofs)))

    return Token(
        mint=_expect_str(document.get("m"), "V4 token mint 'm'"),
        unit=_expect_str(document.get("u"), "V4 token unit 'u'"),
        proofs=proofs,
        memo=_optional_str(document, "d", "V4 token memo"),
    )


def _read_v4_group(group: object, index: int, first_proof_index: int) -> list[Proof]:
    """Read one {i: keyset id bytes, p: [proof]} entry of `t`."""
    where = f"V4 token keyset entry {index}"
    if not isinstance(group, dict):
        raise TokenDecodeError(f"invalid {where}: expected a CBOR map")

    keyset_id = _expect_bytes(group.get("i"), f"{where} keyset id 'i'").hex()
    items = group.get("p")
    if not isinstance(items, list) or not items:
        raise TokenDecodeError(f"invalid {where}: 'p' must be a non-empty array")
    return [_read_v4_proof(item, keyset_id, first_proof_index + offset) for offset, item in enumerate(items)]


def _read_v4_proof(item: object, keyset_id: str, index: int) -> Proof:
    """Read a V4 proof map {a, s, c, d?, w?}."""
    where = f"proof {index}"
    if not isinstance(item, dict):
        raise TokenDecodeError(f"invalid {where}: expected a CBOR map")

    dleq_item = item.get("d")
    dleq = None if dleq_item is None else _read_v4_dleq(dleq_item, where)
    return Proof(
        id=keyset_id,
        amount=_expect_int(item.get("a"), f"{where} amount 'a'"),
        secret=_expect_str(item.get("s"), f"{where} secret 's'"),
        C=_expect_bytes(item.get("c"), f"{where} signature 'c'").hex(),
        dleq=dleq,
        witness=_optional_str(item, "w", f"{where} witness"),
    )


def _read_v4_dleq(item: object, where: str) -> DLEQ:
    """Read a V4 DLEQ map {e, s, r?} of byte strings."""
    if not isinstance(item, dict):
        raise TokenDecodeError(f"invalid {where} DLEQ 'd': expected a CBOR map")
    blinding_factor = item.get("r")
    return DLEQ(
        e=_expect_bytes(item.get("e"), f"{where} DLEQ 'e'").hex(),
        s=_expect_bytes(item.get("s"), f"{where} DLEQ 's'").hex(),
        r=None if blinding_factor is None else _expect_bytes(blinding_factor, f"{where} DLEQ 'r'").hex(),
    )


# Field checks shared by both versions


def _validate_token(token: Token) -> None:
    """Check the rules both versions share: one named mint and unit, and at least one proof."""
    if not isinstance(token.mint, str) or not token.mint:
        raise TokenDecodeError("invalid token: the mint URL is missing")
    if not isinstance(token.unit, str) or not token.unit:
        raise TokenDecodeError("invalid token: the unit is missing")
    if token.memo is not None and not isinstance(token.memo, str):
        raise TokenDecodeError("invalid token: the memo must be a string")
    if not token.proofs:
        raise TokenDecodeError("invalid token: it contains no proofs")
    for index, proof in enumerate(token.proofs):
        _validate_proof(proof, f"proof {index}")


def _validate_proof(proof: Proof, where: str) -> None:
    """Check a proof's amount, hex fields and string types. Messages never include the secret."""
    if isinstance(proof.amount, bool) or not isinstance(proof.amount, int) or proof.amount <= 0:
        amount_text = _describe_amount(proof.amount)
        raise TokenDecodeError(f"invalid {where}: amount {amount_text} is not a positive integer")
    _expect_hex(proof.id, f"{where} keyset id", show_value=True)
    _expect_hex(proof.C, f"{where} C")
    _expect_str(proof.secret, f"{where} secret")
    if proof.witness is not None:
        _expect_str(proof.witness, f"{where} witness")
    if proof.dleq is not None:
        _expect_hex(proof.dleq.e, f"{where} DLEQ e")
        _expect_hex(proof.dleq.s, f"{where} DLEQ s")
        if proof.dleq.r is not None:
            _expect_hex(proof.dleq.r, f"{where} DLEQ r")


def _expect_str(value: object, field_name: str) -> str:
    if not isinstance(value, str):
        raise TokenDecodeError(f"invalid {field_name}: expected a string, got {_type_name(value)}")
    return value


def _optional_str(container: dict[Any, Any], key: str, where: str) -> str | None:
    value = container.get(key)
    return None if value is None else _expect_str(value, f"{where} '{key}'")


def _expect_int(value: object, field_name: str) -> int:
    """Accept an integer but not a bool, which Python counts as an int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TokenDecodeError(f"invalid {field_name}: expected an integer, got {_type_name(value)}")
    return value


def _expect_bytes(value: object, field_name: str) -> bytes:
    if not isinstance(value, bytes):
        raise TokenDecodeError(f"invalid {field_name}: expected a byte string, got {_type_name(value)}")
    if not value:
        raise TokenDecodeError(f"invalid {field_name}: the byte string is empty")
    return value


def _expect_hex(value: object, field_name: str, show_value: bool = False) -> None:
    """Require a non-empty, even-length hex string, so bytes.fromhex in the V4 encoder cannot fail.

    The value appears in the message only with `show_value`, because a DLEQ `r` is private.
    """
    if not isinstance(value, str) or len(value) % 2 != 0 or _HEX_RE.fullmatch(value) is None:
        value_text = f" {value!r:.80}" if show_value else ""
        raise TokenDecodeError(f"invalid {field_name}{value_text}: expected a non-empty, even-length hex string")


def _describe_amount(amount: object) -> str:
    """Describe an amount for a message. Huge ints are not printed because int-to-str raises on them."""
    if not isinstance(amount, int):
        return f"of type {_type_name(amount)}"
    if abs(amount) >= 10**30:
        return "(out of range)"
    return str(amount)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__
