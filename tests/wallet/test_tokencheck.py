"""Keyset resolution for received tokens, including NUT-02 short ids of version-01 keysets."""

from __future__ import annotations

import pytest

from nctool.cashu.client import Keyset
from nctool.cashu.models import Proof
from nctool.errors import InputError
from nctool.wallet.tokencheck import resolve_keysets

V2_ID = "01" + "ab" * 32
V1_ID = "009a1f293253e41e"
KEY = "02" + "11" * 32


class FixedKeysets:
    """Stands in for the keyset cache: a fixed list, and a count of refreshes."""

    def __init__(self, keysets: list[Keyset]):
        self.keysets = keysets
        self.refreshes = 0

    async def all(self) -> list[Keyset]:
        return self.keysets

    async def refresh(self) -> None:
        self.refreshes += 1


def _proof(keyset_id: str, amount: int = 8) -> Proof:
    return Proof(id=keyset_id, amount=amount, secret="secret", C="02" + "22" * 32)


def _cache() -> FixedKeysets:
    return FixedKeysets(
        [
            Keyset(V2_ID, "sat", True, 0, {8: KEY}),
            Keyset(V1_ID, "sat", False, 100, {8: KEY}),
            Keyset("00" + "cd" * 7, "usd", True, 0, {8: KEY}),
        ]
    )


async def test_short_id_resolves_to_full_keyset_id():
    proofs, _ = await resolve_keysets([_proof(V2_ID[:16])], _cache(), "sat")  # type: ignore[arg-type]
    assert proofs[0].id == V2_ID


async def test_full_id_kept():
    proofs, _ = await resolve_keysets([_proof(V1_ID)], _cache(), "sat")  # type: ignore[arg-type]
    assert proofs[0].id == V1_ID


async def test_unknown_id_refreshes_once_then_rejects():
    cache = _cache()
    with pytest.raises(InputError) as caught:
        await resolve_keysets([_proof("01" + "ff" * 7)], cache, "sat")  # type: ignore[arg-type]
    assert caught.value.code == "UNKNOWN_KEYSET"
    assert cache.refreshes == 1


async def test_keyset_of_other_unit_rejected():
    with pytest.raises(InputError) as caught:
        await resolve_keysets([_proof("00" + "cd" * 7)], _cache(), "sat")  # type: ignore[arg-type]
    assert caught.value.code == "WRONG_UNIT"


async def test_invalid_signature_point_rejected():
    proof = Proof(id=V1_ID, amount=8, secret="secret", C="02" + "00" * 32)
    with pytest.raises(InputError) as caught:
        await resolve_keysets([proof], _cache(), "sat")  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_PROOF"
