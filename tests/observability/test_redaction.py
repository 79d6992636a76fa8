"""The log processor redacts secret-bearing fields but keeps counts under the same names."""

from __future__ import annotations

from nctool.observability.logging import _drop_secrets


def test_secret_string_is_redacted():
    event = _drop_secrets(None, "info", {"secret": "deadbeef", "message": "x"})
    assert event["secret"] == "[redacted]"


def test_proof_list_is_redacted():
    event = _drop_secrets(None, "info", {"proofs": [{"secret": "s"}]})
    assert event["proofs"] == "[redacted]"


def test_proof_count_is_kept():
    event = _drop_secrets(None, "info", {"proofs": 41})
    assert event["proofs"] == 41
