"""Proof selection for a payment, with each input's keyset fee (NUT-02) included.

An exact selection's inputs minus their input fee equal the target, so the proofs go straight
to the melt. A direct selection overshoots a little and also goes straight to the melt, which
returns the overshoot as NUT-08 change. Otherwise the melt first swaps the inputs into exact
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
    # The inputs overshoot but go to the melt as they are; the mint returns the rest as NUT-08 change.
    direct: bool = False

    @property
    def needs_swap(self) -> bool:
        return not (self.exact or self.direct)

    @property
    def total(self) -> int:
        return sum(p.amount for p in self.proofs)

    @property
    def keep_total(self) -> int:
        """Amount returned to the wallet by the swap (zero when no swap is needed)."""
        return 0 if not self.needs_swap else self.total - self.input_fee - self.send_total


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


def max_input_fee(fee_ppk: Mapping[str, int]) -> int:
    """Return the input fee of MAX_EXACT_INPUTS inputs of the keyset with the highest fee rate."""
    return -(-MAX_EXACT_INPUTS * max(fee_ppk.values(), default=0) // 1000)


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


# A melt pays inputs that overshoot the amount plus fee reserve by at most this factor of it
# directly and takes the rest back as NUT-08 change. A larger overshoot is swapped to the exact
# amount first, so that a payment hanging at the mint locks at most twice what it needs.
MAX_DIRECT_OVERSHOOT = 1.0


def _cover(candidates: Sequence[StoredProof], amount: int) -> list[StoredProof] | None:
    """Take proofs worth at most what is still missing, largest first, then the smallest that closes the gap."""
    chosen: list[StoredProof] = []
    taken: set[int] = set()  # object ids of the chosen proofs
    remaining = amount
    for proof in candidates:
        if proof.amount <= remaining and len(chosen) < MAX_EXACT_INPUTS - 1:
            chosen.append(proof)
            taken.add(id(proof))
            remaining -= proof.amount
            if remaining == 0:
                return chosen
    closing = min(
        (p for p in candidates if p.amount >= remaining and id(p) not in taken), key=lambda p: p.amount, default=None
    )
    return None if closing is None else [*chosen, closing]


def _covering_selection(
    candidates: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int]
) -> list[StoredProof] | None:
    """Return inputs worth at least `target` after their own input fee, with the least overshoot, or None.

    Each possible input fee is tried as an addition to `target`, because the fee depends on the
    inputs chosen; an exact cover ends the search.
    """
    inputs = min(len(candidates), MAX_EXACT_INPUTS)
    max_fee = -(-inputs * max(fee_ppk.values(), default=0) // 1000)
    covering: list[list[StoredProof]] = []
    for fee in range(max_fee + 1):
        options = [_cover(candidates, target + fee)]
        larger = [p for p in candidates if p.amount >= target + fee]
        if larger:
            options.append([min(larger, key=lambda p: p.amount)])
        for option in options:
            if option is None:
                continue
            value = sum(p.amount for p in option) - fee_for(option, fee_ppk)
            if value == target:
                return option
            if value > target:
                covering.append(option)
    if not covering:
        return None
    return min(covering, key=lambda o: (sum(p.amount for p in o) - fee_for(o, fee_ppk), len(o)))


def select_for_melt(
    candidates: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int], send_fee_ppk: int
) -> Selection | None:
    """Choose melt inputs worth `target` (amount plus fee reserve) after input fees, from a few candidates.

    Unlike `select_proofs`, the inputs may overshoot: the melt pays them directly and the mint
    returns the overshoot as NUT-08 change, which saves the swap. Only an overshoot above
    MAX_DIRECT_OVERSHOOT times `target` selects for a swap to the exact amount instead. Returns
    None when the candidates cannot cover `target` within MAX_EXACT_INPUTS inputs; the caller
    then falls back to `select_proofs` over all of the wallet's proofs.
    """
    ordered = sorted(candidates, key=lambda p: -p.amount)
    chosen = _covering_selection(ordered, target, fee_ppk)
    if chosen is None:
        return None
    fee = fee_for(chosen, fee_ppk)
    value = sum(p.amount for p in chosen) - fee
    if value == target:
        return Selection(chosen, exact=True, input_fee=fee, send_total=target + fee)
    if value - target <= MAX_DIRECT_OVERSHOOT * target:
        return Selection(chosen, exact=False, input_fee=fee, send_total=target + fee, direct=True)
    send_total = send_total_for(target, send_fee_ppk)
    swapped = _covering_selection(ordered, send_total, fee_ppk)
    if swapped is None:
        return None
    return Selection(swapped, exact=False, input_fee=fee_for(swapped, fee_ppk), send_total=send_total)


def as_melt_selection(proofs: Sequence[StoredProof], target: int, fee_ppk: Mapping[str, int]) -> Selection | None:
    """Return `proofs` as a selection the melt pays directly, or None if they miss `target` or overshoot too far."""
    fee = fee_for(proofs, fee_ppk)
    value = sum(p.amount for p in proofs) - fee
    if value < target or value - target > MAX_DIRECT_OVERSHOOT * target:
        return None
    return Selection(list(proofs), exact=value == target, input_fee=fee, send_total=target + fee, direct=value > target)


# Copies of the payment's denominations a swap keeps back, so that later payments of about the
# same size find an exact or nearly exact selection and skip the swap.
KEEP_PAYMENT_COPIES = 2


def keep_denominations(keep_total: int, send_total: int) -> list[int]:
    """Split what a swap returns to the wallet: up to KEEP_PAYMENT_COPIES splits of `send_total`, then the rest."""
    amounts: list[int] = []
    remaining = keep_total
    for _ in range(KEEP_PAYMENT_COPIES):
        if send_total <= 0 or remaining < send_total:
            break
        amounts += split_amount(send_total)
        remaining -= send_total
    return amounts + split_amount(remaining)
