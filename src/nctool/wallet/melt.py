"""Lightning out: the crash-safe melt (NUT-05 with NUT-08 change).

States of a melt operation, each committed before the step that follows it:

    prepared ──> swap_sent ──> swap_done ──> melt_sent ──> completed
        │            │                          │   └────> melt_pending ──> completed
        └────────────┴──────────────> failed <──┴────────────────┘

A melt whose inputs the mint reported unspent while it prepared the quote, and which needs no swap,
commits its reservation and its blank outputs in one transaction and enters at melt_sent.

Rules on the money path:
- The operation row and the blinded outputs are committed before any mint request that can
  spend or sign, so a crash at any point leaves a journal that recovery can finish.
- Proofs are released only after a definitive failure AND a checkstate that shows them
  unspent. Timeouts, lost connections, 5xx and ambiguous NUT codes keep them reserved.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.cashu.amounts import blank_output_count, input_fee, split_amount
from nctool.cashu.client import MeltQuote, ProofStateEntry, measure_mint_wait
from nctool.cashu.crypto import proof_y
from nctool.cashu.errors import MintError
from nctool.cashu.models import BlindSignature, Proof, ProofState
from nctool.errors import (
    ConflictError,
    IdempotencyConflictError,
    InputError,
    InsufficientBalanceError,
    InternalError,
    InvoiceInFlightError,
    MintFailureError,
    NctoolError,
    ReconciliationBlockedError,
    ServiceUnavailableError,
    Severity,
    StoreContentionError,
    StoreError,
)
from nctool.faults import crash_point
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import flags as flag_store
from nctool.store import operations as op_store
from nctool.store import proofs as proof_store
from nctool.store.ledger import RECONCILIATION
from nctool.store.records import Operation, StoredProof, Wallet
from nctool.store.tables import utcnow
from nctool.wallet.invoice import Invoice, InvoiceError, parse_invoice
from nctool.wallet.lease import kept_lease
from nctool.wallet.limits import enforce_daily_withdrawal_limit
from nctool.wallet.outputs import blinded_messages, match_restored, plan_wallet_outputs, unblind
from nctool.wallet.preflight import Discrepancy, classify, log_state_check
from nctool.wallet.selection import (
    Selection,
    as_melt_selection,
    keep_denominations,
    max_input_fee,
    required_amount,
    select_for_melt,
    select_proofs,
)
from nctool.wallet.services import Services
from nctool.wallet.wallets import require_wallet_in

log = get_logger()

MAX_SELECTION_ROUNDS = 3
MAX_RESERVE_ATTEMPTS = 10
PENDING_STATES = ("prepared", "swap_sent", "swap_done", "melt_sent", "melt_pending")


@dataclass(frozen=True)
class MeltResult:
    """Outcome of a melt request: paid, or pending at the mint."""

    operation: Operation
    state: str
    replayed: bool = False

    def to_body(self) -> dict[str, Any]:
        op = self.operation
        body: dict[str, Any] = {
            "success": True,
            "transactionId": op.id,
            "state": self.state,
            "paidAmount": op.amount if self.state == "paid" else 0,
            "amount": op.amount,
            "feesPaid": op.fees_paid,
            "changeAmount": op.change_amount,
            "feeReserve": op.fee_reserve,
            "quoteId": op.quote_id,
            "preimage": op.preimage,
        }
        if self.replayed:
            body["replayed"] = True
        if self.state == "pending":
            body["message"] = (
                "The payment is pending at the mint; the funds stay reserved and the service settles it "
                "on its own. Check GET /api/wallet/{npub}/transactions for the outcome."
            )
        return body


async def _halted_reason(conn: AsyncConnection) -> str | None:
    reason = await flag_store.melts_halted_reason(conn)
    metrics.MELTS_HALTED.set(1 if reason else 0)
    return reason


def _request_hash(invoice: Invoice) -> str:
    return hashlib.sha256(invoice.bolt11.lower().encode()).hexdigest()


def _validate_invoice(svc: Services, text: Any) -> Invoice:
    if not isinstance(text, str) or not text.strip():
        raise InputError(
            "invoice is missing; send a bolt11 invoice string",
            code="INVALID_INVOICE",
            details=["invoice: required bolt11 string"],
        )
    try:
        invoice = parse_invoice(text, network=svc.settings.lightning_network)
    except InvoiceError as exc:
        raise InputError(f"invoice: {exc}", code=exc.reason, details=[f"invoice: {exc}"]) from exc
    if invoice.amount_sat > svc.settings.max_amount_sat:
        raise InputError(
            f"invoice amount {invoice.amount_sat} sat is above the maximum of {svc.settings.max_amount_sat} sat",
            code="AMOUNT_TOO_LARGE",
            details=["invoice: amount above NCTOOL_MAX_AMOUNT_SAT"],
        )
    return invoice


async def melt(svc: Services, npub: str, invoice_text: Any, idempotency_key: str | None = None) -> MeltResult:
    """Pay a bolt11 invoice from the wallet of `npub`."""
    started = time.perf_counter()
    # One connection for the checks that precede the payment; each read costs a pool checkout.
    async with svc.db.read() as conn:
        wallet = await require_wallet_in(conn, svc, npub)
        invoice = _validate_invoice(svc, invoice_text)
        await _check_allowed(conn, idempotency_key)
        request_hash = _request_hash(invoice)
        replay = await _find_replay_in(conn, wallet, invoice, idempotency_key, request_hash)
    if replay is not None:
        return replay

    metrics.MELT_ATTEMPTS.labels(amount_range=metrics.amount_range(invoice.amount_sat)).inc()
    try:
        with measure_mint_wait() as mint_wait:
            result = await _run(svc, wallet, invoice, idempotency_key, request_hash)
    except NctoolError as exc:
        # CRITICAL errors are counted where they happen, in melt_critical_errors_total.
        metrics.MELT_FAILURES.labels(error_code=exc.code, severity=exc.severity.value).inc()
        log.warning(
            "Melt failed",
            npub=wallet.npub,
            transactionId=exc.context.get("transactionId"),
            code=exc.code,
            severity=exc.severity.value,
            fundsStatus=exc.context.get("fundsStatus"),
            error=exc.message,
            status=exc.http_status,
        )
        raise
    finally:
        metrics.MELT_DURATION.observe(time.perf_counter() - started)

    elapsed = time.perf_counter() - started
    _log_outcome(wallet, result, elapsed, mint_wait.seconds)
    return result


async def _check_allowed(conn: AsyncConnection, idempotency_key: str | None) -> None:
    """Reject a malformed Idempotency-Key, and any melt while the breaker is tripped."""
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise InputError("Idempotency-Key must be 1 to 200 characters", details=["Idempotency-Key: 1-200 chars"])
    halted = await _halted_reason(conn)
    if halted is not None:
        raise ServiceUnavailableError(
            f"melts are halted by the ledger breaker ({halted}); an operator resumes them with "
            "`nctool ops resume-melts` after investigating",
            code="MELTS_HALTED",
        )


def _log_outcome(wallet: Wallet, result: MeltResult, elapsed: float, mint_wait: float) -> None:
    """Log the outcome with the time spent waiting on the mint and the rest, nctool's own time, in ms."""
    duration_ms = round(elapsed * 1000)
    timing = {"mintWaitMs": round(mint_wait * 1000, 3), "overheadMs": round((elapsed - mint_wait) * 1000, 3)}
    if result.state == "paid":
        metrics.MELT_SUCCESS.labels(change="with_change" if result.operation.change_amount else "no_change").inc()
        log.info(
            "Enhanced melt tokens operation completed successfully",
            npub=wallet.npub,
            transactionId=result.operation.id,
            quoteId=result.operation.quote_id,
            operationDuration=duration_ms,
            paidAmount=result.operation.amount,
            feesPaid=result.operation.fees_paid,
            changeAmount=result.operation.change_amount,
            **timing,
        )
    else:
        metrics.MELT_PENDING.inc()
        log.info(
            "Melt pending at the mint",
            npub=wallet.npub,
            transactionId=result.operation.id,
            quoteId=result.operation.quote_id,
            operationDuration=duration_ms,
            **timing,
        )


async def _find_replay(
    svc: Services, wallet: Wallet, invoice: Invoice, key: str | None, request_hash: str
) -> MeltResult | None:
    async with svc.db.read() as conn:
        return await _find_replay_in(conn, wallet, invoice, key, request_hash)


async def _find_replay_in(
    conn: AsyncConnection, wallet: Wallet, invoice: Invoice, key: str | None, request_hash: str
) -> MeltResult | None:
    """Return the first result for a repeated Idempotency-Key; reject an invoice already paid or in flight."""
    previous = await op_store.find_by_idempotency_key(conn, wallet.id, key) if key else None
    live = await op_store.find_live_melt(conn, wallet.id, invoice.payment_hash)
    if previous is not None:
        if previous.kind != "melt" or previous.request_hash != request_hash:
            raise IdempotencyConflictError(
                "this Idempotency-Key was already used for a different request; use a new key per payment",
                transactionId=previous.id,
            )
        return _replay_result(previous)
    if live is not None:
        state = "completed" if live.state == "completed" else "in flight"
        raise InvoiceInFlightError(
            f"this wallet already has a payment of this invoice {state} ({live.id}); an invoice is paid once",
            code="INVOICE_ALREADY_PAID" if live.state == "completed" else "INVOICE_IN_FLIGHT",
            transactionId=live.id,
            state=live.state,
        )
    return None


def _replay_result(previous: Operation) -> MeltResult:
    if previous.state == "completed":
        return MeltResult(previous, "paid", replayed=True)
    if previous.state == "failed":
        raise ConflictError(
            f"the first request with this Idempotency-Key failed ({previous.error_code}): {previous.error_message}",
            code=previous.error_code or "MELT_FAILED",
            transactionId=previous.id,
            state="failed",
        )
    return MeltResult(previous, "pending", replayed=True)


async def _run(svc: Services, wallet: Wallet, invoice: Invoice, key: str | None, request_hash: str) -> MeltResult:
    quote, precheck = await _quote_and_precheck(svc, wallet, invoice)
    operation_id = op_store.new_operation_id("melt")
    async with kept_lease(svc, operation_id) as lease:
        operation, selection = await _select_and_check(
            svc, wallet, invoice, quote, operation_id, key, request_hash, precheck
        )
        crash_point("melt.after_reserve")
        send_proofs = [p.to_proof() for p in selection.proofs]
        if selection.needs_swap:
            operation, send_proofs = await _swap(svc, wallet, operation, selection)
        result = await _pay(svc, operation, send_proofs)
        # Completing the melt cleared its lease in the same transaction.
        lease.cleared = result.state == "paid"
        return result


@dataclass(frozen=True)
class _Precheck:
    """Proofs checked with the mint while it prepared the quote, and the states it reported."""

    proofs: list[StoredProof]
    states: dict[str, ProofStateEntry]
    # Time the check took, counted in the melt's preflight stage.
    seconds: float = 0.0

    def usable(self) -> list[StoredProof] | None:
        """Return the checked proofs if the mint reported all of them unspent."""
        unspent = [self.states.get(p.Y) for p in self.proofs]
        if not self.proofs or any(s is None or s.state is not ProofState.UNSPENT for s in unspent):
            return None
        return self.proofs


# Fee reserve per sat of the last quote. The pre-check selects proofs for the invoice amount plus
# this estimate before the quote arrives; a wrong estimate costs a second checkstate, never money.
_last_reserve_ratio = 0.0


async def _quote_and_precheck(svc: Services, wallet: Wallet, invoice: Invoice) -> tuple[MeltQuote, _Precheck]:
    """Request the melt quote and, while the mint prepares it, check the proofs the payment will likely use."""
    global _last_reserve_ratio
    quote_task = asyncio.ensure_future(_quote(svc, wallet, invoice))
    try:
        estimate = invoice.amount_sat + math.ceil(invoice.amount_sat * _last_reserve_ratio)
        precheck = await _precheck(svc, wallet, estimate)
        quote = await quote_task
    except BaseException:
        quote_task.cancel()
        await asyncio.gather(quote_task, return_exceptions=True)
        raise
    _last_reserve_ratio = quote.fee_reserve / quote.amount if quote.amount else 0.0
    return quote, precheck


async def _fee_rates(svc: Services, wallet: Wallet) -> tuple[dict[str, int], int]:
    """Return input_fee_ppk per keyset id, and that of the keyset a swap signs new proofs under."""
    fee_ppk = {k.id: k.input_fee_ppk for k in await svc.keysets.all()}
    return fee_ppk, (await svc.keysets.active(wallet.unit)).input_fee_ppk


async def _precheck(svc: Services, wallet: Wallet, target: int) -> _Precheck:
    """Select proofs for `target` without reserving them and ask the mint for their states.

    A failed mint request here is not an error: the quote reports an unreachable mint, and the
    pre-flight after the reservation requests the states again.
    """
    started = time.perf_counter()
    try:
        fee_ppk, send_ppk = await _fee_rates(svc, wallet)
        async with svc.db.read() as conn:
            candidates = await proof_store.selection_candidates(conn, wallet.id, target + max_input_fee(fee_ppk))
        selection = select_for_melt(candidates, target, fee_ppk, send_ppk)
        if selection is None or selection.needs_swap:
            return _Precheck([], {})
        states = await svc.mint.check_state([p.Y for p in selection.proofs])
    except MintError as exc:
        log.info("Pre-check of melt inputs failed; the pre-flight retries it", npub=wallet.npub, error=exc.message)
        return _Precheck([], {})
    return _Precheck(selection.proofs, {s.Y: s for s in states}, time.perf_counter() - started)


async def _quote(svc: Services, wallet: Wallet, invoice: Invoice) -> MeltQuote:
    try:
        quote = await svc.mint.create_melt_quote(invoice.bolt11, wallet.unit)
    except MintError as exc:
        raise _quote_error(exc) from exc
    if quote.amount != invoice.amount_sat:
        raise MintFailureError(
            f"the mint quoted {quote.amount} {wallet.unit} for an invoice of {invoice.amount_sat} sat; not paying",
            code="QUOTE_AMOUNT_MISMATCH",
            fundsStatus="untouched",
        )
    return quote


def _quote_error(exc: MintError) -> NctoolError:
    """Translate a failed melt quote: the mint's 4xx responses concern the invoice, not an outage."""
    if exc.status is not None and 400 <= exc.status < 500 and "already paid" in exc.message.lower():
        return InvoiceInFlightError(
            "the mint reports this invoice as already paid or being paid; an invoice is paid once",
            code="INVOICE_ALREADY_PAID",
            fundsStatus="untouched",
        )
    # NOTE: Nutshell 0.19.2 also responds 400 with code 0 when its own database lock times out under
    # load, which this maps to a rejected invoice although a retry would succeed.
    if exc.status is not None and 400 <= exc.status < 500 and exc.code is not None:
        return InputError(
            f"the mint rejected this invoice: {exc.message}; no funds were touched",
            code=exc.error_code,
            details=[f"invoice: rejected by the mint ({exc.error_code})"],
            fundsStatus="untouched",
        )
    return MintFailureError(
        f"the mint did not quote this invoice: {exc.message}; no funds were touched, retry later",
        code=exc.error_code,
        timeout=exc.error_code == "MINT_TIMEOUT",
        fundsStatus="untouched",
    )


# --- reserve and pre-flight ----------------------------------------------------------------


async def _select_and_check(
    svc: Services,
    wallet: Wallet,
    invoice: Invoice,
    quote: MeltQuote,
    operation_id: str,
    key: str | None,
    request_hash: str,
    precheck: _Precheck,
) -> tuple[Operation, Selection]:
    """Reserve proofs for the payment and confirm them with the mint, leaving out pending ones.

    The proofs pre-checked while the quote was prepared are reserved when they still cover the
    payment, and the mint is asked only about reserved proofs it has not reported on yet.
    """
    excluded: list[str] = []
    preferred = precheck.usable()
    precheck_seconds = precheck.seconds
    for selection_round in range(MAX_SELECTION_ROUNDS):
        stage = time.perf_counter()
        operation, selection = await _reserve(
            svc,
            wallet,
            invoice,
            quote,
            operation_id,
            key,
            request_hash,
            excluded,
            preferred,
            selection_round > 0,
            _unspent_ys(precheck.states),
        )
        preferred = None
        metrics.MELT_STAGE_DURATION.labels(stage="selection").observe(time.perf_counter() - stage)
        stage = time.perf_counter()
        pending_ys = await _preflight(svc, wallet, operation, selection.proofs, precheck.states)
        preflight_seconds = time.perf_counter() - stage + precheck_seconds
        metrics.MELT_STAGE_DURATION.labels(stage="preflight").observe(preflight_seconds)
        precheck_seconds = 0.0
        if not pending_ys:
            return operation, selection
        excluded.extend(pending_ys)
    await _fail(svc, operation, "PROOFS_PENDING_AT_MINT", "the mint holds too many of this wallet's proofs pending")
    raise ConflictError(
        "the mint reports several of this wallet's proofs as pending in another payment; retry once it settles",
        code="PROOFS_PENDING_AT_MINT",
        transactionId=operation_id,
    )


async def _reserve(
    svc: Services,
    wallet: Wallet,
    invoice: Invoice,
    quote: MeltQuote,
    operation_id: str,
    key: str | None,
    request_hash: str,
    excluded: Sequence[str],
    preferred: list[StoredProof] | None = None,
    operation_committed: bool = False,
    unspent_ys: frozenset[str] = frozenset(),
) -> tuple[Operation, Selection]:
    """Reserve proofs for the quote; `operation_committed` is True once an earlier round committed the operation.

    `unspent_ys` are proofs the mint reported unspent during this melt. When every selected proof is
    one of them and no swap is needed, the reservation also journals the melt with its blank outputs.
    """
    target = quote.amount + quote.fee_reserve
    fee_ppk, send_ppk = await _fee_rates(svc, wallet)
    direct = _DirectPayment((await svc.keysets.active(svc.settings.unit)).id, unspent_ys)

    async def choose(conn: AsyncConnection, *, first: bool) -> Selection:
        if first and preferred is not None:
            kept = as_melt_selection(preferred, target, fee_ppk)
            if kept is not None:
                return kept
        return await select_melt_inputs(conn, wallet.id, target, fee_ppk, send_ppk, excluded)

    for attempt in range(MAX_RESERVE_ATTEMPTS):
        first = attempt == 0
        try:
            reserved = await _commit_reservation(
                svc,
                wallet,
                invoice,
                quote,
                operation_id,
                key,
                request_hash,
                partial(choose, first=first),
                operation_committed,
                direct,
            )
        except _NotEnough as short:
            await _fail_if_exists(svc, operation_id, "INSUFFICIENT_BALANCE", "balance does not cover the payment")
            required = required_amount(short.candidates, target, fee_ppk, send_ppk)
            available = sum(p.amount for p in short.candidates)
            raise InsufficientBalanceError(
                f"this payment needs {required} sat including fees but the wallet has {available} sat "
                f"available; fund it with POST /api/wallet/{wallet.npub}/mint",
                required=required,
                available=available,
                amount=quote.amount,
                feeReserve=quote.fee_reserve,
            ) from None
        if reserved is not None:
            return reserved
    raise ConflictError(
        "other payments of this wallet keep taking the same proofs; retry the request",
        code="OPERATION_IN_PROGRESS",
    )


async def select_melt_inputs(
    conn: AsyncConnection,
    wallet_id: int,
    target: int,
    fee_ppk: dict[str, int],
    send_ppk: int,
    excluded: Sequence[str] = (),
) -> Selection:
    """Select the wallet's unspent proofs for `target` (amount plus fee reserve) without reserving them.

    Reads a few candidates through the amount index. When those cannot cover the target, because it
    needs more than MAX_EXACT_INPUTS proofs or the wallet is short, it loads every unspent proof.
    Raises _NotEnough when even those do not cover it.
    """
    candidates = await proof_store.selection_candidates(conn, wallet_id, target + max_input_fee(fee_ppk), excluded)
    selection = select_for_melt(candidates, target, fee_ppk, send_ppk)
    if selection is not None:
        return selection
    everything = await proof_store.unspent_proofs(conn, wallet_id, excluded)
    selection = select_proofs(everything, target, fee_ppk, send_ppk)
    if selection is None:
        raise _NotEnough(everything)
    return selection


async def _commit_reservation(
    svc: Services,
    wallet: Wallet,
    invoice: Invoice,
    quote: MeltQuote,
    operation_id: str,
    key: str | None,
    request_hash: str,
    choose: Callable[[AsyncConnection], Awaitable[Selection]],
    operation_committed: bool,
    direct: _DirectPayment,
) -> tuple[Operation, Selection] | None:
    """Select, journal the melt and reserve its proofs in one transaction; None if a proof was taken meanwhile.

    Concurrent melts of one wallet queue for the selection: on SQLite behind the write lock that
    BEGIN IMMEDIATE takes, on PostgreSQL behind the wallet's row lock. The conditional reserve
    still catches a clash with any other writer.
    """
    try:
        async with svc.db.transaction("melt_reserve") as conn:
            await proof_store.lock_wallet_for_selection(conn, wallet.id)
            operation = await op_store.get_operation(conn, operation_id) if operation_committed else None
            if operation is not None:
                await proof_store.release(conn, operation_id)
            else:
                await enforce_daily_withdrawal_limit(
                    conn, wallet, quote.amount, svc.settings.daily_withdrawal_limit_sat
                )
            selection = await choose(conn)
            ys = [p.Y for p in selection.proofs]
            if operation is None:
                operation = await op_store.insert_operation(
                    conn,
                    wallet,
                    operation_id=operation_id,
                    kind="melt",
                    state="prepared",
                    quote_id=quote.quote,
                    amount=quote.amount,
                    fee_reserve=quote.fee_reserve,
                    invoice=invoice.bolt11,
                    payment_hash=invoice.payment_hash,
                    idempotency_key=key,
                    request_hash=request_hash,
                    input_ys=ys,
                    lease_owner=svc.instance_id,
                    lease_until=utcnow() + timedelta(seconds=svc.settings.lease_seconds),
                )
                journaled: Operation | None = operation
            else:
                await op_store.update_operation(conn, operation_id, input_ys=ys)
                journaled = None
            if not await proof_store.reserve(conn, [p.id for p in selection.proofs], operation_id):
                raise _ReservationLost
            pays_directly = direct.applies(selection)
            await audit.record_step(
                conn,
                "melt_reserved",
                operation,
                to_state="melt_sent" if pays_directly else "prepared",
                Ys=ys,
                amount=selection.total,
            )
            if journaled is None:
                journaled = await op_store.get_operation(conn, operation_id)
            assert journaled is not None
            if pays_directly:
                provided_reserve = selection.total - journaled.amount - selection.input_fee
                journaled = await _journal_blanks(conn, journaled, provided_reserve, direct.keyset_id)
            return journaled, selection
    except _ReservationLost:
        return None
    except StoreContentionError as exc:
        if exc.context.get("retryable"):
            return None  # a deadlock or serialization failure: the caller's loop selects again
        raise
    except StoreError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            raise await _duplicate_conflict(svc, wallet, invoice, key, request_hash) from exc
        raise


@dataclass(frozen=True)
class _DirectPayment:
    """Inputs for journaling a melt in its reservation: the keyset of the blank outputs and the checked proofs."""

    keyset_id: str
    unspent_ys: frozenset[str]

    def applies(self, selection: Selection) -> bool:
        """Return whether the selection goes to the melt as it is and the mint reported all of it unspent."""
        return not selection.needs_swap and all(p.Y in self.unspent_ys for p in selection.proofs)


def _unspent_ys(states: dict[str, ProofStateEntry]) -> frozenset[str]:
    return frozenset(y for y, entry in states.items() if entry.state is ProofState.UNSPENT)


async def _journal_blanks(
    conn: AsyncConnection, operation: Operation, provided_reserve: int, keyset_id: str
) -> Operation:
    """Plan the NUT-08 blank outputs and move the operation to melt_sent with them, in `conn`.

    `provided_reserve` is what the inputs carry beyond the amount and their input fee. The mint
    returns it as change less the Lightning fee, so the blank outputs are sized for all of it.
    """
    blanks = await plan_wallet_outputs(
        conn, operation.wallet_id, keyset_id, [([1] * blank_output_count(provided_reserve), "change")]
    )
    journaled = await op_store.transition_returning(
        conn, operation.id, ["prepared", "swap_done"], "melt_sent", outputs=[*operation.outputs, *blanks]
    )
    if journaled is None:
        raise ConflictError(
            "another process took over this payment; read its outcome from the history",
            code="OPERATION_IN_PROGRESS",
            transactionId=operation.id,
        )
    return journaled


class _NotEnough(Exception):
    """The wallet's unspent proofs cannot cover the payment."""

    def __init__(self, candidates: list[StoredProof]):
        super().__init__("insufficient balance")
        self.candidates = candidates


class _ReservationLost(Exception):
    """A concurrent operation reserved one of the selected proofs first."""


async def _duplicate_conflict(
    svc: Services, wallet: Wallet, invoice: Invoice, key: str | None, request_hash: str
) -> NctoolError:
    try:
        replay = await _find_replay(svc, wallet, invoice, key, request_hash)
    except NctoolError as exc:
        return exc
    if replay is not None:
        return ConflictError(
            "the same request is already being processed; retry it to read its result",
            code="OPERATION_IN_PROGRESS",
            transactionId=replay.operation.id,
        )
    return ConflictError(
        "a concurrent request for this invoice won; retry to read its result", code="INVOICE_IN_FLIGHT"
    )


async def _preflight(
    svc: Services,
    wallet: Wallet,
    operation: Operation,
    selected: Sequence[StoredProof],
    known: dict[str, ProofStateEntry],
) -> list[str]:
    """Check the reserved proofs with the mint; block on spent ones, return the Ys the mint holds pending.

    `known` contains states the mint reported for some of these proofs earlier in this melt; only the
    other proofs are checked again.
    """
    unknown = [p.Y for p in selected if p.Y not in known]
    try:
        states = [known[p.Y] for p in selected if p.Y in known]
        if unknown:
            states += await svc.mint.check_state(unknown)
    except MintError as exc:
        await _fail(svc, operation, exc.error_code, f"pre-flight checkstate failed: {exc.message}")
        raise MintFailureError(
            f"the pre-flight proof check at the mint failed: {exc.message}; funds are safe (released)",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            fundsStatus="released",
            transactionId=operation.id,
        ) from exc
    as_reserved_before = [StoredProof(**{**p.__dict__, "state": "unspent", "reserved_by": None}) for p in selected]
    log_state_check(wallet.npub, as_reserved_before, states)
    found = classify(as_reserved_before, states)
    high = [d for d in found if d.severity == "HIGH"]
    if high:
        await _block(svc, wallet, operation, high, found)
    pending = [d.Y for d in found if d.type == "DB_UNSPENT_MINT_PENDING"]
    if pending:
        async with svc.db.transaction("melt_preflight") as conn:
            await proof_store.release(conn, operation.id, pending)
    return pending


async def _block(
    svc: Services, wallet: Wallet, operation: Operation, high: list[Discrepancy], found: list[Discrepancy]
) -> None:
    spent_ys = [d.Y for d in high]
    async with svc.db.transaction("melt_preflight_block") as conn:
        await proof_store.mark_spent(conn, spent_ys, RECONCILIATION)
        await proof_store.release(conn, operation.id)
        await op_store.transition(
            conn,
            operation.id,
            ["prepared"],
            "failed",
            error_code="HIGH_SEVERITY_DISCREPANCIES",
            error_message=f"{len(spent_ys)} proofs already spent at the mint",
        )
        await audit.record_step(
            conn,
            "preflight_blocked",
            operation,
            from_state="prepared",
            to_state="failed",
            spentYs=spent_ys,
            amount=sum(d.amount for d in high),
        )
    metrics.RECONCILIATION_BLOCKED.inc()
    details = [d.to_dict() for d in found]
    log.warning(
        "HIGH severity discrepancies detected",
        npub=wallet.npub,
        transactionId=operation.id,
        discrepancies=[d.to_dict() for d in high],
    )
    log.warning(
        "Pre-flight reconciliation BLOCKED",
        npub=wallet.npub,
        transactionId=operation.id,
        discrepancies=details,
        reconciliationResult={"blocked": True, "high": len(high), "total": len(found)},
    )
    raise ReconciliationBlockedError(
        f"{len(high)} of the selected proofs were already spent at the mint; they are now marked spent. "
        "Retry the payment: it will use other proofs.",
        discrepancies=details,
        transactionId=operation.id,
    )


# --- swap to the exact amount ----------------------------------------------------------------


async def _swap(
    svc: Services, wallet: Wallet, operation: Operation, selection: Selection
) -> tuple[Operation, list[Proof]]:
    """Swap the overshooting selection into exact send proofs (reserved) and keep proofs (unspent)."""
    started = time.perf_counter()
    keyset = await svc.keysets.active(wallet.unit)
    groups = [
        (split_amount(selection.send_total), "send"),
        (keep_denominations(selection.keep_total, selection.send_total), "keep"),
    ]
    async with svc.db.transaction("melt_swap_journal") as conn:
        outputs = await plan_wallet_outputs(conn, operation.wallet_id, keyset.id, groups)
        await op_store.transition(conn, operation.id, ["prepared"], "swap_sent", outputs=outputs)
    inputs = [p.to_proof() for p in selection.proofs]
    crash_point("melt.before_swap")
    try:
        signatures = await svc.mint.swap(inputs, blinded_messages(outputs))
    except MintError as exc:
        await _after_failed_request(svc, operation, exc, [p.Y for p in selection.proofs], "swap")
        raise AssertionError("unreachable") from exc
    crash_point("melt.after_swap_answer")
    operation, send = await settle_swap(svc, operation, outputs, signatures, selection.input_fee)
    metrics.MELT_STAGE_DURATION.labels(stage="swap").observe(time.perf_counter() - started)
    return operation, send


async def settle_swap(
    svc: Services,
    operation: Operation,
    outputs: list[dict[str, Any]],
    signatures: Sequence[BlindSignature],
    swap_fee: int,
) -> tuple[Operation, list[Proof]]:
    """Record a swap the mint carried out: inputs spent, keep proofs unspent, send proofs reserved."""
    proofs = await unblind(outputs, signatures, svc.keysets)
    roles = [o["role"] for o in outputs[: len(proofs)]]
    send = [p for p, role in zip(proofs, roles, strict=True) if role == "send"]
    keep = [p for p, role in zip(proofs, roles, strict=True) if role == "keep"]
    async with svc.db.transaction("melt_swap_settle") as conn:
        await proof_store.mark_spent(conn, operation.input_ys, operation.id)
        await proof_store.insert_token(
            conn,
            operation,
            transaction_type="change",
            transaction_id=f"{operation.id}_keep",
            new_proofs=keep,
            metadata={"source": "melt_swap", "operation_id": operation.id},
        )
        await proof_store.insert_token(
            conn,
            operation,
            transaction_type="change",
            transaction_id=f"{operation.id}_send",
            new_proofs=send,
            reserved_by=operation.id,
            metadata={"source": "melt_swap", "operation_id": operation.id},
        )
        send_ys = [proof_y(p.secret) for p in send]
        await op_store.transition(
            conn,
            operation.id,
            ["swap_sent"],
            "swap_done",
            input_ys=send_ys,
            fees_paid=operation.fees_paid + swap_fee,
        )
        await audit.record_step(
            conn,
            "melt_swap_settled",
            operation,
            from_state="swap_sent",
            to_state="swap_done",
            keep=sum(p.amount for p in keep),
            send=sum(p.amount for p in send),
            fee=swap_fee,
        )
        updated = await op_store.get_operation(conn, operation.id)
    assert updated is not None
    return updated, send


# --- the melt itself -------------------------------------------------------------------------


async def _pay(svc: Services, operation: Operation, send_proofs: list[Proof]) -> MeltResult:
    if operation.state != "melt_sent":
        operation = await _journal_payment(svc, operation, send_proofs)
    blanks = _blank_outputs(operation)
    started = time.perf_counter()
    crash_point("melt.before_melt")
    try:
        answer = await svc.mint.melt(str(operation.quote_id), send_proofs, blinded_messages(blanks))
    except MintError as exc:
        metrics.MELT_STAGE_DURATION.labels(stage="mint").observe(time.perf_counter() - started)
        await _after_failed_request(svc, operation, exc, operation.input_ys, "melt")
        raise AssertionError("unreachable") from exc
    metrics.MELT_STAGE_DURATION.labels(stage="mint").observe(time.perf_counter() - started)
    crash_point("melt.after_melt_answer")
    return await settle_answer(svc, operation, answer)


async def _journal_payment(svc: Services, operation: Operation, send_proofs: list[Proof]) -> Operation:
    """Commit the melt's blank outputs and the melt_sent state before the melt request."""
    keyset = await svc.keysets.active(svc.settings.unit)
    fee_ppk = {k.id: k.input_fee_ppk for k in await svc.keysets.all()}
    fee = input_fee((p.id for p in send_proofs), fee_ppk)
    provided_reserve = sum(p.amount for p in send_proofs) - operation.amount - fee
    async with svc.db.transaction("melt_journal") as conn:
        return await _journal_blanks(conn, operation, provided_reserve, keyset.id)


async def settle_answer(svc: Services, operation: Operation, answer: MeltQuote) -> MeltResult:
    """Act on the mint's melt response or quote state: settle, keep pending, or release after checkstate."""
    if answer.state == "PAID":
        return MeltResult(await settle_paid(svc, operation, answer), "paid")
    if answer.state == "PENDING":
        await _mark_pending(svc, operation)
        async with svc.db.read() as conn:
            current = await op_store.get_operation(conn, operation.id)
        assert current is not None
        return MeltResult(current, "pending")
    # UNPAID after our melt request: the payment was not made.
    await _release_if_unspent(svc, operation, "LIGHTNING_PAYMENT_FAILED", f"the mint reports the quote {answer.state}")
    raise AssertionError("unreachable")


def _blank_outputs(operation: Operation) -> list[dict[str, Any]]:
    return [o for o in operation.outputs if o.get("role") == "change"]


async def _collect_change(svc: Services, operation: Operation, answer: MeltQuote) -> list[Proof]:
    """Return the NUT-08 change: from the melt response, else the quote state, else NUT-09 restore."""
    blanks = _blank_outputs(operation)
    if not blanks:
        return []
    signatures = list(answer.change)
    outputs = blanks
    if not signatures:
        try:
            signatures = list((await svc.mint.get_melt_quote(str(operation.quote_id))).change)
            if not signatures:
                outputs, signatures = match_restored(blanks, await svc.mint.restore(blinded_messages(blanks)))
        except MintError as exc:
            log.warning("Change lookup failed; recovery retries it", transactionId=operation.id, error=exc.message)
            raise
    return await unblind(outputs, signatures, svc.keysets)


async def settle_paid(svc: Services, operation: Operation, answer: MeltQuote) -> Operation:
    """Record a paid melt in one transaction: inputs spent, change stored, operation completed."""
    change = await _collect_change(svc, operation, answer)
    change_amount = sum(p.amount for p in change)
    started = time.perf_counter()

    async def record(conn: AsyncConnection) -> Operation:
        current = await op_store.get_operation(conn, operation.id)
        assert current is not None
        if current.state == "completed":
            return current
        spent = await proof_store.proofs_by_ys(conn, current.input_ys)
        spent_total = sum(p.amount for p in spent)
        await proof_store.mark_spent(conn, current.input_ys, current.id)
        await proof_store.insert_token(
            conn,
            current,
            transaction_type="change",
            transaction_id=f"{current.id}_melt_change",
            new_proofs=change,
            metadata={"source": "melt_change", "operation_id": current.id},
        )
        fees = current.fees_paid + spent_total - current.amount - change_amount
        done = await op_store.transition_returning(
            conn,
            current.id,
            ["melt_sent", "melt_pending"],
            "completed",
            fees_paid=fees,
            change_amount=change_amount,
            preimage=answer.payment_preimage,
            lease_owner=None,
            lease_until=None,
        )
        await audit.record_step(
            conn,
            "melt_completed",
            current,
            from_state=current.state,
            to_state="completed",
            amount=current.amount,
            fees=fees,
            change=change_amount,
        )
        if done is None:
            done = await op_store.get_operation(conn, current.id)
        assert done is not None
        return done

    try:
        # A deadlock or serialization failure rolls the whole record back, so it is tried again.
        done = await svc.db.run("melt_settle", record)
    except StoreError as exc:
        _log_critical_after_paid(operation, exc)
        raise InternalError(
            "the payment was made but recording it failed; the journal keeps it and recovery finishes it "
            "without manual steps",
            code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS",
            severity=Severity.CRITICAL,
            requiresManualIntervention=False,
            transactionId=operation.id,
            quoteId=operation.quote_id,
        ) from exc
    metrics.MELT_STAGE_DURATION.labels(stage="db_update").observe(time.perf_counter() - started)
    metrics.MELT_CHANGE.observe(change_amount)
    assert done is not None
    return done


def _log_critical_after_paid(operation: Operation, exc: Exception) -> None:
    metrics.MELT_CRITICAL_ERRORS.labels(error_code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS").inc()
    log.error(
        "Atomic melt transaction failed",
        error=str(exc),
        transaction_id=operation.id,
        source_token_ids=[],
        npub=operation.npub,
    )
    log.critical(
        "CRITICAL: melt paid at the mint but the database update failed",
        error=str(exc),
        code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS",
        severity="CRITICAL",
        requiresManualIntervention=False,
        quoteId=operation.quote_id,
        transactionId=operation.id,
        npub=operation.npub,
    )


async def _mark_pending(svc: Services, operation: Operation) -> None:
    async with svc.db.transaction("melt_pending") as conn:
        await op_store.transition(
            conn,
            operation.id,
            ["melt_sent", "melt_pending"],
            "melt_pending",
            next_check_at=utcnow() + timedelta(seconds=svc.settings.worker_interval_seconds),
        )


async def _after_failed_request(
    svc: Services, operation: Operation, exc: MintError, ys: Sequence[str], step: str
) -> None:
    """Handle a failed swap or melt request; always raises."""
    if exc.ambiguous:
        # The request may have taken effect: keep everything reserved for the worker to resolve.
        async with svc.db.transaction("melt_ambiguous") as conn:
            await op_store.update_operation(
                conn,
                operation.id,
                error_code=exc.error_code,
                error_message=exc.message,
                next_check_at=utcnow() + timedelta(seconds=svc.settings.worker_interval_seconds),
            )
        log.warning(
            "Melt outcome unknown; funds stay reserved",
            transactionId=operation.id,
            step=step,
            error=exc.message,
            errorCode=exc.error_code,
            quoteId=operation.quote_id,
        )
        raise MintFailureError(
            f"the outcome of the {step} is unknown ({exc.message}); the funds stay reserved and the "
            "service resolves the payment with the mint on its own",
            code=exc.error_code,
            timeout=exc.error_code == "MINT_TIMEOUT",
            fundsStatus="pending",
            state="pending",
            transactionId=operation.id,
        )
    await _release_if_unspent(svc, operation, exc.error_code, exc.message, ys)


async def _release_if_unspent(
    svc: Services, operation: Operation, code: str, message: str, ys: Sequence[str] | None = None
) -> None:
    """After a definitive failure, release the inputs once checkstate shows them unspent; always raises."""
    ys = list(ys if ys is not None else operation.input_ys)
    try:
        states = await svc.mint.check_state(ys)
    except MintError as exc:
        raise MintFailureError(
            f"{message}; the proof check that must precede their release failed ({exc.message}), so the funds "
            "stay reserved until the service confirms them with the mint",
            code=code,
            fundsStatus="pending",
            state="pending",
            transactionId=operation.id,
        ) from exc
    if any(s.state is not ProofState.UNSPENT for s in states):
        # Spent or pending at the mint: this failure report is contradicted; let recovery decide.
        log.warning(
            "Definitive failure contradicted by checkstate; funds stay reserved",
            transactionId=operation.id,
            mintStates=[s.state.value for s in states],
        )
        raise MintFailureError(
            f"{message}; the mint still reports the inputs as spent or pending, so the funds stay reserved "
            "until the payment is resolved",
            code=code,
            fundsStatus="pending",
            state="pending",
            transactionId=operation.id,
        )
    await _fail(svc, operation, code, message)
    raise MintFailureError(
        f"the payment failed: {message}; the funds are released to the balance",
        code=code,
        fundsStatus="released",
        state="failed",
        transactionId=operation.id,
    )


async def _fail(svc: Services, operation: Operation, code: str, message: str) -> None:
    """Release the operation's proofs and mark it failed, in one transaction."""
    async with svc.db.transaction("melt_fail") as conn:
        released = await proof_store.release(conn, operation.id)
        await op_store.transition(
            conn,
            operation.id,
            PENDING_STATES,
            "failed",
            error_code=code,
            error_message=message,
            lease_owner=None,
            lease_until=None,
        )
        await audit.record_step(
            conn,
            "melt_failed",
            operation,
            to_state="failed",
            code=code,
            released=released,
        )
    log.warning(
        "Melt operation rolled back",
        transactionId=operation.id,
        npub=operation.npub,
        code=code,
        error=message,
        released=released,
    )


async def _fail_if_exists(svc: Services, operation_id: str, code: str, message: str) -> None:
    async with svc.db.read() as conn:
        operation = await op_store.get_operation(conn, operation_id)
    if operation is not None:
        await _fail(svc, operation, code, message)


# --- recovery of interrupted melts -----------------------------------------------------------


async def resume_melt(svc: Services, operation: Operation) -> str:
    """Drive an interrupted or pending melt to a final state from its journal; return the outcome."""
    if operation.state == "prepared":
        # Nothing that spends was sent: the melt request is journaled in melt_sent first.
        await _fail(svc, operation, "INTERRUPTED", "the service stopped before the payment was sent")
        return "rolled_back"
    if operation.state == "swap_sent":
        return await _resume_swap(svc, operation)
    if operation.state == "swap_done":
        await _fail(svc, operation, "INTERRUPTED", "the service stopped after the swap, before the payment was sent")
        return "rolled_back"
    return await _resume_payment(svc, operation)


async def _resume_swap(svc: Services, operation: Operation) -> str:
    states = await svc.mint.check_state(operation.input_ys)
    if all(s.state is ProofState.UNSPENT for s in states):
        await _fail(svc, operation, "INTERRUPTED", "the swap before the payment did not take place")
        return "rolled_back"
    if any(s.state is ProofState.PENDING for s in states):
        return "pending"
    outputs = [o for o in operation.outputs if o["role"] in ("send", "keep")]
    found, signatures = match_restored(outputs, await svc.mint.restore(blinded_messages(outputs)))
    if len(found) != len(outputs):
        log.error(
            "Swap inputs spent but outputs not all restorable",
            transactionId=operation.id,
            restored=len(found),
            expected=len(outputs),
        )
        return "pending"
    total_in = sum(p.amount for p in await _stored(svc, operation.input_ys))
    swap_fee = total_in - sum(int(o["amount"]) for o in outputs)
    updated, _ = await settle_swap(svc, operation, found, signatures, swap_fee)
    await _fail(svc, updated, "INTERRUPTED", "the service stopped after the swap; the payment was not sent")
    return "rolled_back"


async def _stored(svc: Services, ys: Sequence[str]) -> list[StoredProof]:
    async with svc.db.read() as conn:
        return await proof_store.proofs_by_ys(conn, ys)


async def _resume_payment(svc: Services, operation: Operation) -> str:
    answer = await svc.mint.get_melt_quote(str(operation.quote_id))
    if answer.state == "PAID":
        await settle_paid(svc, operation, answer)
        log.info(
            "Pending melt settled",
            transactionId=operation.id,
            npub=operation.npub,
            quoteId=operation.quote_id,
        )
        return "completed"
    if answer.state == "PENDING":
        await _mark_pending(svc, operation)
        return "pending"
    try:
        await _release_if_unspent(
            svc, operation, "LIGHTNING_PAYMENT_FAILED", f"the mint reports the quote {answer.state}"
        )
    except MintFailureError as exc:
        return "rolled_back" if exc.context.get("fundsStatus") == "released" else "pending"
    return "pending"
