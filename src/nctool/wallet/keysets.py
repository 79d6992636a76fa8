"""The mint's keysets and keys, cached per process and refreshed when an unknown id appears."""

from __future__ import annotations

import asyncio

from nctool.cashu.client import Keyset, MintClient
from nctool.errors import MintFailureError


class KeysetCache:
    """Keysets (with input_fee_ppk) and public keys of one mint."""

    def __init__(self, client: MintClient):
        self._client = client
        self._keysets: dict[str, Keyset] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            listed = await self._client.keysets()
            keys = await self._client.keys()
            merged: dict[str, Keyset] = {}
            for keyset in listed:
                known = self._keysets.get(keyset.id)
                keyset_keys = keys.get(keyset.id) or (known.keys if known else {})
                merged[keyset.id] = Keyset(keyset.id, keyset.unit, keyset.active, keyset.input_fee_ppk, keyset_keys)
            self._keysets = merged

    async def get(self, keyset_id: str) -> Keyset:
        """Return the keyset with its keys, loading inactive keysets' keys on demand."""
        if keyset_id not in self._keysets:
            await self.refresh()
        keyset = self._keysets.get(keyset_id)
        if keyset is None:
            raise MintFailureError(
                f"the mint does not list keyset {keyset_id}; check NCTOOL_MINT_URL points at the mint that issued it",
                code="UNKNOWN_KEYSET",
            )
        if not keyset.keys:
            keys = await self._client.keys(keyset_id)
            keyset = Keyset(keyset.id, keyset.unit, keyset.active, keyset.input_fee_ppk, keys.get(keyset_id, {}))
            self._keysets[keyset_id] = keyset
        return keyset

    async def active(self, unit: str) -> Keyset:
        """Return the active keyset for the unit with the lowest input fee."""
        if not self._keysets:
            await self.refresh()
        candidates = [k for k in self._keysets.values() if k.active and k.unit == unit and k.keys]
        if not candidates:
            await self.refresh()
            candidates = [k for k in self._keysets.values() if k.active and k.unit == unit and k.keys]
        if not candidates:
            raise MintFailureError(f"the mint has no active keyset for unit {unit}", code="NO_ACTIVE_KEYSET")
        return min(candidates, key=lambda k: (k.input_fee_ppk, k.id))

    async def all(self) -> list[Keyset]:
        """Return every keyset the mint lists, active or not, with keys loaded."""
        if not self._keysets:
            await self.refresh()
        return [await self.get(keyset_id) for keyset_id in list(self._keysets)]

    async def fee_ppk(self, keyset_ids: set[str]) -> dict[str, int]:
        """Return input_fee_ppk for each id (NUT-02)."""
        return {keyset_id: (await self.get(keyset_id)).input_fee_ppk for keyset_id in keyset_ids}
