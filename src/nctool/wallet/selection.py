"""Proof selection for a payment, with each input's keyset fee (NUT-02) included.

An exact selection's inputs minus their input fee equal the target, so the proofs go straight
to the melt. Otherwise the selection overshoots, and the melt first swaps the inputs into exact
send proofs and keep proofs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nctool.cashu.amounts import input_fee, split_amount
from nctool.store.records import StoredProof


@dataclass(frozen=True)
class Selection:
    proofs: list[StoredProof]
    exact: bool
    # Input fee the mint charges to spend `proofs`.
    input_fee: int
    # Amount the send proofs must carry (target plus their own input fee at the melt).
    send_total: int

    @property
    def total(self) -> int:
        return sum(p.amount for p in self.proofs)

    @property
    def keep_total(self) -> int:
        """Amount returned to the wallet by the swap (zero for an exact selection)."""
        return 0 if self.exact else self.total - self.input_fee - self.send_total


def fee_for(proofs: Sequence[StoredProof], fee_ppk: Mapping[str, int]) -> int:
    return input_fee((p.keyset_id for p in proofs), fee_ppk)


def send_total_for(target: int, fee_ppk_per_proof: int) -> int:
    """Smallest amount whose power-of-two split, spent as inputs, still yields `target` after fees."""
    total = target
    for _ in range(64):
        fee = -(-len(split_amount(total)) * fee_ppk_per_proof // 1000)
        if total - fee >= target:
            return total
        total = target + fee
    raise ValueError(f"no send amount converges for target {target}")


def _greedy_exact(candidates: Sequence[StoredProof], amount: int) -> list[StoredProof] | None:
    chosen: list[StoredProof] = []
    remaining = amount
    for proof in candidates:
        if proof.amount <= remaining:
            chosen.append(proof)
            remaining -= proof.amount
            if remaining == 0:
                return chosen
            if len(chosen) == MAX_EXACT_INPUTS:
                return None
    return None


# An exact match with more inputs than this costs more in input fees than the swap it saves.
MAX_EXACT_INPUTS = 64


def _exact(candidates: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int]) -> Selection | None:
    inputs = min(len(candidates), MAX_EXACT_INPUTS)
    max_fee = -(-inputs * max(fee_ppk.values(), default=0) // 1000)
    for fee in range(max_fee + 1):
        chosen = _greedy_exact(candidates, target + fee)
        if chosen is not None and fee_for(chosen, fee_ppk) == fee:
            return Selection(chosen, exact=True, input_fee=fee, send_total=target + fee)
    return None


def select_proofs(
    candidates: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int], send_fee_ppk: int
) -> Selection | None:
    """Choose proofs worth `target` after input fees; None when the candidates cannot cover it.

    `candidates` must be sorted by amount, largest first. `send_fee_ppk` is the input fee per
    proof of the keyset the swap would sign the send proofs under.
    """
    exact = _exact(candidates, target, fee_ppk)
    if exact is not None:
        return exact
    send_total = send_total_for(target, send_fee_ppk)
    chosen: list[StoredProof] = []
    for proof in candidates:
        chosen.append(proof)
        if sum(p.amount for p in chosen) - fee_for(chosen, fee_ppk) >= send_total:
            return Selection(chosen, exact=False, input_fee=fee_for(chosen, fee_ppk), send_total=send_total)
    return None


def required_amount(
    candidates: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int], send_fee_ppk: int
) -> int:
    """Estimate what the wallet would need to hold to pay `target`, for the 402 message."""
    send_total = send_total_for(target, send_fee_ppk)
    return send_total + fee_for(candidates, fee_ppk) if candidates else send_total
