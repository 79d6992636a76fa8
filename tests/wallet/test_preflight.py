"""Classification of ledger versus mint proof states."""

from __future__ import annotations

import pytest

from nctool.cashu.client import ProofStateEntry
from nctool.cashu.models import ProofState
from nctool.store.records import StoredProof
from nctool.wallet.preflight import classify, severity_counts


def _proof(state: str, y: str = "02" + "11" * 32) -> StoredProof:
    return StoredProof(
        id=1,
        token_id=7,
        wallet_id=1,
        keyset_id="00ad268c4d1f5826",
        amount=64,
        secret="s",
        C="02" + "00" * 32,
        Y=y,
        dleq=None,
        witness=None,
        state=state,
        reserved_by="melt_1" if state == "reserved" else None,
    )


@pytest.mark.parametrize(
    ("db_state", "mint_state", "kind", "severity"),
    [
        ("unspent", ProofState.SPENT, "DB_UNSPENT_MINT_SPENT", "HIGH"),
        ("reserved", ProofState.SPENT, "DB_PENDING_MINT_SPENT", "MEDIUM"),
        ("spent", ProofState.UNSPENT, "DB_SPENT_MINT_UNSPENT", "MEDIUM"),
        ("unspent", ProofState.PENDING, "DB_UNSPENT_MINT_PENDING", "LOW"),
    ],
)
def test_discrepancy_table(db_state, mint_state, kind, severity):
    proof = _proof(db_state)
    found = classify([proof], [ProofStateEntry(Y=proof.Y, state=mint_state)])
    assert [d.type for d in found] == [kind]
    assert found[0].severity == severity


def test_agreeing_states_are_consistent():
    proof = _proof("unspent")
    assert classify([proof], [ProofStateEntry(Y=proof.Y, state=ProofState.UNSPENT)]) == []


def test_unknown_y_is_low():
    found = classify([], [ProofStateEntry(Y="03" + "22" * 32, state=ProofState.SPENT)])
    assert severity_counts(found) == {"HIGH": 0, "MEDIUM": 0, "LOW": 1}
    assert found[0].type == "PROOF_NOT_IN_DB"


def test_discrepancy_body_has_no_secret():
    proof = _proof("unspent")
    body = classify([proof], [ProofStateEntry(Y=proof.Y, state=ProofState.SPENT)])[0].to_dict()
    assert "secret" not in body
    assert body["Y"] == proof.Y
