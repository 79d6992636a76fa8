"""Proof selection with NUT-02 input fees."""

from __future__ import annotations

from nctool.store.records import StoredProof
from nctool.wallet.selection import select_proofs, send_total_for

FEES = {"00ad268c4d1f5826": 100}


def _proofs(*amounts: int) -> list[StoredProof]:
    proofs = [
        StoredProof(
            id=i,
            token_id=1,
            wallet_id=1,
            keyset_id="00ad268c4d1f5826",
            amount=a,
            secret=f"s{i}",
            C="02" + "00" * 32,
            Y=f"{i:066x}",
            dleq=None,
            witness=None,
            state="unspent",
            reserved_by=None,
        )
        for i, a in enumerate(amounts)
    ]
    return sorted(proofs, key=lambda p: -p.amount)


def test_exact_match_includes_input_fee():
    selection = select_proofs(_proofs(8, 32, 64, 128, 256, 512), 263, FEES, 100)
    assert selection is not None
    assert selection.exact is True
    assert sorted(p.amount for p in selection.proofs) == [8, 256]
    assert selection.input_fee == 1


def test_overshoot_plans_swap_with_keep():
    selection = select_proofs(_proofs(8, 32, 64, 128, 256, 512), 253, FEES, 100)
    assert selection is not None
    assert selection.exact is False
    assert selection.send_total == 254
    assert selection.keep_total == 512 - 1 - 254


def test_insufficient_returns_none():
    assert select_proofs(_proofs(64, 32), 100, FEES, 100) is None


def test_all_funds_minus_fee_is_not_enough():
    # 100 sat in one proof cannot pay 100: spending it costs a 1 sat input fee.
    assert select_proofs(_proofs(64, 32, 4), 100, FEES, 100) is None


def test_zero_fee_keyset_selects_exact_sum():
    selection = select_proofs(_proofs(1, 2, 4), 7, {"00ad268c4d1f5826": 0}, 0)
    assert selection is not None
    assert selection.exact is True
    assert selection.input_fee == 0


def test_send_total_covers_its_own_fee():
    assert send_total_for(253, 100) == 254
    assert send_total_for(253, 0) == 253
    # 1006 splits into 8 proofs (998 after fees); 1008 into 6 proofs (1002 after fees)
    assert send_total_for(1000, 1000) == 1008
