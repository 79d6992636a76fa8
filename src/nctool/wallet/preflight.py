"""Proof reconciliation: compare the ledger's proof states with the mint's (NUT-07).

discrepancy              severity  action
DB_UNSPENT_MINT_SPENT    HIGH      mark spent, audit, block the operation
DB_SPENT_MINT_UNSPENT    MEDIUM    investigate; restore only when no operation claims it
DB_PENDING_MINT_SPENT    MEDIUM    finish the owning operation through recovery
DB_UNSPENT_MINT_PENDING  LOW       leave out of this selection
PROOF_NOT_IN_DB          LOW       log for audit
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nctool.cashu.client import ProofStateEntry
from nctool.cashu.models import ProofState
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store.records import StoredProof

log = get_logger()

_RULES: dict[tuple[str, ProofState], tuple[str, str, str, str]] = {
    ("unspent", ProofState.SPENT): (
        "DB_UNSPENT_MINT_SPENT",
        "HIGH",
        "mark_spent",
        "The mint reports this proof spent; it is marked spent and the operation is blocked.",
    ),
    ("reserved", ProofState.SPENT): (
        "DB_PENDING_MINT_SPENT",
        "MEDIUM",
        "finish_operation",
        "The owning operation's spend went through; recovery finishes it from the journal.",
    ),
    ("spent", ProofState.UNSPENT): (
        "DB_SPENT_MINT_UNSPENT",
        "MEDIUM",
        "investigate",
        "Recorded spent but unspent at the mint; restore it only if no operation claims it.",
    ),
    ("unspent", ProofState.PENDING): (
        "DB_UNSPENT_MINT_PENDING",
        "LOW",
        "exclude_from_selection",
        "The mint holds this proof in a pending payment; it is left out of new selections.",
    ),
}


@dataclass(frozen=True)
class Discrepancy:
    type: str
    severity: str
    Y: str
    amount: int
    db_status: str
    mint_state: str
    token_id: int | None
    action_required: str
    recommendation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "type": self.type,
            "description": f"database says {self.db_status}, mint says {self.mint_state}",
            "Y": self.Y,
            "amount": self.amount,
            "db_status": self.db_status,
            "mint_state": self.mint_state,
            "token_id": self.token_id,
            "action_required": self.action_required,
            "recommendation": self.recommendation,
        }


def classify(stored: Sequence[StoredProof], states: Sequence[ProofStateEntry]) -> list[Discrepancy]:
    """Return one discrepancy per proof whose database state disagrees with the mint's."""
    by_y = {p.Y: p for p in stored}
    found: list[Discrepancy] = []
    for entry in states:
        proof = by_y.get(entry.Y)
        if proof is None:
            found.append(
                Discrepancy(
                    "PROOF_NOT_IN_DB",
                    "LOW",
                    entry.Y,
                    0,
                    "missing",
                    entry.state.value,
                    None,
                    "log",
                    "The mint knows this Y but the ledger does not; logged for audit.",
                )
            )
            continue
        rule = _RULES.get((proof.state, entry.state))
        if rule is not None:
            kind, severity, action, advice = rule
            found.append(
                Discrepancy(
                    kind,
                    severity,
                    proof.Y,
                    proof.amount,
                    proof.state,
                    entry.state.value,
                    proof.token_id,
                    action,
                    advice,
                )
            )
    for item in found:
        metrics.DISCREPANCIES.labels(type=item.type, severity=item.severity).inc()
    return found


def log_state_check(npub: str, stored: Sequence[StoredProof], states: Sequence[ProofStateEntry]) -> None:
    log.info(
        "Mint proof state check",
        npub=npub,
        mintStates=dict(Counter(s.state.value for s in states)),
        dbStates=dict(Counter(p.state for p in stored)),
    )


def severity_counts(found: Sequence[Discrepancy]) -> dict[str, int]:
    counts = Counter(d.severity for d in found)
    return {level: counts.get(level, 0) for level in ("HIGH", "MEDIUM", "LOW")}
