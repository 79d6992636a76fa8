"""Cashu amount arithmetic: power-of-two splits, input fees, blank outputs, keyset ids.

Sources: NUT-00 (amount split), NUT-02 (fees and keyset ids) and NUT-08 (blank
outputs) in https://github.com/cashubtc/nuts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

_PPK_PER_UNIT = 1000
_COMPRESSED_KEY_LENGTH = 33
_KEYSET_ID_VERSION = "00"
_KEYSET_ID_HASH_CHARS = 14


def split_amount(amount: int) -> list[int]:
    """Split ``amount`` into distinct powers of two, in ascending order.

    This is the binary decomposition, so 13 becomes [1, 4, 8] and 0 becomes [].
    Raises ValueError for a negative amount.
    """
    if amount < 0:
        raise ValueError(f"Cannot split a negative amount ({amount}). Pass an amount of 0 or more.")
    return [1 << bit for bit in range(amount.bit_length()) if amount >> bit & 1]


def input_fee(keyset_ids: Iterable[str], fee_ppk: Mapping[str, int]) -> int:
    """Compute the NUT-02 fee for spending one input per entry of ``keyset_ids``.

    ``fee_ppk`` maps each keyset id to its ``input_fee_ppk`` (parts per thousand of
    the unit per input). The per-input fees are summed first and rounded up once, so
    ten inputs at 100 ppk cost 1, not 10. Raises KeyError for a keyset id missing from
    ``fee_ppk`` and ValueError for a negative ``input_fee_ppk``.
    """
    total_ppk = 0
    for keyset_id in keyset_ids:
        if keyset_id not in fee_ppk:
            raise KeyError(
                f"No input_fee_ppk for keyset {keyset_id!r}. Load the mint's keysets "
                "(GET /v1/keysets) before computing fees."
            )
        ppk = fee_ppk[keyset_id]
        if ppk < 0:
            raise ValueError(
                f"Keyset {keyset_id!r} has a negative input_fee_ppk ({ppk}). "
                "Reload the mint's keysets, and do not use a mint that reports negative fees."
            )
        total_ppk += ppk

    # Integer ceiling division, as NUT-02 recommends over floating point.
    return (total_ppk + _PPK_PER_UNIT - 1) // _PPK_PER_UNIT


def blank_output_count(fee_reserve: int) -> int:
    """Count the NUT-08 blank outputs needed to receive change from ``fee_reserve``.

    NUT-08 defines the count as max(ceil(log2(fee_reserve)), 1), and 0 for a fee
    reserve of 0. A negative fee reserve also gives 0.
    """
    if fee_reserve <= 0:
        return 0
    # For n >= 1, ceil(log2(n)) == (n - 1).bit_length(), computed without floating point.
    return max((fee_reserve - 1).bit_length(), 1)


def derive_keyset_id(keys: Mapping[int, str]) -> str:
    """Derive the NUT-02 V1 keyset id (version byte 00) from a keyset's public keys.

    ``keys`` maps each amount to its compressed public key in hex. The id is "00"
    followed by the first 14 hex characters of the SHA-256 of the 33-byte keys,
    concatenated in ascending order of amount. Raises ValueError for an empty
    keyset or a key that is not a 33-byte compressed public key in hex.
    NOTE: V2 ids (version byte 01, hashed over amounts, unit, fee and expiry) are not
    derived here.
    """
    if not keys:
        raise ValueError("Cannot derive a keyset id from an empty keyset. Load the mint's keys first.")

    digest = hashlib.sha256()
    for amount, key_hex in sorted(keys.items()):
        digest.update(_compressed_key(amount, key_hex))
    return _KEYSET_ID_VERSION + digest.hexdigest()[:_KEYSET_ID_HASH_CHARS]


def _compressed_key(amount: int, key_hex: str) -> bytes:
    try:
        key = bytes.fromhex(key_hex)
    except ValueError as exc:
        raise ValueError(f"The public key for amount {amount} is not valid hex: {key_hex!r}.") from exc

    if len(key) != _COMPRESSED_KEY_LENGTH or key[0] not in (2, 3):
        raise ValueError(
            f"The public key for amount {amount} is not a 33-byte compressed key starting "
            f"with 02 or 03: {key_hex!r}. Check the keys returned by the mint."
        )
    return key
