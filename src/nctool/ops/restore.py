"""Restore a wallet's funds from its NUT-13 seed alone (NUT-09 restore plus checkstate).

Every counter of every keyset is re-derived in batches until several batches in a row come back
empty. Unspent proofs the ledger does not know are stored as one `received` token.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nctool.cashu.crypto import proof_y
from nctool.cashu.models import Proof, ProofState
from nctool.errors import InputError
from nctool.observability.logging import get_logger
from nctool.store import audit
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.store.counters import advance_to
from nctool.wallet.outputs import DERIVABLE_KEYSET_VERSIONS, blinded_messages, derive_outputs, match_restored, unblind
from nctool.wallet.services import Services
from nctool.wallet.wallets import require_wallet

log = get_logger()

Progress = Callable[[int, int], None]


@dataclass
class RestoreReport:
    keysets: int = 0
    scanned: int = 0
    signed: int = 0
    unspent: int = 0
    already_known: int = 0
    restored_amount: int = 0
    transaction_id: str | None = None
    next_counters: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "keysets": self.keysets,
            "scanned": self.scanned,
            "signed": self.signed,
            "unspent": self.unspent,
            "alreadyKnown": self.already_known,
            "restoredAmount": self.restored_amount,
            "transactionId": self.transaction_id,
            "nextCounters": self.next_counters,
        }


async def _scan_keyset(
    svc: Services, seed: bytes, keyset_id: str, batch: int, gap: int, report: RestoreReport
) -> tuple[list[Proof], int]:
    """Return the proofs the mint ever signed for this keyset's counters, and the next unused counter."""
    found: list[Proof] = []
    counter, empty, next_counter = 0, 0, 0
    while empty < gap:
        outputs = derive_outputs(seed, keyset_id, counter, [1] * batch, "restore")
        matched, signatures = match_restored(outputs, await svc.mint.restore(blinded_messages(outputs)))
        report.scanned += batch
        if signatures:
            empty = 0
            found += await unblind(matched, signatures, svc.keysets)
            next_counter = max(int(o["counter"]) for o in matched) + 1
        else:
            empty += 1
        counter += batch
    return found, next_counter


async def restore_wallet(
    svc: Services, npub: str, *, seed: bytes | None = None, dry_run: bool = False, batch: int = 100, gap: int = 3
) -> RestoreReport:
    wallet = await require_wallet(svc, npub)
    async with svc.db.read() as conn:
        stored_seed = await wallet_store.get_seed(conn, wallet.id)
    seed = seed or stored_seed
    if seed is None:
        raise InputError(
            "this wallet has no NUT-13 seed; pass the backed-up seed with --seed-file", details=["seed: missing"]
        )
    await svc.keysets.refresh()
    keysets = [k for k in await svc.keysets.all() if k.unit == wallet.unit and k.id[:2] in DERIVABLE_KEYSET_VERSIONS]
    report = RestoreReport(keysets=len(keysets))
    candidates: list[Proof] = []
    for keyset in keysets:
        proofs, next_counter = await _scan_keyset(svc, seed, keyset.id, batch, gap, report)
        candidates += proofs
        report.next_counters[keyset.id] = next_counter
    report.signed = len(candidates)
    fresh = await _unspent_and_unknown(svc, candidates, report)
    report.unspent = len(fresh) + report.already_known
    report.restored_amount = sum(p.amount for p in fresh)
    if not dry_run:
        await _store(svc, wallet, seed, stored_seed, fresh, report)
    log.info(
        "Wallet restore",
        npub=wallet.npub,
        dryRun=dry_run,
        keysets=report.keysets,
        scanned=report.scanned,
        signed=report.signed,
        restoredAmount=report.restored_amount,
        alreadyKnown=report.already_known,
    )
    return report


async def _unspent_and_unknown(svc: Services, candidates: list[Proof], report: RestoreReport) -> list[Proof]:
    by_y = {proof_y(p.secret): p for p in candidates}
    ys = list(by_y)
    unspent: list[str] = []
    for start in range(0, len(ys), 200):
        states = await svc.mint.check_state(ys[start : start + 200])
        unspent += [s.Y for s in states if s.state is ProofState.UNSPENT]
    async with svc.db.read() as conn:
        known = {p.Y for p in await proof_store.proofs_by_ys(conn, unspent)}
    report.already_known = len(known)
    return [by_y[y] for y in unspent if y not in known]


async def _store(
    svc: Services, wallet: Any, seed: bytes, stored_seed: bytes | None, fresh: list[Proof], report: RestoreReport
) -> None:
    async with svc.db.transaction("restore") as conn:
        if fresh:
            report.transaction_id = f"receive_{int(time.time() * 1000)}_{secrets.token_hex(4)}"
            await proof_store.insert_token(
                conn,
                wallet,
                transaction_type="received",
                transaction_id=report.transaction_id,
                new_proofs=fresh,
                metadata={"source": "nut13_restore"},
            )
        if stored_seed is None:
            await wallet_store.set_seed(conn, wallet.id, seed)
        if stored_seed is None or stored_seed == seed:
            for keyset_id, counter in report.next_counters.items():
                await advance_to(conn, wallet.id, keyset_id, counter)
        await audit.record(
            conn,
            "wallet_restored",
            wallet_id=wallet.id,
            npub=wallet.npub,
            amount=report.restored_amount,
            proofs=len(fresh),
        )
