"""The operations journal: one row per mint-side action, written before the mint is asked.

Work is claimed through the database with a lease (`lease_owner`, `lease_until`), never an
in-process lock, so several nctool processes can share one database.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.records import Operation, Wallet
from nctool.store.tables import operations, utcnow

FINAL_STATES = frozenset({"completed", "failed", "expired"})


def is_open() -> ColumnElement[bool]:
    """Return the condition "the operation is not final", with the states inlined as literals.

    Inlined, the condition matches the predicate of the partial indexes on open operations
    (migration 0005), so PostgreSQL can use them in every plan, generic plans included.
    """
    final: BindParameter[list[str]] = bindparam(
        "final_states", sorted(FINAL_STATES), expanding=True, literal_execute=True
    )
    return operations.c.state.not_in(final)


def new_operation_id(kind: str) -> str:
    """Return an id of the form <kind>_<milliseconds>_<random>."""
    return f"{kind}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


async def insert_operation(
    conn: AsyncConnection, wallet: Wallet, *, operation_id: str, kind: str, state: str, **fields: Any
) -> Operation:
    now = utcnow()
    values: dict[str, Any] = {
        "id": operation_id,
        "kind": kind,
        "wallet_id": wallet.id,
        "npub": wallet.npub,
        "mint_url": wallet.mint_url,
        "state": state,
        "amount": 0,
        "fee_reserve": 0,
        "fees_paid": 0,
        "change_amount": 0,
        "input_ys": [],
        "outputs": [],
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    row = (await conn.execute(operations.insert().values(**values).returning(operations))).one()
    return Operation.from_row(row)


async def get_operation(conn: AsyncConnection, operation_id: str) -> Operation | None:
    row = (await conn.execute(select(operations).where(operations.c.id == operation_id))).first()
    return Operation.from_row(row) if row else None


async def find_by_idempotency_key(conn: AsyncConnection, wallet_id: int, key: str) -> Operation | None:
    query = select(operations).where(operations.c.wallet_id == wallet_id, operations.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return Operation.from_row(row) if row else None


async def find_live_melt(conn: AsyncConnection, wallet_id: int, payment_hash: str) -> Operation | None:
    """Return the melt of this invoice that is in flight or completed, if any."""
    query = select(operations).where(
        operations.c.wallet_id == wallet_id,
        operations.c.kind == "melt",
        operations.c.payment_hash == payment_hash,
        operations.c.state != "failed",
    )
    row = (await conn.execute(query)).first()
    return Operation.from_row(row) if row else None


async def find_by_request(conn: AsyncConnection, wallet_id: int, kind: str, request_hash: str) -> Operation | None:
    """Return the newest operation of this kind and wallet made for the same request (same request_hash)."""
    query = (
        select(operations)
        .where(
            operations.c.wallet_id == wallet_id,
            operations.c.kind == kind,
            operations.c.request_hash == request_hash,
        )
        .order_by(operations.c.created_at.desc())
    )
    row = (await conn.execute(query)).first()
    return Operation.from_row(row) if row else None


async def find_by_quote(conn: AsyncConnection, wallet_id: int, kind: str, quote_id: str) -> Operation | None:
    query = select(operations).where(
        operations.c.wallet_id == wallet_id, operations.c.kind == kind, operations.c.quote_id == quote_id
    )
    row = (await conn.execute(query)).first()
    return Operation.from_row(row) if row else None


async def transition(
    conn: AsyncConnection, operation_id: str, from_states: Sequence[str], to_state: str, **fields: Any
) -> bool:
    """Move the operation to `to_state` only if it is in one of `from_states`."""
    values: dict[str, Any] = {"state": to_state, "updated_at": utcnow(), **fields}
    if to_state in FINAL_STATES:
        values.setdefault("completed_at", utcnow())
        values.setdefault("next_check_at", None)
    result = await conn.execute(
        update(operations)
        .where(operations.c.id == operation_id, operations.c.state.in_(list(from_states)))
        .values(**values)
    )
    return bool(result.rowcount == 1)


async def transition_returning(
    conn: AsyncConnection, operation_id: str, from_states: Sequence[str], to_state: str, **fields: Any
) -> Operation | None:
    """Like `transition`, but return the updated operation, or None if it was in none of `from_states`."""
    values: dict[str, Any] = {"state": to_state, "updated_at": utcnow(), **fields}
    if to_state in FINAL_STATES:
        values.setdefault("completed_at", utcnow())
        values.setdefault("next_check_at", None)
    row = (
        await conn.execute(
            update(operations)
            .where(operations.c.id == operation_id, operations.c.state.in_(list(from_states)))
            .values(**values)
            .returning(operations)
        )
    ).first()
    return Operation.from_row(row) if row else None


async def update_operation(conn: AsyncConnection, operation_id: str, **fields: Any) -> None:
    await conn.execute(update(operations).where(operations.c.id == operation_id).values(updated_at=utcnow(), **fields))


async def try_lease(conn: AsyncConnection, operation_id: str, owner: str, seconds: float) -> bool:
    """Claim the operation for `seconds` unless another live owner has it."""
    now = utcnow()
    result = await conn.execute(
        update(operations)
        .where(
            operations.c.id == operation_id,
            or_(
                operations.c.lease_until.is_(None),
                operations.c.lease_until < now,
                operations.c.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
    )
    return bool(result.rowcount == 1)


async def claim(conn: AsyncConnection, operation_id: str, owner: str, seconds: float) -> Operation | None:
    """Lease the operation and return its current row, or None when another live owner holds it.

    The caller acts on the returned row, never on one read before the lease: another process may
    have moved the operation on and released its lease in between. A row that another transaction
    has locked at this moment is skipped (`FOR UPDATE SKIP LOCKED`) rather than waited for,
    because that transaction is leasing or changing the operation.
    """
    locked = await conn.execute(
        select(operations.c.id).where(operations.c.id == operation_id).with_for_update(skip_locked=True)
    )
    if locked.first() is None:
        return None
    if not await try_lease(conn, operation_id, owner, seconds):
        return None
    return await get_operation(conn, operation_id)


async def renew_lease(conn: AsyncConnection, operation_id: str, owner: str, seconds: float) -> None:
    """Extend the lease only while `owner` still holds it."""
    await conn.execute(
        update(operations)
        .where(operations.c.id == operation_id, operations.c.lease_owner == owner)
        .values(lease_until=utcnow() + timedelta(seconds=seconds))
    )


async def release_lease(conn: AsyncConnection, operation_id: str, owner: str) -> None:
    await conn.execute(
        update(operations)
        .where(operations.c.id == operation_id, operations.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


async def due_operations(conn: AsyncConnection, kinds: Sequence[str], limit: int = 100) -> list[Operation]:
    """Return non-final operations whose next check is due and which no live lease holds."""
    now = utcnow()
    query = (
        select(operations)
        .where(
            operations.c.kind.in_(list(kinds)),
            is_open(),
            or_(operations.c.next_check_at.is_(None), operations.c.next_check_at <= now),
            or_(operations.c.lease_until.is_(None), operations.c.lease_until < now),
        )
        .order_by(operations.c.created_at)
        .limit(limit)
    )
    return [Operation.from_row(r) for r in (await conn.execute(query)).all()]


async def list_operations(
    conn: AsyncConnection, wallet_id: int, *, kinds: Sequence[str] | None = None
) -> list[Operation]:
    query = select(operations).where(operations.c.wallet_id == wallet_id)
    if kinds:
        query = query.where(operations.c.kind.in_(list(kinds)))
    return [Operation.from_row(r) for r in (await conn.execute(query.order_by(operations.c.created_at))).all()]


async def list_operations_by_npub(conn: AsyncConnection, npub: str) -> list[Operation]:
    """Return the npub's operations, newest first."""
    query = select(operations).where(operations.c.npub == npub).order_by(operations.c.created_at.desc())
    return [Operation.from_row(r) for r in (await conn.execute(query)).all()]
