"""Protocol data types shared by the crypto, token and mint-client modules (NUT-00, NUT-12)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class DLEQ:
    """NUT-12 discrete-log equality proof; `r` is present only on a proof (not on a signature)."""

    e: str
    s: str
    r: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"e": self.e, "s": self.s}
        if self.r is not None:
            out["r"] = self.r
        return out


@dataclass(frozen=True)
class Proof:
    """An unblinded ecash proof: `secret` is bearer money and must never be logged."""

    id: str
    amount: int
    secret: str
    C: str
    dleq: DLEQ | None = None
    witness: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "amount": self.amount, "secret": self.secret, "C": self.C}
        if self.dleq is not None:
            out["dleq"] = self.dleq.to_dict()
        if self.witness is not None:
            out["witness"] = self.witness
        return out

    def __repr__(self) -> str:
        # Keep the secret out of tracebacks and debug output.
        return f"Proof(id={self.id!r}, amount={self.amount}, C={self.C[:16]}...)"


@dataclass(frozen=True)
class BlindedMessage:
    """An output sent to the mint for signing (NUT-00 `B_`)."""

    id: str
    amount: int
    B_: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "amount": self.amount, "B_": self.B_}


@dataclass(frozen=True)
class BlindSignature:
    """The mint's signature on a blinded message (NUT-00 `C_`), with an optional NUT-12 DLEQ."""

    id: str
    amount: int
    C_: str
    dleq: DLEQ | None = None


class ProofState(StrEnum):
    """NUT-07 proof state as reported by the mint."""

    UNSPENT = "UNSPENT"
    PENDING = "PENDING"
    SPENT = "SPENT"


@dataclass(frozen=True)
class Token:
    """A transferable token: proofs of one mint and one unit."""

    mint: str
    unit: str
    proofs: list[Proof] = field(default_factory=list)
    memo: str | None = None

    @property
    def amount(self) -> int:
        return sum(p.amount for p in self.proofs)
