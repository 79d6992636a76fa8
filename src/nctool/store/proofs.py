"""Tokens and their proofs: insertion, reservation, spending and balances.

A reservation is a conditional UPDATE inside the caller's transaction: a proof moves from
`unspent` to `reserved` only if it is still unspent, so two operations never hold one proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, null, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.cashu.crypto import proof_y
from nctool.cashu.models import Proof
from nctool.store.records import Operation, StoredProof, Wallet
from nctool.store.tables import proofs, tokens, utcnow, wallet_balances, wallets

# A proof handed out in a token that the mint has not yet reported spent. It is not part of the
# wallet's balance: the `sent` token that contains it is already counted in the ledger identity.
PENDING_SEND = "pending_send"
# spent_by of a pending-send proof that the mint reports spent: the recipient redeemed it. It is
# not the reconciliation marker, because the ledger already counts these proofs in `sent`.
REDEEMED = "redeemed"


@dataclass(frozen=True)
class Balance:
    unspent: int
    reserved: int
    spent: int
    pending_send: int = 0

    @property
    def total(self) -> int:
        return self.unspent + self.reserved


def token_status(*, reserved: int, unspent: int, pending_send: int = 0) -> str:
    """Return a token's status from how many of its proofs are reserved, unspent and pending a send."""
    if reserved or pending_send:
        return "pending"
    if unspent:
        return "unspent"
    return "spent"


async def insert_token(
    conn: AsyncConnection,
    owner: Wallet | Operation,
    *,
    transaction_type: str,
    transaction_id: str,
    new_proofs: Sequence[Proof],
    reserved_by: str | None = None,
    pending_send: bool = False,
    metadata: dict[str, Any] | None = None,
) -> int:
    """Store proofs as one token of the owner's wallet; they start reserved by `reserved_by` when given.

    `owner` is the wallet, or an operation of that wallet. With `pending_send` the proofs are
    stored as handed out in a token: out of the balance until the mint reports them spent.
    """
    wallet_id = owner.wallet_id if isinstance(owner, Operation) else owner.id
    now = utcnow()
    state = "reserved" if reserved_by else "unspent"
    if pending_send:
        state = PENDING_SEND
    live = len(new_proofs)
    result = await conn.execute(
        tokens.insert().values(
            wallet_id=wallet_id,
            npub=owner.npub,
            mint_url=owner.mint_url,
            transaction_type=transaction_type,
            transaction_id=transaction_id,
            status=token_status(
                reserved=live if state == "reserved" else 0,
                unspent=live if state == "unspent" else 0,
                pending_send=live if state == PENDING_SEND else 0,
            ),
            total_amount=sum(p.amount for p in new_proofs),
            created_at=now,
            spent_at=None if new_proofs else now,
            metadata=metadata or {},
        )
    )
    token_id = int(result.inserted_primary_key[0])  # type: ignore[index]  # single-column key
    if new_proofs:
        await conn.execute(
            proofs.insert(),
            [
                {
                    "token_id": token_id,
                    "wallet_id": wallet_id,
                    "keyset_id": p.id,
                    "amount": p.amount,
                    "secret": p.secret,
                    "C": p.C,
                    "Y": proof_y(p.secret),
                    "dleq": p.dleq.to_dict() if p.dleq else None,
                    "witness": p.witness,
                    "state": state,
                    "reserved_by": reserved_by,
                    "created_at": now,
                    "spent_at": None,
                }
                for p in new_proofs
            ],
        )
    return token_id


async def token_exists(conn: AsyncConnection, transaction_id: str) -> bool:
    row = (await conn.execute(select(tokens.c.id).where(tokens.c.transaction_id == transaction_id))).first()
    return row is not None


async def unspent_proofs(conn: AsyncConnection, wallet_id: int, exclude_ys: Iterable[str] = ()) -> list[StoredProof]:
    query = select(proofs).where(proofs.c.wallet_id == wallet_id, proofs.c.state == "unspent")
    excluded = list(exclude_ys)
    if excluded:
        query = query.where(proofs.c.Y.not_in(excluded))
    rows = (await conn.execute(query.order_by(proofs.c.amount.desc(), proofs.c.id))).all()
    return [StoredProof.from_row(r) for r in rows]


async def selection_candidates(
    conn: AsyncConnection, wallet_id: int, target: int, exclude_ys: Iterable[str] = (), limit: int = 64
) -> list[StoredProof]:
    """Return the `limit` largest unspent proofs worth at most `target` and the smallest one worth more.

    Both parts are range scans of ix_proofs_wallet_state_amount, so the cost does not grow with
    the wallet's proof count the way loading every unspent proof does.
    """
    conditions = [proofs.c.wallet_id == wallet_id, proofs.c.state == "unspent"]
    excluded = list(exclude_ys)
    if excluded:
        conditions.append(proofs.c.Y.not_in(excluded))
    smaller = select(proofs).where(*conditions, proofs.c.amount <= target).order_by(proofs.c.amount.desc()).limit(limit)
    larger = select(proofs).where(*conditions, proofs.c.amount > target).order_by(proofs.c.amount).limit(1)
    query = union_all(select(smaller.subquery()), select(larger.subquery()))
    return [StoredProof.from_row(r) for r in (await conn.execute(query)).all()]


async def proofs_by_ys(conn: AsyncConnection, ys: Sequence[str]) -> list[StoredProof]:
    if not ys:
        return []
    rows = (await conn.execute(select(proofs).where(proofs.c.Y.in_(list(ys))))).all()
    by_y = {r._mapping["Y"]: StoredProof.from_row(r) for r in rows}
    return [by_y[y] for y in ys if y in by_y]


async def proofs_reserved_by(conn: AsyncConnection, operation_id: str) -> list[StoredProof]:
    rows = (await conn.execute(select(proofs).where(proofs.c.reserved_by == operation_id).order_by(proofs.c.id))).all()
    return [StoredProof.from_row(r) for r in rows]


async def wallet_proofs(conn: AsyncConnection, wallet_id: int, states: Sequence[str]) -> list[StoredProof]:
    query = select(proofs).where(proofs.c.wallet_id == wallet_id, proofs.c.state.in_(list(states)))
    rows = (await conn.execute(query.order_by(proofs.c.id))).all()
    return [StoredProof.from_row(r) for r in rows]


async def lock_wallet_for_selection(conn: AsyncConnection, wallet_id: int) -> None:
    """Hold the wallet's row lock until the transaction ends, so that selections of one wallet queue.

    On PostgreSQL this is `SELECT ... FOR NO KEY UPDATE` on the wallet row: a concurrent melt of the
    same wallet waits here and then selects from the proofs left after this one's reservation,
    instead of picking the same proofs and losing the conditional update. Other wallets are not
    blocked. It must not be FOR UPDATE: that also blocks the key-share lock that every insert into
    a table referencing wallets takes, so a settle holding the wallet's balance row would deadlock
    with a selection waiting for that row. SQLite already serializes writers from BEGIN IMMEDIATE.
    """
    await conn.execute(select(wallets.c.id).where(wallets.c.id == wallet_id).with_for_update(key_share=True))


async def reserve(conn: AsyncConnection, proof_ids: Sequence[int], operation_id: str) -> bool:
    """Reserve all given proofs for the operation, or none: False when any was taken meanwhile.

    On False some proofs may already be reserved in `conn`; the caller must roll back.
    """
    rows = (
        await conn.execute(
            update(proofs)
            .where(proofs.c.id.in_(list(proof_ids)), proofs.c.state == "unspent")
            .values(state="reserved", reserved_by=operation_id)
            .returning(proofs.c.token_id)
        )
    ).all()
    if len(rows) != len(proof_ids):
        return False
    await _refresh_tokens(conn, {r[0] for r in rows})
    return True


async def release(conn: AsyncConnection, operation_id: str, ys: Sequence[str] | None = None) -> int:
    """Return the operation's reserved proofs (or the given subset) to `unspent`."""
    condition = and_(proofs.c.reserved_by == operation_id, proofs.c.state == "reserved")
    if ys is not None:
        condition = and_(condition, proofs.c.Y.in_(list(ys)))
    rows = (
        await conn.execute(
            update(proofs).where(condition).values(state="unspent", reserved_by=None).returning(proofs.c.token_id)
        )
    ).all()
    await _refresh_tokens(conn, {r[0] for r in rows})
    return len(rows)


async def mark_spent(conn: AsyncConnection, ys: Sequence[str], spent_by: str) -> int:
    """Mark proofs spent by Y, whatever their state, recording who spent them; return how many changed."""
    if not ys:
        return 0
    rows = (
        await conn.execute(
            update(proofs)
            .where(proofs.c.Y.in_(list(ys)), proofs.c.state != "spent")
            .values(state="spent", reserved_by=None, spent_by=spent_by, spent_at=utcnow())
            .returning(proofs.c.token_id)
        )
    ).all()
    await _refresh_tokens(conn, {r[0] for r in rows})
    return len(rows)


async def refresh_token_status(conn: AsyncConnection, *, proof_ids: Sequence[int]) -> None:
    """Recompute the status of the tokens owning these proofs from their proofs' states."""
    token_ids = (
        await conn.execute(select(proofs.c.token_id).where(proofs.c.id.in_(list(proof_ids))).distinct())
    ).scalars()
    await _refresh_tokens(conn, set(token_ids))


async def _refresh_tokens(conn: AsyncConnection, token_ids: set[int]) -> None:
    """Recompute the tokens' status in one statement, with the same rule as `token_status`."""
    if not token_ids:
        return
    has_reserved = exists().where(proofs.c.token_id == tokens.c.id, proofs.c.state == "reserved")
    has_unspent = exists().where(proofs.c.token_id == tokens.c.id, proofs.c.state == "unspent")
    has_pending_send = exists().where(proofs.c.token_id == tokens.c.id, proofs.c.state == PENDING_SEND)
    spent = and_(~has_reserved, ~has_pending_send, ~has_unspent)
    await conn.execute(
        update(tokens)
        .where(tokens.c.id.in_(sorted(token_ids)))
        .values(
            status=case(
                (has_reserved, "pending"), (has_pending_send, "pending"), (has_unspent, "unspent"), else_="spent"
            ),
            spent_at=case((spent, literal(utcnow(), tokens.c.spent_at.type)), else_=null()),
        )
    )


async def balance(conn: AsyncConnection, wallet_id: int) -> Balance:
    """Return the wallet's sums per proof state from wallet_balances, which triggers on proofs keep current."""
    row = (
        await conn.execute(
            select(
                wallet_balances.c.unspent,
                wallet_balances.c.reserved,
                wallet_balances.c.spent,
                wallet_balances.c.pending_send,
            ).where(wallet_balances.c.wallet_id == wallet_id)
        )
    ).first()
    if row is None:
        return Balance(unspent=0, reserved=0, spent=0)
    return Balance(
        unspent=int(row.unspent),
        reserved=int(row.reserved),
        spent=int(row.spent),
        pending_send=int(row.pending_send),
    )


async def balance_from_proofs(conn: AsyncConnection, wallet_id: int) -> Balance:
    """Sum the wallet's proofs per state directly; the reference that wallet_balances must equal."""
    rows = (
        await conn.execute(
            select(proofs.c.state, func.coalesce(func.sum(proofs.c.amount), 0))
            .where(proofs.c.wallet_id == wallet_id)
            .group_by(proofs.c.state)
        )
    ).all()
    sums = {state: int(total) for state, total in rows}
    return Balance(
        unspent=sums.get("unspent", 0),
        reserved=sums.get("reserved", 0),
        spent=sums.get("spent", 0),
        pending_send=sums.get(PENDING_SEND, 0),
    )


async def token_proofs(conn: AsyncConnection, transaction_id: str) -> list[StoredProof]:
    """Return the proofs of the token with this transaction id, in insertion order."""
    query = (
        select(proofs)
        .join(tokens, tokens.c.id == proofs.c.token_id)
        .where(tokens.c.transaction_id == transaction_id)
        .order_by(proofs.c.id)
    )
    return [StoredProof.from_row(r) for r in (await conn.execute(query)).all()]


async def claim_pending_send(conn: AsyncConnection, ys: Sequence[str], operation_id: str) -> bool:
    """Mark pending-send proofs as being reclaimed by the operation, all or none.

    The proofs keep their state, so the balance does not change; `reserved_by` only stops a
    second reclaim of the same token. False when any proof is no longer pending or already claimed.
    """
    result = await conn.execute(
        update(proofs)
        .where(proofs.c.Y.in_(list(ys)), proofs.c.state == PENDING_SEND, proofs.c.reserved_by.is_(None))
        .values(reserved_by=operation_id)
    )
    return bool(result.rowcount == len(ys))


async def unclaim_pending_send(conn: AsyncConnection, operation_id: str) -> None:
    await conn.execute(
        update(proofs)
        .where(proofs.c.reserved_by == operation_id, proofs.c.state == PENDING_SEND)
        .values(reserved_by=None)
    )


async def settle_pending_send(conn: AsyncConnection, ys: Sequence[str], spent_by: str) -> int:
    """Mark those of `ys` that are pending a send as spent; proofs in any other state are left alone."""
    if not ys:
        return 0
    condition = and_(proofs.c.Y.in_(list(ys)), proofs.c.state == PENDING_SEND)
    ids = [r[0] for r in (await conn.execute(select(proofs.c.id).where(condition))).all()]
    if not ids:
        return 0
    await conn.execute(
        update(proofs)
        .where(proofs.c.id.in_(ids))
        .values(state="spent", reserved_by=None, spent_by=spent_by, spent_at=utcnow())
    )
    await refresh_token_status(conn, proof_ids=ids)
    return len(ids)
