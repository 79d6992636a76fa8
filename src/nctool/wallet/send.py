"""Send: hand out ecash as a token (NUT-00), optionally locked to a public key (NUT-10/11).

States of a send operation, each committed before the step that follows it:

    prepared ──> swap_sent ──> completed
        │            │
        └────────────┴──> failed

Every send swaps the selected proofs into fresh send proofs of exactly `amount` plus keep proofs.
The send proofs go into a `sent` token whose proofs are `pending_send`: out of the balance at
once, and marked spent when the mint reports them spent (a receive in this service, the
reconciliation sweep, or a reclaim). The recipient pays the input fee of redeeming the token.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from nctool.cashu.amounts import split_amount
from nctool.cashu.crypto import blind_message, proof_y
from nctool.cashu.errors import MintError
from nctool.cashu.models import Proof, ProofState, Token
from nctool.cashu.p2pk import P2PKError, lock_secret, normalize_pubkey
from nctool.cashu.tokens import encode_token_v3, encode_token_v4
from nctool.errors import (
    ConflictError,
    IdempotencyConflictError,
    InputError,
    InsufficientBalanceError,
    MintFailureError,
    StoreError,
)
from nctool.faults import crash_point
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store.ledger import RECONCILIATION
from nctool.store.records import Operation, StoredProof, Wallet
from nctool.store.tables import utcnow
from nctool.wallet.lease import kept_lease
from nctool.wallet.limits import enforce_daily_withdrawal_limit
from nctool.wallet.minting import validate_amount
from nctool.wallet.outputs import plan_wallet_outputs, unblind
from nctool.wallet.selection import max_input_fee, required_amount, select_proofs
from nctool.wallet.services import Services
from nctool.wallet.swapping import fail_operation, resume_swap, swap
from nctool.wallet.wallets import require_wallet

log = get_logger()

TOKEN_FORMATS = {"cashub": "cashuB", "v4": "cashuB", "cashua": "cashuA", "v3": "cashuA"}
MAX_RESERVE_ATTEMPTS = 10


@dataclass(frozen=True)
class SendResult:
    operation: Operation
    token: str
    replayed: bool = False

    def to_body(self) -> dict[str, Any]:
        op = self.operation
        details = op.details or {}
        return {
            "success": True,
            "encodedToken": self.token,
            "transactionId": op.id,
            "amount": op.amount,
            "changeAmount": op.change_amount,
            "feesPaid": op.fees_paid,
            "recipientPubkey": details.get("lock"),
            "tokenFormat": details.get("format"),
            "mintUrl": op.mint_url,
            **({"replayed": True} if self.replayed else {}),
        }


def parse_token_format(value: Any) -> str:
    """Return "cashuA" or "cashuB" (the default) from the request's `format` field."""
    if value is None:
        return "cashuB"
    chosen = TOKEN_FORMATS.get(value.lower()) if isinstance(value, str) else None
    if chosen is None:
        raise InputError(
            f"format must be cashuA (V3) or cashuB (V4), got {value!r}",
            details=["format: cashuA or cashuB"],
        )
    return chosen


def parse_recipient(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError("recipientPubkey must be a string", details=["recipientPubkey: expected a hex key or npub"])
    try:
        return normalize_pubkey(value)
    except P2PKError as exc:
        raise InputError(f"recipientPubkey: {exc}", code="INVALID_PUBKEY", details=[f"recipientPubkey: {exc}"]) from exc


async def send(
    svc: Services,
    npub: str,
    amount: Any,
    recipient_pubkey: Any = None,
    token_format: Any = None,
    idempotency_key: str | None = None,
) -> SendResult:
    """Take `amount` sats out of the wallet of `npub` as a token; lock it to `recipient_pubkey` when given.

    A request repeated with the same `idempotency_key` returns the first send's token.
    """
    wallet = await require_wallet(svc, npub)
    amount = validate_amount(amount, svc.settings.max_amount_sat)
    details = {"format": parse_token_format(token_format), "lock": parse_recipient(recipient_pubkey)}
    request = _Request(idempotency_key, _request_hash(amount, details))
    replay = await _find_replay(svc, wallet, request)
    if replay is not None:
        return replay
    operation_id = op_store.new_operation_id("send")
    async with kept_lease(svc, operation_id):
        operation = await _reserve(svc, wallet, amount, operation_id, details, request)
        crash_point("send.after_reserve")
        await _check_inputs(svc, operation)
        operation = await _journal_swap(svc, operation)
        inputs = [p.to_proof() for p in await _stored(svc, operation.input_ys)]
        crash_point("send.before_swap")
        signatures = await swap(svc, operation, inputs)
        crash_point("send.after_swap_answer")
        operation, sent = await settle_send(svc, operation, signatures)
    if operation.state != "completed":
        raise ConflictError(
            f"send {operation.id} was settled by recovery as {operation.state}; read its outcome from the history",
            code="OPERATION_IN_PROGRESS",
            transactionId=operation.id,
        )
    log.info(
        "Token sent",
        npub=wallet.npub,
        transactionId=operation.id,
        amount=operation.amount,
        feesPaid=operation.fees_paid,
        changeAmount=operation.change_amount,
        locked=details["lock"] is not None,
    )
    return SendResult(operation, encode_sent_token(operation, sent))


@dataclass(frozen=True)
class _Request:
    idempotency_key: str | None
    request_hash: str


def _request_hash(amount: int, details: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([amount, details["lock"], details["format"]]).encode()).hexdigest()


async def _find_replay(svc: Services, wallet: Wallet, request: _Request) -> SendResult | None:
    """Return the first result of a send repeated with the same Idempotency-Key, or raise a 409."""
    key = request.idempotency_key
    if key is None:
        return None
    if not 0 < len(key) <= 200:
        raise InputError("Idempotency-Key must be 1 to 200 characters", details=["Idempotency-Key: 1-200 chars"])
    async with svc.db.read() as conn:
        previous = await op_store.find_by_idempotency_key(conn, wallet.id, key)
    if previous is None:
        return None
    if previous.kind != "send" or previous.request_hash != request.request_hash:
        raise IdempotencyConflictError(
            "this Idempotency-Key was already used for a different request; use a new key per send",
            transactionId=previous.id,
        )
    if previous.state == "completed":
        result = await read_sent_token(svc, wallet.npub, previous.id)
        return SendResult(result.operation, result.token, replayed=True)
    raise ConflictError(
        f"the first send with this Idempotency-Key is {previous.state} ({previous.error_code or 'in progress'}); "
        "read its outcome from the history",
        code=previous.error_code or "OPERATION_IN_PROGRESS",
        transactionId=previous.id,
        state=previous.state,
    )


def encode_sent_token(operation: Operation, sent: list[Proof]) -> str:
    token = Token(mint=operation.mint_url, unit="sat", proofs=sent)
    fmt = (operation.details or {}).get("format", "cashuB")
    return encode_token_v3(token) if fmt == "cashuA" else encode_token_v4(token)


async def _stored(svc: Services, ys: list[str]) -> list[StoredProof]:
    async with svc.db.read() as conn:
        return await proof_store.proofs_by_ys(conn, ys)


async def _reserve(
    svc: Services, wallet: Wallet, amount: int, operation_id: str, details: dict[str, Any], request: _Request
) -> Operation:
    """Select proofs worth `amount` after their input fee and journal the send with them reserved."""
    fee_ppk = {k.id: k.input_fee_ppk for k in await svc.keysets.all()}
    for _ in range(MAX_RESERVE_ATTEMPTS):
        try:
            return await _try_reserve(svc, wallet, amount, operation_id, details, fee_ppk, request)
        except _ReservationLost:
            continue
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            raise ConflictError(
                "a send with this Idempotency-Key is already being processed; retry it to read its result",
                code="OPERATION_IN_PROGRESS",
            ) from exc
    raise ConflictError(
        "other operations of this wallet keep taking the same proofs; retry the request",
        code="OPERATION_IN_PROGRESS",
    )


class _ReservationLost(Exception):
    """A concurrent operation reserved one of the selected proofs first."""


async def _try_reserve(
    svc: Services,
    wallet: Wallet,
    amount: int,
    operation_id: str,
    details: dict[str, Any],
    fee_ppk: dict[str, int],
    request: _Request,
) -> Operation:
    async with svc.db.transaction("send_reserve") as conn:
        # Concurrent withdrawals of one wallet queue here (see melt's reservation) and are counted
        # against the daily limit one after the other.
        await proof_store.lock_wallet_for_selection(conn, wallet.id)
        await enforce_daily_withdrawal_limit(conn, wallet, amount, svc.settings.daily_withdrawal_limit_sat)
        # The send proofs are handed out, not spent by this wallet, so they carry no fee of their own.
        # NOTE: even an exact selection is swapped, so every send pays one input fee. Handing out
        # stored proofs directly would split a token's proofs across two tokens in the ledger.
        # A few candidates through the amount index usually suffice; only when they cannot cover
        # the amount are all unspent proofs loaded.
        candidates = await proof_store.selection_candidates(conn, wallet.id, amount + max_input_fee(fee_ppk))
        selection = select_proofs(candidates, amount, fee_ppk, 0)
        if selection is None:
            candidates = await proof_store.unspent_proofs(conn, wallet.id)
            selection = select_proofs(candidates, amount, fee_ppk, 0)
        if selection is None:
            required = required_amount(candidates, amount, fee_ppk, 0)
            available = sum(p.amount for p in candidates)
            raise InsufficientBalanceError(
                f"sending {amount} sat needs {required} sat including the mint's input fee but the wallet "
                f"has {available} sat available; fund it with POST /api/wallet/{wallet.npub}/mint",
                required=required,
                available=available,
                amount=amount,
            )
        ys = [p.Y for p in selection.proofs]
        operation = await op_store.insert_operation(
            conn,
            wallet,
            operation_id=operation_id,
            kind="send",
            state="prepared",
            amount=amount,
            fees_paid=0,
            input_ys=ys,
            idempotency_key=request.idempotency_key,
            request_hash=request.request_hash,
            details={**details, "input_fee": selection.input_fee},
            lease_owner=svc.instance_id,
            lease_until=utcnow() + timedelta(seconds=svc.settings.lease_seconds),
        )
        if await proof_store.reserve(conn, [p.id for p in selection.proofs], operation_id):
            await audit.record_step(conn, "send_reserved", operation, to_state="prepared", Ys=ys, amount=amount)
            return operation
        # Raising rolls the journal entry back together with the partial reservation.
        raise _ReservationLost


async def _check_inputs(svc: Services, operation: Operation) -> None:
    """Confirm with the mint that the reserved proofs are unspent; write off and reject otherwise."""
    try:
        states = await svc.mint.check_state(operation.input_ys)
    except MintError as exc:
        await fail_operation(svc, operation, exc.error_code, f"pre-flight checkstate failed: {exc.message}")
        raise MintFailureError(
            f"the proof check at the mint failed: {exc.message}; funds are safe (released)",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            fundsStatus="released",
            transactionId=operation.id,
        ) from exc
    spent = [s.Y for s in states if s.state is ProofState.SPENT]
    pending = [s.Y for s in states if s.state is ProofState.PENDING]
    if not spent and not pending:
        return
    await fail_operation(svc, operation, "HIGH_SEVERITY_DISCREPANCIES", f"{len(spent)} inputs spent at the mint")
    if spent:
        async with svc.db.transaction("send_preflight_block") as conn:
            await proof_store.mark_spent(conn, spent, RECONCILIATION)
            await audit.record_step(conn, "preflight_blocked", operation, spentYs=spent)
    raise ConflictError(
        f"{len(spent)} of the selected proofs were already spent and {len(pending)} are pending at the mint; "
        "spent ones are now marked spent. Retry the send: it will use other proofs.",
        code="HIGH_SEVERITY_DISCREPANCIES" if spent else "PROOFS_PENDING_AT_MINT",
        transactionId=operation.id,
    )


async def _journal_swap(svc: Services, operation: Operation) -> Operation:
    """Commit the swap's outputs, send first then keep, and move the send to swap_sent."""
    keyset = await svc.keysets.active(svc.settings.unit)
    details = operation.details or {}
    async with svc.db.read() as conn:
        total = sum(p.amount for p in await proof_store.proofs_by_ys(conn, operation.input_ys))
    keep = total - int(details.get("input_fee", 0)) - operation.amount
    lock = details.get("lock")
    async with svc.db.transaction("send_swap_journal") as conn:
        if lock is None:
            groups = [(split_amount(operation.amount), "send"), (split_amount(keep), "keep")]
            outputs = await plan_wallet_outputs(conn, operation.wallet_id, keyset.id, groups)
        else:
            # Locked secrets cannot follow from the seed; the journal keeps them for NUT-09 restore.
            outputs = _locked_outputs(split_amount(operation.amount), keyset.id, lock)
            outputs += await plan_wallet_outputs(conn, operation.wallet_id, keyset.id, [(split_amount(keep), "keep")])
        await op_store.transition(conn, operation.id, ["prepared"], "swap_sent", outputs=outputs)
        journaled = await op_store.get_operation(conn, operation.id)
    assert journaled is not None
    return journaled


def _locked_outputs(amounts: list[int], keyset_id: str, pubkey: str) -> list[dict[str, Any]]:
    planned = []
    for amount in amounts:
        secret = lock_secret(pubkey)
        B_, r = blind_message(secret)
        planned.append(
            {"amount": amount, "keyset_id": keyset_id, "secret": secret, "r": r.hex(), "B_": B_, "role": "send"}
        )
    return planned


async def settle_send(
    svc: Services, operation: Operation, signatures: list[Any], *, delivered: bool = True
) -> tuple[Operation, list[Proof]]:
    """Record a swap the mint carried out: inputs spent, keep proofs unspent, send proofs pending-send.

    Recovery passes `delivered=False` for a swap whose token never reached the caller. Unlocked
    send proofs then return to the balance as change and the send ends failed. Locked ones stay
    sent, because only the recipient's key can spend them.
    """
    proofs = await unblind(operation.outputs, signatures, svc.keysets)
    roles = [o["role"] for o in operation.outputs]
    sent = [p for p, role in zip(proofs, roles, strict=True) if role == "send"]
    keep = [p for p, role in zip(proofs, roles, strict=True) if role == "keep"]
    handed_out = delivered or (operation.details or {}).get("lock") is not None
    async with svc.db.transaction("send_settle") as conn:
        current = await op_store.get_operation(conn, operation.id)
        assert current is not None
        if current.state != "swap_sent":
            return current, sent
        spent_total = sum(p.amount for p in await proof_store.proofs_by_ys(conn, current.input_ys))
        await proof_store.mark_spent(conn, current.input_ys, current.id)
        await _store_outputs(conn, current, keep, sent, handed_out)
        keep_amount = sum(p.amount for p in keep)
        fee = spent_total - keep_amount - sum(p.amount for p in sent)
        final = "completed" if handed_out else "failed"
        await op_store.transition(
            conn,
            current.id,
            ["swap_sent"],
            final,
            change_amount=keep_amount,
            fees_paid=fee,
            lease_owner=None,
            lease_until=None,
            **({} if handed_out else {"error_code": "INTERRUPTED", "error_message": "the token was never delivered"}),
        )
        await audit.record_step(
            conn,
            "send_completed" if handed_out else "send_returned",
            current,
            from_state="swap_sent",
            to_state=final,
            amount=current.amount,
            keep=keep_amount,
            fee=fee,
            sentYs=[proof_y(p.secret) for p in sent],
        )
        done = await op_store.get_operation(conn, current.id)
    assert done is not None
    return done, sent


async def _store_outputs(
    conn: Any, operation: Operation, keep: list[Proof], sent: list[Proof], handed_out: bool
) -> None:
    await proof_store.insert_token(
        conn,
        operation,
        transaction_type="change",
        transaction_id=f"{operation.id}_keep",
        new_proofs=keep,
        metadata={"source": "send_swap", "operation_id": operation.id},
    )
    if handed_out:
        await proof_store.insert_token(
            conn,
            operation,
            transaction_type="sent",
            transaction_id=operation.id,
            new_proofs=sent,
            pending_send=True,
            metadata={"operation_id": operation.id, "locked_to": (operation.details or {}).get("lock")},
        )
    else:
        await proof_store.insert_token(
            conn,
            operation,
            transaction_type="change",
            transaction_id=f"{operation.id}_send",
            new_proofs=sent,
            metadata={"source": "send_not_delivered", "operation_id": operation.id},
        )


# --- recovery ---------------------------------------------------------------------------------


async def resume_send(svc: Services, operation: Operation) -> str:
    """Finish or roll back an interrupted send from its journal; return the outcome."""
    if operation.state == "prepared":
        await fail_operation(svc, operation, "INTERRUPTED", "the service stopped before the swap was sent")
        return "rolled_back"
    outcome, signatures = await resume_swap(svc, operation)
    if outcome == "unspent":
        await fail_operation(svc, operation, "INTERRUPTED", "the swap of this send did not take place")
        return "rolled_back"
    if outcome == "pending" or signatures is None:
        # NOTE: "spent_elsewhere" (inputs spent, outputs not signed) needs an operator; it stays open.
        if outcome == "spent_elsewhere":
            log.error("Send inputs spent but its outputs were not signed", transactionId=operation.id)
        return "pending"
    # The swap went through but the caller never received the token.
    done, _ = await settle_send(svc, operation, signatures, delivered=False)
    return "completed" if done.state == "completed" else "rolled_back"


async def sent_token(svc: Services, npub: str, transaction_id: str) -> tuple[Operation, list[StoredProof]]:
    """Return a completed send of this wallet and its proofs, or raise a 404-style input error."""
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        operation = await op_store.get_operation(conn, transaction_id)
        stored = await proof_store.token_proofs(conn, transaction_id)
    if operation is None or operation.wallet_id != wallet.id or operation.kind != "send":
        raise InputError(
            f"no send {transaction_id!r} in this wallet; use the transactionId the send returned",
            code="SEND_NOT_FOUND",
            details=["transactionId: unknown for this wallet"],
        )
    return operation, stored


async def read_sent_token(svc: Services, npub: str, transaction_id: str) -> SendResult:
    """Return the token of a completed send again, for a caller whose first response was lost."""
    operation, stored = await sent_token(svc, npub, transaction_id)
    if operation.state != "completed" or not stored:
        raise ConflictError(
            f"send {transaction_id} is {operation.state} and has no token",
            code="SEND_NOT_COMPLETED",
            transactionId=transaction_id,
        )
    return SendResult(operation, encode_sent_token(operation, [p.to_proof() for p in stored]))
