"""Typed rows read from the ledger tables."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Row

from nctool.cashu.models import DLEQ, Proof


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


class _FromRow:
    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        mapping = row._mapping
        names = _field_names(cls)  # type: ignore[arg-type]  # classes are hashable
        return cls(**{k: v for k, v in mapping.items() if k in names})


@dataclass(frozen=True)
class Wallet(_FromRow):
    id: int
    npub: str
    mint_url: str
    unit: str
    created_at: datetime
    metadata: dict[str, Any]
    p2pk_pub: str | None = None


@dataclass(frozen=True)
class StoredProof(_FromRow):
    id: int
    token_id: int
    wallet_id: int
    keyset_id: str
    amount: int
    secret: str
    C: str
    Y: str
    dleq: dict[str, Any] | None
    witness: str | None
    state: str
    reserved_by: str | None

    def to_proof(self) -> Proof:
        dleq = DLEQ(e=self.dleq["e"], s=self.dleq["s"], r=self.dleq.get("r")) if self.dleq else None
        return Proof(
            id=self.keyset_id,
            amount=self.amount,
            secret=self.secret,
            C=self.C,
            dleq=dleq,
            witness=self.witness,
        )

    def __repr__(self) -> str:
        return f"StoredProof(Y={self.Y[:16]}..., amount={self.amount}, state={self.state})"


@dataclass(frozen=True)
class Operation(_FromRow):
    id: str
    kind: str
    wallet_id: int
    npub: str
    mint_url: str
    state: str
    quote_id: str | None
    amount: int
    fee_reserve: int
    fees_paid: int
    change_amount: int
    invoice: str | None
    payment_hash: str | None
    preimage: str | None
    idempotency_key: str | None
    request_hash: str | None
    input_ys: list[str]
    outputs: list[dict[str, Any]]
    expiry: int | None
    error_code: str | None
    error_message: str | None
    attempts: int
    lease_owner: str | None
    lease_until: datetime | None
    next_check_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    details: dict[str, Any] | None = None
