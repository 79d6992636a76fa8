"""Sealing secrets at rest: AES-256-GCM under the first key of a key file, opened by any key in it."""

from __future__ import annotations

import stat

import pytest

from nctool.security.secretbox import (
    Keyring,
    SecretKeyError,
    generate_key_file,
    is_sealed,
    load_key_file,
    new_key_line,
    parse_key_file,
)

SEED = "5f3b" * 16


def keyring(*lines: str) -> Keyring:
    return parse_key_file("\n".join(lines), "test.key")


def test_sealed_value_opens_to_plaintext():
    ring = keyring(new_key_line())
    sealed = ring.seal(SEED)
    assert is_sealed(sealed)
    assert SEED not in sealed
    assert ring.open(sealed) == SEED


def test_each_seal_uses_a_fresh_nonce():
    ring = keyring(new_key_line())
    assert ring.seal(SEED) != ring.seal(SEED)


def test_older_key_opens_after_rotation():
    old = new_key_line()
    sealed = keyring(old).seal(SEED)
    assert keyring(new_key_line(), old).open(sealed) == SEED


def test_missing_key_is_named_in_the_error():
    sealed = keyring(new_key_line()).seal(SEED)
    with pytest.raises(SecretKeyError, match="does not contain"):
        keyring(new_key_line()).open(sealed)


def test_tampered_value_fails_authentication():
    ring = keyring(new_key_line())
    sealed = ring.seal(SEED)
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SecretKeyError, match="authentication"):
        ring.open(tampered)


def test_plaintext_from_before_encryption_reads_as_is():
    assert keyring(new_key_line()).open(SEED) == SEED


def test_reseal_needed_only_for_other_keys():
    old, new = new_key_line(), new_key_line()
    sealed_old = keyring(old).seal(SEED)
    ring = keyring(new, old)
    assert ring.needs_reseal(sealed_old)
    assert ring.needs_reseal(SEED)
    assert not ring.needs_reseal(ring.seal(SEED))


@pytest.mark.parametrize(("text", "reason"), [("", "no key"), ("# only a comment", "no key"), ("c2hvcnQ", "bytes")])
def test_invalid_key_file_is_rejected(text, reason):
    with pytest.raises(SecretKeyError, match=reason):
        parse_key_file(text, "test.key")


def test_generated_key_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "secret.key"
    ring = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == ring
    with pytest.raises(SecretKeyError, match="never overwrites"):
        generate_key_file(path)


def test_missing_key_file_says_how_to_create_one(tmp_path):
    with pytest.raises(SecretKeyError, match="nctool admin secret-key generate"):
        load_key_file(tmp_path / "absent.key")
