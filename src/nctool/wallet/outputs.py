"""Blinded outputs that are committed to the journal before the mint signs them.

Each planned output is a JSON-ready dict: amount, keyset id, secret, blinding factor r, B_ and
role (send, keep, change, mint). With these stored, any signature the mint issued can be
turned into a proof again, from the mint's answer or through NUT-09 restore.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from nctool.cashu.crypto import blind_message, unblind_signature, verify_dleq_signature
from nctool.cashu.models import DLEQ, BlindedMessage, BlindSignature, Proof
from nctool.observability.logging import get_logger
from nctool.wallet.keysets import KeysetCache

log = get_logger()


def plan_outputs(amounts: Sequence[int], keyset_id: str, role: str) -> list[dict[str, Any]]:
    planned = []
    for amount in amounts:
        secret = secrets.token_hex(32)
        B_, r = blind_message(secret)
        planned.append(
            {"amount": amount, "keyset_id": keyset_id, "secret": secret, "r": r.hex(), "B_": B_, "role": role}
        )
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
