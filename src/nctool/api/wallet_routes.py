"""Routes under /api/wallet, as the established wallet API defines them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from nctool.api.schemas import (
    CleanupBody,
    CreateWalletBody,
    MeltBody,
    MintBody,
    MintCompleteBody,
    ReceiveBody,
    SendBody,
    error_responses,
)
from nctool.errors import InputError
from nctool.observability import metrics
from nctool.ops.recovery import recover, recovery_stats
from nctool.store import operations as op_store
from nctool.wallet import melt as melt_case
from nctool.wallet import minting
from nctool.wallet import receive as receive_case
from nctool.wallet import send as send_case
from nctool.wallet.history import list_transactions
from nctool.wallet.services import Services
from nctool.wallet.wallets import (
    create_wallet,
    proof_status,
    require_wallet,
    wallet_balance,
    wallet_details,
    wallet_info,
)

router = APIRouter(prefix="/api/wallet", responses=error_responses(400, 404, 502, 504))

TRANSACTION_TYPES = ("minted", "received", "sent", "change", "melt")


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


@router.post("/create")
async def create(body: CreateWalletBody, request: Request) -> dict[str, Any]:
    wallet, created = await create_wallet(services(request), body.npub)
    return {
        "success": True,
        "message": "Wallet created successfully" if created else "Wallet already exists",
        "walletDetails": wallet_details(wallet),
    }


@router.get("/{npub}/balance")
async def balance(npub: str, request: Request) -> dict[str, Any]:
    view = await wallet_balance(services(request), npub)
    return {
        "success": True,
        "balance": view.unspent,
        "unit": "sat",
        "details": {
            "totalBalance": view.total,
            "unspentBalance": view.unspent,
            "pendingBalance": view.pending,
            "pendingSendBalance": view.pending_send,
            "spentBalance": view.spent,
        },
    }


@router.get("/{npub}/info")
async def info(npub: str, request: Request) -> dict[str, Any]:
    return {"success": True, "walletInfo": await wallet_info(services(request), npub)}


@router.post("/{npub}/mint")
async def mint(npub: str, body: MintBody, request: Request) -> dict[str, Any]:
    operation = await minting.request_mint_quote(services(request), npub, body.amount)
    return {
        "success": True,
        "quote": operation.quote_id,
        "invoice": operation.invoice,
        "amount": operation.amount,
        "transactionId": operation.id,
        "expiry": operation.expiry,
        "mintUrl": operation.mint_url,
    }


@router.post("/{npub}/mint/complete", responses=error_responses(409))
async def mint_complete(npub: str, body: MintCompleteBody, request: Request) -> dict[str, Any]:
    if not body.quoteId and not body.transactionId:
        raise InputError(
            "send quoteId or transactionId from the mint response",
            details=["quoteId: required when transactionId is missing"],
        )
    svc = services(request)
    operation = await minting.find_mint_operation(svc, npub, body.quoteId, body.transactionId)
    if body.amount is not None and body.amount != operation.amount:
        raise InputError(
            f"amount {body.amount} does not match the quote amount {operation.amount}",
            details=[f"amount: expected {operation.amount}"],
        )
    result = await minting.complete_mint(svc, operation)
    if not result.already_completed:
        metrics.MINT_CREDITS.labels(source="api").inc()
    return _completion_body(result)


def _completion_body(result: minting.MintCompletion) -> dict[str, Any]:
    op = result.operation
    return {
        "success": True,
        "tokenId": result.token_id,
        "transactionId": op.id,
        "totalAmount": op.amount,
        "mintUrl": op.mint_url,
        "completionTime": op.completed_at.isoformat() if op.completed_at else None,
        "alreadyCompleted": result.already_completed,
    }


@router.get("/{npub}/receipts/check")
async def receipts_check(npub: str, request: Request) -> dict[str, Any]:
    svc = services(request)
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        open_quotes = [
            o
            for o in await op_store.list_operations(conn, wallet.id, kinds=["mint"])
            if o.state not in op_store.FINAL_STATES
        ]
    receipts = []
    for operation in open_quotes:
        outcome = await minting.poll_mint_quote(svc, operation)
        if outcome == "completed":
            done = await minting.find_mint_operation(svc, npub, operation.quote_id, operation.id)
            receipts.append(
                {
                    "transactionId": done.id,
                    "amount": done.amount,
                    "quoteId": done.quote_id,
                    "tokenId": await minting.token_id_for(svc, done.id),
                    "totalAmount": done.amount,
                }
            )
    return {
        "success": True,
        "checked": len(open_quotes),
        "completed": len(receipts),
        "receipts": receipts,
        "completedTransactions": [r["transactionId"] for r in receipts],
    }


@router.post(
    "/{npub}/melt",
    responses={
        202: {"description": "the payment is pending at the mint; the body carries transactionId and state"},
        **error_responses(402, 409, 503),
    },
)
async def melt(
    npub: str,
    body: MeltBody,
    request: Request,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> JSONResponse:
    result = await melt_case.melt(services(request), npub, body.invoice, idempotency_key)
    status = 200 if result.state == "paid" else 202
    return JSONResponse(result.to_body(), status_code=status)


@router.post("/{npub}/send", responses=error_responses(402, 409))
async def send(
    npub: str,
    body: SendBody,
    request: Request,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> dict[str, Any]:
    result = await send_case.send(
        services(request), npub, body.amount, body.recipientPubkey, body.format, idempotency_key
    )
    return result.to_body()


@router.get("/{npub}/send/{transaction_id}", responses=error_responses(409))
async def sent_token(npub: str, transaction_id: str, request: Request) -> dict[str, Any]:
    """Return a completed send's token again, for a caller whose first response was lost."""
    result = await send_case.read_sent_token(services(request), npub, transaction_id)
    return result.to_body()


@router.post("/{npub}/send/{transaction_id}/reclaim", responses=error_responses(409))
async def reclaim(npub: str, transaction_id: str, request: Request) -> dict[str, Any]:
    """Take back a sent token that no recipient has redeemed. The amount less the input fee returns to the balance."""
    result = await receive_case.reclaim(services(request), npub, transaction_id)
    return result.to_body()


@router.post("/{npub}/receive", responses=error_responses(409))
async def receive(npub: str, body: ReceiveBody, request: Request) -> dict[str, Any]:
    result = await receive_case.receive(services(request), npub, body.encodedToken, body.privateKey)
    return result.to_body()


@router.get("/{npub}/proofs/status")
async def proofs_status(
    npub: str,
    request: Request,
    proofs: str | None = Query(default=None, description="JSON array of Ys (hex) to check; default: live proofs"),
) -> dict[str, Any]:
    ys = _parse_ys(proofs) if proofs else None
    return {"success": True, **await proof_status(services(request), npub, ys)}


def _parse_ys(raw: str) -> list[str]:
    try:
        values = json.loads(raw)
    except ValueError as exc:
        raise InputError("proofs must be a JSON array of Y values (hex)", details=["proofs: not JSON"]) from exc
    if not isinstance(values, list) or not values:
        raise InputError("proofs must be a non-empty JSON array of Y values", details=["proofs: expected an array"])
    ys = []
    for value in values:
        y = value.get("Y") if isinstance(value, dict) else value
        if not isinstance(y, str) or len(y) != 66 or not all(c in "0123456789abcdefABCDEF" for c in y):
            raise InputError(
                "each entry of proofs must be a 66-hex-digit Y; secrets are not accepted",
                details=["proofs: invalid Y"],
            )
        ys.append(y.lower())
    return ys


@router.get("/{npub}/transactions")
async def transactions(
    npub: str,
    request: Request,
    limit: int = Query(default=50, ge=1, le=100),
    # The upper bound keeps the value inside a 64-bit database integer; no wallet has that many entries.
    skip: int = Query(default=0, ge=0, le=1_000_000_000),
    transaction_type: str | None = None,
    mint_url: str | None = None,
) -> dict[str, Any]:
    if transaction_type is not None and transaction_type not in TRANSACTION_TYPES:
        raise InputError(
            f"transaction_type must be one of {', '.join(TRANSACTION_TYPES)}, got {transaction_type!r}",
            details=[f"transaction_type: one of {', '.join(TRANSACTION_TYPES)}"],
        )
    svc = services(request)
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        entries, total = await list_transactions(
            conn, wallet.id, limit=limit, skip=skip, transaction_type=transaction_type, mint_url=mint_url
        )
    return {
        "success": True,
        "transactions": entries,
        "pagination": {"total": total, "limit": limit, "skip": skip, "has_more": skip + len(entries) < total},
    }


@router.post("/{npub}/cleanup")
async def cleanup(npub: str, request: Request, body: CleanupBody | None = None) -> dict[str, Any]:
    """Resolve this wallet's open operations older than maxAge (ms) from the journal and the mint."""
    body = body or CleanupBody()
    svc = services(request)
    wallet = await require_wallet(svc, npub)
    report = await recover(svc, npub=wallet.npub, min_age=timedelta(milliseconds=body.maxAge), dry_run=body.dryRun)
    return {
        "success": True,
        "processed": report.processed,
        "cleaned": report.recovered,
        "pending": report.pending,
        "failed": report.failed,
        "dryRun": body.dryRun,
        "transactions": [
            {
                "transactionId": d.transactionId,
                "npub": d.npub,
                "amount": d.amount,
                "age": d.age,
                "kind": d.kind,
                "state": d.state,
                "action": d.action,
                "success": d.success,
                "error": d.error,
            }
            for d in report.details
        ],
    }


@router.get("/{npub}/recovery/stats")
async def recovery_stats_route(npub: str, request: Request) -> dict[str, Any]:
    svc = services(request)
    wallet = await require_wallet(svc, npub)
    return {"success": True, "stats": await recovery_stats(svc, wallet.npub)}
