"""Lightning in: mint quotes (NUT-04) and crediting paid quotes, idempotently.

Operation states: quote_created -> mint_sent -> completed, or quote_created -> expired.
The outputs are committed in `mint_sent` before POST /v1/mint, so a response lost on the way
back is recovered with NUT-09 restore instead of being signed twice or lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from nctool.cashu.amounts import split_amount
from nctool.cashu.errors import MintError, MintRejectedError
from nctool.errors import ConflictError, InputError, MintFailureError
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store.records import Operation
from nctool.store.tables import tokens, utcnow
from nctool.wallet.lease import kept_lease
from nctool.wallet.outputs import blinded_messages, match_restored, plan_wallet_outputs, unblind
from nctool.wallet.services import Services
from nctool.wallet.wallets import require_wallet

log = get_logger()

# Grace after a quote's expiry during which a late payment is still looked for.
EXPIRY_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class MintCompletion:
    operation: Operation
    token_id: int | None
    already_completed: bool


def validate_amount(amount: Any, maximum: int, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InputError(f"{field} must be an integer number of sats", details=[f"{field}: expected an integer"])
    if amount < 1 or amount > maximum:
        raise InputError(
            f"{field} must be between 1 and {maximum} sats, got {amount}",
            details=[f"{field}: must be between 1 and {maximum}"],
        )
    return amount


async def request_mint_quote(svc: Services, npub: str, amount: int) -> Operation:
    """Ask the mint for an invoice of `amount` sats and journal the quote for the worker."""
    wallet = await require_wallet(svc, npub)
    amount = validate_amount(amount, svc.settings.max_amount_sat)
    try:
        quote = await svc.mint.create_mint_quote(amount, wallet.unit)
    except MintError as exc:
        raise MintFailureError(
            f"the mint did not create a quote: {exc.message}; no funds are involved, retry later",
            code=exc.error_code,
            fundsStatus="untouched",
        ) from exc
    async with svc.db.transaction("mint_quote") as conn:
        operation = await op_store.insert_operation(
            conn,
            wallet,
            operation_id=op_store.new_operation_id("mint"),
            kind="mint",
            state="quote_created",
            quote_id=quote.quote,
            amount=amount,
            invoice=quote.request,
            expiry=quote.expiry,
            next_check_at=utcnow() + timedelta(seconds=1),
        )
        await audit.record_step(
            conn,
            "mint_quote_created",
            operation,
            to_state="quote_created",
            quote_id=quote.quote,
            amount=amount,
        )
    log.info("Mint quote created", npub=wallet.npub, transactionId=operation.id, quoteId=quote.quote, amount=amount)
    return operation


async def find_mint_operation(svc: Services, npub: str, quote_id: str | None, transaction_id: str | None) -> Operation:
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        operation = await op_store.get_operation(conn, transaction_id) if transaction_id else None
        if operation is None and quote_id:
            operation = await op_store.find_by_quote(conn, wallet.id, "mint", quote_id)
    if operation is None or operation.wallet_id != wallet.id or operation.kind != "mint":
        raise InputError(
            "no mint quote with this quoteId or transactionId for this wallet; request one with POST /mint",
            code="QUOTE_NOT_FOUND",
            details=["quoteId: unknown for this wallet"],
        )
    if quote_id and operation.quote_id != quote_id:
        raise InputError("quoteId does not belong to transactionId", details=["quoteId: does not match transactionId"])
    return operation


async def complete_mint(svc: Services, operation: Operation) -> MintCompletion:
    """Credit a paid quote once; later calls return the first result."""
    if operation.state == "completed":
        return MintCompletion(operation, await token_id_for(svc, operation.id), already_completed=True)
    async with svc.db.transaction("mint_lease") as conn:
        leased = await op_store.try_lease(conn, operation.id, svc.instance_id, svc.settings.lease_seconds)
    if not leased:
        raise ConflictError(
            "this quote is being credited by another request; retry in a moment",
            code="OPERATION_IN_PROGRESS",
            transactionId=operation.id,
        )
    async with kept_lease(svc, operation.id):
        return await _advance(svc, operation)


async def _advance(svc: Services, operation: Operation) -> MintCompletion:
    async with svc.db.read() as conn:
        current = await op_store.get_operation(conn, operation.id)
    assert current is not None
    if current.state == "completed":
        return MintCompletion(current, await token_id_for(svc, current.id), already_completed=True)
    if current.state == "quote_created":
        current = await _send_outputs(svc, current)
    return await _mint_and_store(svc, current)


async def _send_outputs(svc: Services, operation: Operation) -> Operation:
    try:
        quote = await svc.mint.get_mint_quote(str(operation.quote_id))
    except MintError as exc:
        raise MintFailureError(
            f"could not check the quote: {exc.message}", code=exc.error_code, transactionId=operation.id
        ) from exc
    if not (quote.is_paid or quote.is_issued):
        raise ConflictError(
            "the invoice of this quote is not paid yet; pay it, and the service credits it on its own",
            code="QUOTE_NOT_PAID",
            transactionId=operation.id,
            quoteId=operation.quote_id,
        )
    keyset = await svc.keysets.active(svc.settings.unit)
    async with svc.db.transaction("mint_outputs") as conn:
        outputs = await plan_wallet_outputs(
            conn, operation.wallet_id, keyset.id, [(split_amount(operation.amount), "mint")]
        )
        await op_store.transition(conn, operation.id, ["quote_created"], "mint_sent", outputs=outputs)
        updated = await op_store.get_operation(conn, operation.id)
    assert updated is not None
    return updated


async def _mint_and_store(svc: Services, operation: Operation) -> MintCompletion:
    outputs = operation.outputs
    try:
        signatures = await svc.mint.mint(str(operation.quote_id), blinded_messages(outputs))
    except MintRejectedError as exc:
        if exc.code not in (11003, 20002):
            raise MintFailureError(
                f"the mint rejected the mint request: {exc.message}", code=exc.error_code, transactionId=operation.id
            ) from exc
        # Our outputs were signed by an earlier attempt whose response never arrived.
        outputs, signatures = match_restored(outputs, await svc.mint.restore(blinded_messages(outputs)))
    except MintError as exc:
        raise MintFailureError(
            f"minting failed: {exc.message}; the quote stays journaled and the worker retries it",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            transactionId=operation.id,
        ) from exc
    new_proofs = await unblind(outputs, signatures, svc.keysets)
    return await _store_minted(svc, operation, new_proofs)


async def _store_minted(svc: Services, operation: Operation, new_proofs: list[Any]) -> MintCompletion:
    amount = sum(p.amount for p in new_proofs)
    async with svc.db.transaction("mint_store") as conn:
        if not await op_store.transition(conn, operation.id, ["mint_sent"], "completed"):
            current = await op_store.get_operation(conn, operation.id)
            assert current is not None
            return MintCompletion(current, None, already_completed=True)
        token_id = await proof_store.insert_token(
            conn,
            operation,
            transaction_type="minted",
            transaction_id=operation.id,
            new_proofs=new_proofs,
            metadata={"quote_id": operation.quote_id},
        )
        await audit.record_step(
            conn,
            "mint_completed",
            operation,
            from_state="mint_sent",
            to_state="completed",
            amount=amount,
        )
        done = await op_store.get_operation(conn, operation.id)
    assert done is not None
    if amount != operation.amount:
        log.warning(
            "Minted amount differs from quote",
            transactionId=operation.id,
            minted=amount,
            quoted=operation.amount,
        )
    log.info(
        "Mint completed",
        npub=operation.npub,
        transactionId=operation.id,
        quoteId=operation.quote_id,
        amount=amount,
    )
    return MintCompletion(done, token_id, already_completed=False)


async def token_id_for(svc: Services, transaction_id: str) -> int | None:
    async with svc.db.read() as conn:
        row = (await conn.execute(select(tokens.c.id).where(tokens.c.transaction_id == transaction_id))).first()
    return int(row[0]) if row else None


async def poll_mint_quote(svc: Services, operation: Operation) -> str:
    """Worker step for one mint operation; returns the outcome label for metrics."""
    try:
        result = await complete_mint(svc, operation)
    except ConflictError as exc:
        if exc.code != "QUOTE_NOT_PAID":
            return "busy"
        return await _reschedule_unpaid(svc, operation)
    except (MintFailureError, MintError):
        await _reschedule(svc, operation, 10.0)
        return "retry"
    if not result.already_completed:
        metrics.MINT_CREDITS.labels(source="worker").inc()
    return "completed"


async def _reschedule_unpaid(svc: Services, operation: Operation) -> str:
    now = time.time()
    if operation.expiry and now > operation.expiry + EXPIRY_GRACE.total_seconds():
        async with svc.db.transaction("mint_expire") as conn:
            await op_store.transition(conn, operation.id, ["quote_created"], "expired")
            await audit.record_step(
                conn,
                "mint_quote_expired",
                operation,
                from_state="quote_created",
                to_state="expired",
            )
        return "expired"
    age = now - operation.created_at.timestamp()
    await _reschedule(svc, operation, min(svc.settings.mint_quote_poll_max_seconds, max(1.0, age / 10)))
    return "unpaid"


async def _reschedule(svc: Services, operation: Operation, seconds: float) -> None:
    async with svc.db.transaction("reschedule") as conn:
        await op_store.update_operation(
            conn,
            operation.id,
            next_check_at=utcnow() + timedelta(seconds=seconds),
            attempts=operation.attempts + 1,
        )
