"""Blinded outputs that are committed to the journal before the mint signs them.

Each planned output is a JSON-ready dict: amount, keyset id, secret, blinding factor r, B_ and
role (send, keep, change, mint). With these stored, any signature the mint issued can be
turned into a proof again, from the mint's response or through NUT-09 restore.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.cashu.crypto import blind_message, unblind_signature, verify_dleq_signature
from nctool.cashu.models import DLEQ, BlindedMessage, BlindSignature, Proof
from nctool.cashu.nut13 import derive_blinding_factor, derive_secret
from nctool.observability.logging import get_logger
from nctool.store import wallets as wallet_store
from nctool.store.counters import reserve_counters
from nctool.wallet.keysets import KeysetCache

log = get_logger()


# Keyset id versions whose outputs NUT-13 derives from a seed.
DERIVABLE_KEYSET_VERSIONS = ("00", "01")


def plan_outputs(amounts: Sequence[int], keyset_id: str, role: str) -> list[dict[str, Any]]:
    """Plan outputs with random secrets (for wallets without a seed, and for tests)."""
    planned = []
    for amount in amounts:
        secret = secrets.token_hex(32)
        B_, r = blind_message(secret)
        planned.append(
            {"amount": amount, "keyset_id": keyset_id, "secret": secret, "r": r.hex(), "B_": B_, "role": role}
        )
    return planned


def derive_outputs(seed: bytes, keyset_id: str, start: int, amounts: Sequence[int], role: str) -> list[dict[str, Any]]:
    """Plan outputs whose secrets and blinding factors follow from the seed (NUT-13), counters start, start+1..."""
    planned = []
    for offset, amount in enumerate(amounts):
        counter = start + offset
        secret = derive_secret(seed, keyset_id, counter)
        B_, r = blind_message(secret, derive_blinding_factor(seed, keyset_id, counter))
        planned.append(
            {
                "amount": amount,
                "keyset_id": keyset_id,
                "secret": secret,
                "r": r.hex(),
                "B_": B_,
                "role": role,
                "counter": counter,
            }
        )
    return planned


async def plan_wallet_outputs(
    conn: AsyncConnection, wallet_id: int, keyset_id: str, groups: Sequence[tuple[Sequence[int], str]]
) -> list[dict[str, Any]]:
    """Plan the outputs of one request: deterministic from the wallet's seed, counters taken in `conn`.

    Call it inside the transaction that journals the outputs, so a counter is never handed out twice.
    """
    amounts = [(amount, role) for group, role in groups for amount in group]
    seed = await wallet_store.get_seed(conn, wallet_id)
    if seed is None or keyset_id[:2] not in DERIVABLE_KEYSET_VERSIONS:
        # NOTE: such outputs cannot be restored from the seed; the journal still contains their secrets.
        return [o for group, role in groups for o in plan_outputs(group, keyset_id, role)]
    start = await reserve_counters(conn, wallet_id, keyset_id, len(amounts))
    planned: list[dict[str, Any]] = []
    for amount, role in amounts:
        planned += derive_outputs(seed, keyset_id, start + len(planned), [amount], role)
    return planned


def blinded_messages(outputs: Sequence[dict[str, Any]]) -> list[BlindedMessage]:
    return [BlindedMessage(id=o["keyset_id"], amount=int(o["amount"]), B_=o["B_"]) for o in outputs]


async def unblind(
    outputs: Sequence[dict[str, Any]], signatures: Sequence[BlindSignature], keysets: KeysetCache
) -> list[Proof]:
    """Turn the mint's signatures on `outputs` (same order) into proofs.

    The amount and keyset come from each signature: NUT-08 change signatures carry the amount
    the mint chose, possibly under another keyset of the same mint.
    """
    found: list[Proof] = []
    for output, signature in zip(outputs, signatures, strict=False):
        keyset = await keysets.get(signature.id)
        key = keyset.keys.get(signature.amount)
        if key is None:
            raise ValueError(f"keyset {signature.id} has no key for amount {signature.amount}")
        C = unblind_signature(signature.C_, bytes.fromhex(output["r"]), key)
        dleq = None
        if signature.dleq is not None:
            if not verify_dleq_signature(output["B_"], signature.C_, signature.dleq.e, signature.dleq.s, key):
                log.warning("Mint DLEQ proof invalid", keyset_id=signature.id, amount=signature.amount)
            dleq = DLEQ(e=signature.dleq.e, s=signature.dleq.s, r=output["r"])
        found.append(Proof(id=signature.id, amount=signature.amount, secret=output["secret"], C=C, dleq=dleq))
    return found


def match_restored(
    outputs: Sequence[dict[str, Any]], restored: Sequence[tuple[BlindedMessage, BlindSignature]]
) -> tuple[list[dict[str, Any]], list[BlindSignature]]:
    """Pair NUT-09 restore results with the stored outputs they belong to, by B_."""
    by_b = {o["B_"]: o for o in outputs}
    pairs = [(by_b[message.B_], signature) for message, signature in restored if message.B_ in by_b]
    return [p[0] for p in pairs], [p[1] for p in pairs]
