"""Wallet lifecycle and read models: create, balance, info, proof status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.cashu.errors import MintError
from nctool.cashu.nut13 import new_seed
from nctool.cashu.p2pk import new_private_key
from nctool.errors import InputError, MintFailureError, WalletNotFoundError
from nctool.nostr.nip19 import NostrKeyError, decode_npub
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.store.ledger import ledger_totals
from nctool.store.records import Wallet
from nctool.store.tables import utcnow
from nctool.wallet.history import count_transactions
from nctool.wallet.preflight import classify, log_state_check, severity_counts
from nctool.wallet.services import Services

log = get_logger()


def validate_npub(npub: str) -> str:
    """Return the npub in its canonical form (stripped, lowercase) or raise a 400 that names the problem."""
    try:
        decode_npub(npub)
    except NostrKeyError as exc:
        raise InputError(f"npub: {exc}", code="INVALID_NPUB", details=[f"npub: {exc}"]) from exc
    # bech32 allows all-uppercase; one key must map to one wallet.
    return npub.strip().lower()


async def create_wallet(svc: Services, npub: str) -> tuple[Wallet, bool]:
    """Create the wallet for npub on the configured mint; return it and whether it is new."""
    npub = validate_npub(npub)
    settings = svc.settings
    async with svc.db.transaction("wallet_create") as conn:
        existing = await wallet_store.get_wallet(conn, npub, settings.mint_url, settings.unit)
        created = None
        if existing is None:
            created = await wallet_store.insert_wallet(
                conn, npub, settings.mint_url, settings.unit, new_seed(), new_private_key()
            )
    if existing is not None:
        return await ensure_p2pk_key(svc, existing), False
    if created is None:
        return await ensure_p2pk_key(svc, await require_wallet(svc, npub)), False
    log.info("Wallet created", npub=npub, mintUrl=settings.mint_url)
    return created, True


async def ensure_p2pk_key(svc: Services, wallet: Wallet) -> Wallet:
    """Give a wallet created before P2PK keys existed its key; return the wallet with p2pk_pub set."""
    if wallet.p2pk_pub is not None:
        return wallet
    async with svc.db.transaction("wallet_p2pk_key") as conn:
        pub = await wallet_store.set_p2pk_key(conn, wallet.id, new_private_key())
    return replace(wallet, p2pk_pub=pub)


async def require_wallet(svc: Services, npub: str) -> Wallet:
    async with svc.db.read() as conn:
        return await require_wallet_in(conn, svc, npub)


async def require_wallet_in(conn: AsyncConnection, svc: Services, npub: str) -> Wallet:
    """Return the wallet of `npub`, read through `conn`, or raise a 404 naming the endpoint that creates it."""
    npub = validate_npub(npub)
    wallet = await wallet_store.get_wallet(conn, npub, svc.settings.mint_url, svc.settings.unit)
    if wallet is None:
        raise WalletNotFoundError(
            f"no wallet for {npub} on {svc.settings.mint_url}; create it with POST /api/wallet/create",
            npub=npub,
        )
    return wallet


@dataclass(frozen=True)
class BalanceView:
    unspent: int
    pending: int
    spent: int
    # Sent in tokens that the mint has not yet reported redeemed; not part of the balance.
    pending_send: int = 0

    @property
    def total(self) -> int:
        return self.unspent + self.pending


async def wallet_balance(svc: Services, npub: str) -> BalanceView:
    wallet = await require_wallet(svc, npub)
    try:
        async with svc.db.read() as conn:
            proof_balance = await proof_store.balance(conn, wallet.id)
    except Exception:
        metrics.BALANCE_ERRORS.inc()
        raise
    view = BalanceView(
        unspent=proof_balance.unspent,
        pending=proof_balance.reserved,
        spent=proof_balance.spent,
        pending_send=proof_balance.pending_send,
    )
    log.info(
        "Balance calculation",
        npub=wallet.npub,
        unspent_balance=view.unspent,
        pending_balance=view.pending,
        spent_balance=view.spent,
        total_balance=view.total,
    )
    return view


async def wallet_info(svc: Services, npub: str) -> dict[str, Any]:
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        proof_balance = await proof_store.balance(conn, wallet.id)
        totals = await ledger_totals(conn, wallet.id)
        transactions = await count_transactions(conn, wallet.id)
    return {
        "npub": wallet.npub,
        "mintUrl": wallet.mint_url,
        "balance": proof_balance.unspent,
        "statistics": {
            "wallet_count": 1,
            "total_balance": proof_balance.total,
            "unspent_balance": proof_balance.unspent,
            "pending_balance": proof_balance.reserved,
            "pending_send_balance": proof_balance.pending_send,
            "spent_balance": proof_balance.spent,
            "total_transactions": transactions,
        },
        "ledger": totals.as_dict(),
        "walletDetails": wallet_details(await ensure_p2pk_key(svc, wallet)),
        "createdAt": wallet.created_at.isoformat(),
    }


def wallet_details(wallet: Wallet) -> dict[str, Any]:
    """Describe the wallet; p2pkPub is the key that tokens for this wallet can be locked to (NUT-11)."""
    return {"mint": wallet.mint_url, "unit": wallet.unit, "p2pkPub": wallet.p2pk_pub}


async def proof_status(svc: Services, npub: str, only_ys: list[str] | None = None) -> dict[str, Any]:
    """Compare the wallet's live proofs (or the given Ys) with the mint's checkstate."""
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        if only_ys:
            stored = [p for p in await proof_store.proofs_by_ys(conn, only_ys) if p.wallet_id == wallet.id]
        else:
            stored = await proof_store.wallet_proofs(conn, wallet.id, ("unspent", "reserved"))
    ys = only_ys or [p.Y for p in stored]
    try:
        states = await svc.mint.check_state(ys) if ys else []
    except MintError as exc:
        raise MintFailureError(f"checkstate failed: {exc.message}", code=exc.error_code) from exc
    log_state_check(wallet.npub, stored, states)
    found = classify(stored, states)
    counts = severity_counts(found)
    return {
        "states": [{"Y": s.Y, "state": s.state.value, "witness": s.witness} for s in states],
        "totalProofs": len(states),
        "spentCount": sum(1 for s in states if s.state.value == "SPENT"),
        "unspentCount": sum(1 for s in states if s.state.value == "UNSPENT"),
        "pendingCount": sum(1 for s in states if s.state.value == "PENDING"),
        "discrepancies": [d.to_dict() for d in found],
        "severityCounts": counts,
        "consistent": not found,
        "hasHighSeverity": counts["HIGH"] > 0,
        "mintUrl": wallet.mint_url,
        "timestamp": utcnow().isoformat(),
    }
