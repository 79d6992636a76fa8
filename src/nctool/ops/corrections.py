"""Manual correction made safe: mark proofs spent by Y only when the mint confirms it.

`force` overrides the mint's reported state and needs a reason; both paths are audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nctool.cashu.models import ProofState
from nctool.errors import InputError
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import proofs as proof_store
from nctool.store.ledger import RECONCILIATION
from nctool.wallet.services import Services

log = get_logger()


@dataclass(frozen=True)
class MarkResult:
    Y: str
    action: str
    reason: str


def _validate_ys(ys: list[str]) -> list[str]:
    cleaned = [y.strip().lower() for y in ys]
    bad = [y for y in cleaned if len(y) != 66 or any(c not in "0123456789abcdef" for c in y)]
    if not cleaned or bad:
        raise InputError(
            f"--y takes the proof's Y (66 hex digits, shown by proofs/status), never a secret; invalid: {bad[:3]}",
            details=["y: 66 hex digits"],
        )
    return cleaned


async def mark_spent(
    svc: Services, ys: list[str], *, force: bool = False, reason: str | None = None, operator: str = "cli"
) -> list[MarkResult]:
    """Mark each proof spent if the mint reports it spent; refuse the others unless forced."""
    ys = _validate_ys(ys)
    if force and not (reason and reason.strip()):
        raise InputError(
            "--force needs --reason: say why the mint's answer is overridden", details=["reason: required with --force"]
        )
    async with svc.db.read() as conn:
        stored = {p.Y: p for p in await proof_store.proofs_by_ys(conn, ys)}
    mint_states = {s.Y: s.state for s in await svc.mint.check_state(ys)}
    results = [_decide(y, stored.get(y), mint_states.get(y), force) for y in ys]
    to_mark = [r.Y for r in results if r.action in ("marked_spent", "forced_spent")]
    if to_mark:
        async with svc.db.transaction("mark_spent") as conn:
            await proof_store.mark_spent(conn, to_mark, RECONCILIATION)
            for result in results:
                if result.action in ("marked_spent", "forced_spent"):
                    proof = stored[result.Y]
                    await audit.record(
                        conn,
                        f"manual_{result.action}",
                        wallet_id=proof.wallet_id,
                        Y=result.Y,
                        amount=proof.amount,
                        operator=operator,
                        reason=reason,
                        mintState=str(mint_states.get(result.Y)),
                    )
    log.warning(
        "Manual mark-spent", operator=operator, force=force, reason=reason, results=[asdict(r) for r in results]
    )
    return results


def _decide(y: str, proof: Any, mint_state: ProofState | None, force: bool) -> MarkResult:
    if proof is None:
        return MarkResult(y, "refused", "no proof with this Y in the ledger")
    if proof.state == "spent":
        return MarkResult(y, "unchanged", "already spent in the ledger")
    if proof.state == "reserved":
        return MarkResult(y, "refused", f"reserved by {proof.reserved_by}; run `nctool ops recover` instead")
    if mint_state is ProofState.SPENT:
        return MarkResult(y, "marked_spent", "the mint reports it spent")
    if force:
        return MarkResult(y, "forced_spent", f"forced although the mint reports {mint_state}")
    return MarkResult(y, "refused", f"the mint reports {mint_state}; marking it spent would lose money")
