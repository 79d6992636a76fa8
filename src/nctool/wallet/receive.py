"""Receive: redeem a token into fresh proofs of this wallet, and reclaim a token this wallet sent.

States of a receive operation: swap_sent ──> completed, or swap_sent ──> failed. The operation
row and its outputs are committed before the swap, so a crash after the mint signed is
recovered with NUT-09 restore.

The new proofs are stored as a `received` token of their own value, which is the token's value
less the mint's input fee. The wallet never held the fee, so it is not counted in the ledger's
`fees` (the response and the audit log show it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from nctool.cashu.amounts import input_fee, split_amount
from nctool.cashu.errors import MintError
from nctool.cashu.models import BlindSignature, Proof, ProofState, Token
from nctool.cashu.p2pk import P2PKError, parse_private_key
from nctool.errors import ConflictError, InputError, MintFailureError
from nctool.faults import crash_point
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.store.records import Operation, Wallet
from nctool.store.tables import tokens, utcnow
from nctool.wallet import tokencheck
from nctool.wallet.lease import kept_lease
from nctool.wallet.outputs import blinded_messages, plan_wallet_outputs, unblind
from nctool.wallet.send import sent_token
from nctool.wallet.services import Services
from nctool.wallet.swapping import after_failed_swap, fail_operation, resume_swap
from nctool.wallet.wallets import ensure_p2pk_key, require_wallet

log = get_logger()


@dataclass(frozen=True)
class ReceiveResult:
    operation: Operation
    token_id: int | None
    credited: int
    fee: int

    def to_body(self) -> dict[str, Any]:
        op = self.operation
        body: dict[str, Any] = {
            "success": True,
            "tokenId": self.token_id,
            "transactionId": op.id,
            "totalAmount": self.credited,
            "tokenAmount": op.amount,
            "fee": self.fee,
            "mintUrl": op.mint_url,
        }
        reclaimed = (op.details or {}).get("reclaim_of")
        if reclaimed:
            body["reclaimedTransactionId"] = reclaimed
        return body


def _private_key(value: Any) -> bytes | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError("privateKey must be a hex string", details=["privateKey: expected 64 hex digits"])
    try:
        return parse_private_key(value)
    except P2PKError as exc:
        raise InputError(f"privateKey: {exc}", code="INVALID_PRIVATE_KEY", details=[f"privateKey: {exc}"]) from exc


async def receive(svc: Services, npub: str, encoded_token: Any, private_key: Any = None) -> ReceiveResult:
    """Redeem `encoded_token` into the wallet of `npub`; every check runs before any request to the mint."""
    wallet = await require_wallet(svc, npub)
    extra_key = _private_key(private_key)
    token = tokencheck.decode(encoded_token)
    keys = [await _wallet_key(svc, wallet), *([extra_key] if extra_key else [])]
    checked = await tokencheck.check_token(
        token,
        svc.keysets,
        mint_url=svc.settings.mint_url,
        unit=wallet.unit,
        max_amount=svc.settings.max_amount_sat,
        keys=keys,
    )
    return await _redeem(svc, wallet, checked, reclaim_of=None)


async def reclaim(svc: Services, npub: str, transaction_id: str) -> ReceiveResult:
    """Take back a token this wallet sent that no recipient has redeemed, by swapping its proofs into the balance."""
    wallet = await require_wallet(svc, npub)
    send_op, stored = await sent_token(svc, npub, transaction_id)
    pending = [p for p in stored if p.state == proof_store.PENDING_SEND]
    if send_op.state != "completed" or not stored:
        raise ConflictError(
            f"send {transaction_id} is {send_op.state}; only a completed send has a token to reclaim",
            code="SEND_NOT_COMPLETED",
            transactionId=transaction_id,
        )
    if not pending:
        raise ConflictError(
            f"the token of send {transaction_id} was already redeemed or reclaimed; nothing is left to reclaim",
            code="TOKEN_ALREADY_SPENT",
            transactionId=transaction_id,
        )
    token = Token(mint=wallet.mint_url, unit=wallet.unit, proofs=[p.to_proof() for p in pending])
    keys = [await _wallet_key(svc, wallet)]
    try:
        checked = await tokencheck.check_token(
            token, svc.keysets, mint_url=wallet.mint_url, unit=wallet.unit, max_amount=2**62, keys=keys
        )
    except InputError as exc:
        if exc.code != "P2PK_KEY_MISMATCH":
            raise
        raise ConflictError(
            f"the token of send {transaction_id} is locked to the recipient's key; only the recipient can redeem it",
            code="TOKEN_LOCKED_TO_RECIPIENT",
            transactionId=transaction_id,
        ) from exc
    return await _redeem(svc, wallet, checked, reclaim_of=transaction_id)


async def _wallet_key(svc: Services, wallet: Wallet) -> bytes:
    await ensure_p2pk_key(svc, wallet)
    async with svc.db.read() as conn:
        key = await wallet_store.get_p2pk_key(conn, wallet.id)
    assert key is not None
    return key


def token_hash(ys: list[str]) -> str:
    """Identify a token by its proofs, whatever its encoding: sha256 of the sorted Ys."""
    return hashlib.sha256(",".join(sorted(ys)).encode()).hexdigest()


async def _earlier_receive(svc: Services, wallet: Wallet, checked: tokencheck.CheckedToken) -> ReceiveResult | None:
    """Return the result of an earlier completed receive of this same token into this wallet."""
    async with svc.db.read() as conn:
        earlier = await op_store.find_by_request(conn, wallet.id, "receive", token_hash(checked.ys))
        token_id = await _token_id(conn, earlier.id) if earlier is not None else None
    if earlier is None or earlier.state != "completed":
        return None
    fee = int((earlier.details or {}).get("fee", 0))
    return ReceiveResult(earlier, token_id, earlier.amount - fee, fee)


async def _token_id(conn: Any, transaction_id: str) -> int | None:
    row = (await conn.execute(select(tokens.c.id).where(tokens.c.transaction_id == transaction_id))).first()
    return int(row[0]) if row else None


async def _redeem(
    svc: Services, wallet: Wallet, checked: tokencheck.CheckedToken, reclaim_of: str | None
) -> ReceiveResult:
    # A retried request whose first response was lost learns the first result from the 409's body.
    earlier = await _earlier_receive(svc, wallet, checked)
    if earlier is not None:
        raise ConflictError(
            f"this wallet already received the token in transaction {earlier.operation.id} and was credited "
            f"{earlier.credited} sat then; nothing was credited now",
            code="TOKEN_ALREADY_RECEIVED",
            transactionId=earlier.operation.id,
            totalAmount=earlier.credited,
            tokenId=earlier.token_id,
        )
    await _check_unspent(svc, checked, reclaim_of)
    fee = input_fee((p.id for p in checked.inputs), {k: v.input_fee_ppk for k, v in checked.keysets.items()})
    if checked.amount - fee <= 0:
        raise InputError(
            f"the token carries {checked.amount} sat, which does not cover the mint's input fee of {fee} sat",
            code="AMOUNT_BELOW_FEE",
            details=["encodedToken: amount does not cover the input fee"],
        )
    operation = await _journal(svc, wallet, checked, fee, reclaim_of)
    async with kept_lease(svc, operation.id):
        crash_point("receive.before_swap")
        try:
            signatures = await svc.mint.swap(checked.inputs, blinded_messages(operation.outputs))
        except MintError as exc:
            signatures = await _after_swap_error(svc, operation, exc)
        crash_point("receive.after_swap_answer")
        done, token_id = await settle_receive(svc, operation, signatures)
    credited = checked.amount - fee
    log.info(
        "Token received",
        npub=wallet.npub,
        transactionId=done.id,
        amount=checked.amount,
        fee=fee,
        reclaimOf=reclaim_of,
    )
    return ReceiveResult(done, token_id, credited, fee)


async def _check_unspent(svc: Services, checked: tokencheck.CheckedToken, reclaim_of: str | None) -> None:
    """Ask the mint whether the token is still unspent, so a redeemed token changes nothing here."""
    try:
        states = await svc.mint.check_state(checked.ys)
    except MintError as exc:
        raise MintFailureError(
            f"the mint could not check the token: {exc.message}; nothing was received, retry later",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            fundsStatus="untouched",
        ) from exc
    spent = [s.Y for s in states if s.state is ProofState.SPENT]
    if spent:
        if reclaim_of is not None:
            await _mark_redeemed(svc, spent)
        raise ConflictError(
            f"{len(spent)} of the token's {len(checked.ys)} proofs are already spent at the mint: the token "
            "was redeemed before, and nothing was credited",
            code="TOKEN_ALREADY_SPENT",
        )
    if any(s.state is ProofState.PENDING for s in states):
        raise ConflictError(
            "the mint reports some of the token's proofs as pending in another request; retry once it settles",
            code="TOKEN_PENDING",
        )


async def _mark_redeemed(svc: Services, ys: list[str]) -> None:
    async with svc.db.transaction("send_redeemed") as conn:
        await proof_store.settle_pending_send(conn, ys, proof_store.REDEEMED)


async def _journal(
    svc: Services, wallet: Wallet, checked: tokencheck.CheckedToken, fee: int, reclaim_of: str | None
) -> Operation:
    keyset = await svc.keysets.active(wallet.unit)
    operation_id = op_store.new_operation_id("receive")
    async with svc.db.transaction("receive_journal") as conn:
        outputs = await plan_wallet_outputs(
            conn, wallet.id, keyset.id, [(split_amount(checked.amount - fee), "receive")]
        )
        operation = await op_store.insert_operation(
            conn,
            wallet,
            operation_id=operation_id,
            kind="receive",
            state="swap_sent",
            amount=checked.amount,
            input_ys=checked.ys,
            request_hash=token_hash(checked.ys),
            outputs=outputs,
            details={"fee": fee, "reclaim_of": reclaim_of, "token_mint": checked.token.mint},
            lease_owner=svc.instance_id,
            lease_until=utcnow() + timedelta(seconds=svc.settings.lease_seconds),
        )
        if reclaim_of is not None and not await proof_store.claim_pending_send(conn, checked.ys, operation_id):
            raise ConflictError(
                f"the token of send {reclaim_of} is being reclaimed or was redeemed meanwhile",
                code="OPERATION_IN_PROGRESS",
                transactionId=reclaim_of,
            )
        await audit.record_step(conn, "receive_journaled", operation, to_state="swap_sent", Ys=checked.ys, fee=fee)
    return operation


async def _after_swap_error(svc: Services, operation: Operation, exc: MintError) -> list[BlindSignature]:
    """Resolve a failed receive swap; return the signatures when the swap did take place."""
    if exc.code == 11001:
        # The inputs are spent: by this very swap (a retried request) or by someone else first.
        outcome, signatures = await resume_swap(svc, operation)
        if outcome == "signed" and signatures is not None:
            return signatures
        if outcome == "spent_elsewhere":
            await _close_spent(svc, operation)
            raise ConflictError(
                "the token was redeemed by someone else while this receive ran; nothing was credited",
                code="TOKEN_ALREADY_SPENT",
                transactionId=operation.id,
            )
    if not exc.ambiguous:
        # Definitive: the mint rejected the token's proofs, and nothing of this wallet was spent.
        await fail_operation(svc, operation, exc.error_code, exc.message)
        raise InputError(
            f"the mint rejected the token: {exc.message}; nothing was credited",
            code="TOKEN_REJECTED",
            details=[f"encodedToken: rejected by the mint ({exc.error_code})"],
            transactionId=operation.id,
        ) from exc
    await after_failed_swap(svc, operation, exc)


async def _close_spent(svc: Services, operation: Operation) -> None:
    if (operation.details or {}).get("reclaim_of"):
        await _mark_redeemed(svc, operation.input_ys)
    await fail_operation(svc, operation, "TOKEN_ALREADY_SPENT", "the token was redeemed elsewhere")


async def settle_receive(
    svc: Services, operation: Operation, signatures: list[BlindSignature]
) -> tuple[Operation, int | None]:
    """Store the new proofs as a received token and complete the operation, in one transaction."""
    new_proofs: list[Proof] = await unblind(operation.outputs, signatures, svc.keysets)
    async with svc.db.transaction("receive_settle") as conn:
        current = await op_store.get_operation(conn, operation.id)
        assert current is not None
        if current.state == "completed":
            return current, None
        token_id = await proof_store.insert_token(
            conn,
            current,
            transaction_type="received",
            transaction_id=current.id,
            new_proofs=new_proofs,
            metadata={"operation_id": current.id, **(current.details or {})},
        )
        # A token sent by a wallet of this service: its proofs are no longer pending there.
        redeemed = await proof_store.settle_pending_send(conn, current.input_ys, current.id)
        await op_store.transition(
            conn,
            current.id,
            ["swap_sent"],
            "completed",
            change_amount=sum(p.amount for p in new_proofs),
            lease_owner=None,
            lease_until=None,
        )
        await audit.record_step(
            conn,
            "receive_completed",
            current,
            from_state="swap_sent",
            to_state="completed",
            amount=current.amount,
            credited=sum(p.amount for p in new_proofs),
            localSendProofsRedeemed=redeemed,
        )
        done = await op_store.get_operation(conn, current.id)
    assert done is not None
    return done, token_id


# --- recovery ---------------------------------------------------------------------------------


async def resume_receive(svc: Services, operation: Operation) -> str:
    """Finish or roll back an interrupted receive from its journal; return the outcome."""
    outcome, signatures = await resume_swap(svc, operation)
    if outcome == "unspent":
        # The swap did not take place: the token is still the sender's to redeem again.
        await fail_operation(svc, operation, "INTERRUPTED", "the service stopped before the token was redeemed")
        return "rolled_back"
    if outcome == "pending":
        return "pending"
    if outcome == "spent_elsewhere" or signatures is None:
        await _close_spent(svc, operation)
        return "rolled_back"
    await settle_receive(svc, operation, signatures)
    return "completed"
