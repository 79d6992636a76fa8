"""Reconciliation sweep: compare every live proof with the mint's checkstate, in batches.

Actions follow the discrepancy table of `nctool.wallet.preflight`: proofs spent elsewhere are
marked spent (and counted as spent_elsewhere in the ledger), reserved proofs the mint reports
spent hand their operation to recovery, proofs pending at the mint are left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select, update

from nctool.cashu.models import ProofState
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.store.ledger import RECONCILIATION
from nctool.store.records import StoredProof, Wallet
from nctool.store.tables import operations, proofs, utcnow
from nctool.wallet.preflight import Discrepancy, classify, log_state_check
from nctool.wallet.services import Services
from nctool.wallet.wallets import require_wallet

log = get_logger()

Progress = Callable[[int, int], None]


@dataclass
class ReconcileReport:
    wallets: int = 0
    checked: int = 0
    discrepancies: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    details: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wallets": self.wallets,
            "checked": self.checked,
            "discrepancies": dict(self.discrepancies),
            "actions": dict(self.actions),
            "details": self.details,
        }


async def reconcile(
    svc: Services,
    *,
    npub: str | None = None,
    dry_run: bool = False,
    include_spent: bool = False,
    batch_size: int = 200,
    progress: Progress | None = None,
) -> ReconcileReport:
    """Check the live proofs of one wallet (or all) against the mint and correct what the table allows."""
    report = ReconcileReport()
    if npub is not None:
        npub = (await require_wallet(svc, npub)).npub
    live = ("unspent", "reserved", proof_store.PENDING_SEND)
    states = (*live, "spent") if include_spent else live
    async with svc.db.read() as conn:
        wallets = [w for w in await wallet_store.list_wallets(conn) if npub is None or w.npub == npub]
        work = [(w, await proof_store.wallet_proofs(conn, w.id, states)) for w in wallets]
    total = sum(len(p) for _, p in work)
    for wallet, stored in work:
        report.wallets += 1
        for start in range(0, len(stored), batch_size):
            batch = stored[start : start + batch_size]
            await _reconcile_batch(svc, wallet, batch, report, dry_run)
            report.checked += len(batch)
            if progress is not None:
                progress(report.checked, total)
    log.info(
        "Reconciliation sweep",
        npub=npub,
        dryRun=dry_run,
        wallets=report.wallets,
        checked=report.checked,
        discrepancies=dict(report.discrepancies),
        actions=dict(report.actions),
    )
    return report


async def _reconcile_batch(
    svc: Services, wallet: Wallet, batch: list[StoredProof], report: ReconcileReport, dry_run: bool
) -> None:
    states = await svc.mint.check_state([p.Y for p in batch])
    log_state_check(wallet.npub, batch, states)
    found = classify(batch, states)
    by_y = {p.Y: p for p in batch}
    redeemed = [
        s.Y for s in states if s.state is ProofState.SPENT and by_y.get(s.Y, batch[0]).state == proof_store.PENDING_SEND
    ]
    if redeemed and not dry_run:
        # Sent tokens the recipients redeemed: the proofs leave pending-send, the ledger is unchanged.
        async with svc.db.transaction("reconcile_sent") as conn:
            report.actions["send_redeemed"] += await proof_store.settle_pending_send(
                conn, redeemed, proof_store.REDEEMED
            )
    for item in found:
        report.discrepancies[item.type] += 1
        report.details.append({"npub": wallet.npub, **item.to_dict()})
    if dry_run or not found:
        return
    async with svc.db.transaction("reconcile_apply") as conn:
        for item in found:
            report.actions[await _apply(conn, wallet, item, by_y.get(item.Y))] += 1


async def _apply(conn: Any, wallet: Wallet, item: Discrepancy, proof: StoredProof | None) -> str:
    if item.type == "DB_UNSPENT_MINT_SPENT":
        await proof_store.mark_spent(conn, [item.Y], RECONCILIATION)
        await audit.record(
            conn, "reconcile_marked_spent", wallet_id=wallet.id, npub=wallet.npub, Y=item.Y, amount=item.amount
        )
        return "marked_spent"
    if item.type == "DB_PENDING_MINT_SPENT" and proof is not None and proof.reserved_by:
        await conn.execute(
            update(operations).where(operations.c.id == proof.reserved_by).values(next_check_at=utcnow())
        )
        return "recovery_scheduled"
    if item.type == "DB_SPENT_MINT_UNSPENT" and proof is not None:
        return await _restore_written_off(conn, wallet, item)
    return "none"


async def _restore_written_off(conn: Any, wallet: Wallet, item: Discrepancy) -> str:
    """Undo an earlier write-off that the mint now contradicts; proofs an operation spent stay spent."""
    result = await conn.execute(
        update(proofs)
        .where(and_(proofs.c.Y == item.Y, proofs.c.state == "spent", proofs.c.spent_by == RECONCILIATION))
        .values(state="unspent", spent_by=None, spent_at=None)
    )
    if result.rowcount != 1:
        return "investigate"
    ids = [r[0] for r in (await conn.execute(select(proofs.c.id).where(proofs.c.Y == item.Y))).all()]
    await proof_store.refresh_token_status(conn, proof_ids=ids)
    await audit.record(
        conn, "reconcile_restored_unspent", wallet_id=wallet.id, npub=wallet.npub, Y=item.Y, amount=item.amount
    )
    return "restored_unspent"
