"""Steps that send and receive share: the journaled NUT-03 swap and rolling an operation back.

Money rules, as for the melt: the outputs are committed before the swap request, and an
operation's proofs go back to the balance only after a definitive rejection that checkstate
confirms (the inputs are still unspent). An ambiguous response keeps everything as it is, and
recovery settles it from the journal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import NoReturn

from nctool.cashu.errors import MintError
from nctool.cashu.models import BlindSignature, Proof, ProofState
from nctool.errors import MintFailureError
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store.records import Operation
from nctool.store.tables import utcnow
from nctool.wallet.outputs import blinded_messages, match_restored
from nctool.wallet.services import Services

log = get_logger()

OPEN_STATES = ("prepared", "swap_sent")


async def fail_operation(svc: Services, operation: Operation, code: str, message: str) -> int:
    """Return the operation's proofs to where they were and mark it failed, in one transaction.

    Reserved proofs become unspent again; pending-send proofs claimed by a reclaim stay pending.
    Returns how many reserved proofs were released.
    """
    async with svc.db.transaction("swap_fail") as conn:
        released = await proof_store.release(conn, operation.id)
        await proof_store.unclaim_pending_send(conn, operation.id)
        moved = await op_store.transition(
            conn,
            operation.id,
            OPEN_STATES,
            "failed",
            error_code=code,
            error_message=message,
            lease_owner=None,
            lease_until=None,
        )
        if moved:
            await audit.record_step(
                conn, f"{operation.kind}_failed", operation, to_state="failed", code=code, released=released
            )
    log.warning(
        "Operation rolled back",
        transactionId=operation.id,
        npub=operation.npub,
        kind=operation.kind,
        code=code,
        error=message,
        released=released,
    )
    return released


async def swap(svc: Services, operation: Operation, inputs: Sequence[Proof]) -> list[BlindSignature]:
    """Send the journaled swap; on failure keep or roll back the operation as the error allows, and raise.

    The operation must be in `swap_sent` with its outputs committed.
    """
    try:
        return await svc.mint.swap(inputs, blinded_messages(operation.outputs))
    except MintError as exc:
        await after_failed_swap(svc, operation, exc)


async def after_failed_swap(svc: Services, operation: Operation, exc: MintError) -> NoReturn:
    """Handle a failed swap request; always raises MintFailureError."""
    if exc.ambiguous:
        await _keep_for_recovery(svc, operation, exc)
        raise MintFailureError(
            f"the outcome of the swap is unknown ({exc.message}); the funds stay as they are and the service "
            "resolves the operation with the mint on its own",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            fundsStatus="pending",
            state="pending",
            transactionId=operation.id,
        ) from exc
    # A definitive rejection: the swap did not take place, so the inputs can go back once the
    # mint confirms they are unspent.
    if not await inputs_unspent(svc, operation):
        await _keep_for_recovery(svc, operation, exc)
        raise MintFailureError(
            f"the mint rejected the swap ({exc.message}) but does not report its inputs unspent; the funds "
            "stay as they are until the service resolves the operation",
            code=exc.error_code,
            fundsStatus="pending",
            state="pending",
            transactionId=operation.id,
        ) from exc
    await fail_operation(svc, operation, exc.error_code, exc.message)
    raise MintFailureError(
        f"the mint rejected the swap: {exc.message}; the funds are back in the balance",
        code=exc.error_code,
        fundsStatus="released",
        state="failed",
        transactionId=operation.id,
    ) from exc


async def inputs_unspent(svc: Services, operation: Operation) -> bool:
    """Return whether the mint reports every input of the operation unspent; False when the check fails."""
    try:
        states = await svc.mint.check_state(operation.input_ys)
    except MintError:
        return False
    return all(s.state is ProofState.UNSPENT for s in states)


async def _keep_for_recovery(svc: Services, operation: Operation, exc: MintError) -> None:
    async with svc.db.transaction("swap_ambiguous") as conn:
        await op_store.update_operation(
            conn,
            operation.id,
            error_code=exc.error_code,
            error_message=exc.message,
            next_check_at=utcnow() + timedelta(seconds=svc.settings.worker_interval_seconds),
        )
    log.warning(
        "Swap outcome unknown; the operation stays open for recovery",
        transactionId=operation.id,
        kind=operation.kind,
        error=exc.message,
        errorCode=exc.error_code,
    )


async def restore_outputs(svc: Services, operation: Operation) -> list[BlindSignature] | None:
    """Fetch the signatures of the operation's outputs with NUT-09 restore; None unless all were signed."""
    outputs, signatures = match_restored(operation.outputs, await svc.mint.restore(blinded_messages(operation.outputs)))
    if len(outputs) != len(operation.outputs):
        return None
    by_b = {o["B_"]: s for o, s in zip(outputs, signatures, strict=True)}
    return [by_b[o["B_"]] for o in operation.outputs]


async def resume_swap(svc: Services, operation: Operation) -> tuple[str, list[BlindSignature] | None]:
    """Ask the mint what became of an interrupted swap.

    The result is one of these:
    - ("unspent", None): the inputs are unspent, so the swap did not happen;
    - ("pending", None): the mint reports the inputs pending;
    - ("signed", signatures): the mint signed our outputs;
    - ("spent_elsewhere", None): the inputs are spent, but not into our outputs.
    """
    states = await svc.mint.check_state(operation.input_ys)
    if all(s.state is ProofState.UNSPENT for s in states):
        return "unspent", None
    if any(s.state is ProofState.PENDING for s in states):
        return "pending", None
    signatures = await restore_outputs(svc, operation)
    if signatures is None:
        return "spent_elsewhere", None
    return "signed", signatures
