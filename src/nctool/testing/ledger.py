"""Money invariants, checked against the database and the mint after every test and in the demo."""

from __future__ import annotations

from sqlalchemy import select

from nctool.cashu.models import ProofState
from nctool.store import proofs as proof_store
from nctool.store import wallets as wallet_store
from nctool.store.ledger import LedgerTotals, ledger_totals
from nctool.store.tables import proofs
from nctool.wallet.services import Services

# Mint states that agree with each ledger state of a proof.
AGREEING_STATES = {
    "unspent": {ProofState.UNSPENT},
    "reserved": {ProofState.UNSPENT, ProofState.PENDING, ProofState.SPENT},
    "spent": {ProofState.SPENT},
    # Handed out in a token: the recipient may have redeemed it since the last sweep.
    "pending_send": {ProofState.UNSPENT, ProofState.PENDING, ProofState.SPENT},
}


async def ledger_problems(svc: Services) -> list[str]:
    """Return every violated invariant, as readable lines; empty when the books balance."""
    problems: list[str] = []
    async with svc.db.read() as conn:
        wallets = await wallet_store.list_wallets(conn)
        rows = (await conn.execute(select(proofs.c.wallet_id, proofs.c.Y, proofs.c.state))).all()
        totals: dict[int, LedgerTotals] = {w.id: await ledger_totals(conn, w.id) for w in wallets}
        for wallet in wallets:
            maintained = await proof_store.balance(conn, wallet.id)
            summed = await proof_store.balance_from_proofs(conn, wallet.id)
            if maintained != summed:
                problems.append(f"{wallet.npub}: wallet_balances has {maintained} but the proofs sum to {summed}")
    for wallet in wallets:
        t = totals[wallet.id]
        if not t.balanced:
            problems.append(
                f"{wallet.npub}: minted+received-sent-paid-fees-elsewhere={t.expected_holdings} "
                f"but unspent+pending={t.holdings} ({t.as_dict()})"
            )
    ys = [r.Y for r in rows]
    mint_states = {}
    for start in range(0, len(ys), 500):
        for entry in await svc.mint.check_state(ys[start : start + 500]):
            mint_states[entry.Y] = entry.state
    for row in rows:
        if mint_states.get(row.Y) not in AGREEING_STATES[row.state]:
            problems.append(f"proof {row.Y[:16]}...: ledger {row.state}, mint {mint_states.get(row.Y)}")
    return problems
