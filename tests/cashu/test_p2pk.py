"""P2PK locks (NUT-10/11): secrets, witnesses and keys. Vectors from cashubtc/nuts tests/11-test.md."""

from __future__ import annotations

import json

import pytest

from nctool.cashu.p2pk import (
    P2PKError,
    lock_secret,
    new_private_key,
    normalize_pubkey,
    parse_lock,
    parse_private_key,
    public_key_of,
    sign_secret,
    verify_signature,
    witness,
)
from nctool.nostr.nip19 import encode_npub

# NUT-11 test vectors: a proof with a valid signature, and one whose signature is on another secret.
VALID_SECRET = (
    '["P2PK",{"nonce":"859d4935c4907062a6297cf4e663e2835d90d97ecdd510745d32f6816323a41f",'
    '"data":"0249098aa8b9d2fbec49ff8598feb17b592b986e62319a4fa488a3dc36387157a7",'
    '"tags":[["sigflag","SIG_INPUTS"]]}]'
)
VALID_SIGNATURE = (
    "60f3c9b766770b46caac1d27e1ae6b77c8866ebaeba0b9489fe6a15a837eaa6f"
    "cd6eaa825499c72ac342983983fd3ba3a8a41f56677cc99ffd73da68b59e1383"
)
MULTISIG_SECRET = (
    '["P2PK",{"nonce":"0ed3fcb22c649dd7bbbdcca36e0c52d4f0187dd3b6a19efcc2bfbebb5f85b2a1",'
    '"data":"0249098aa8b9d2fbec49ff8598feb17b592b986e62319a4fa488a3dc36387157a7",'
    '"tags":[["pubkeys","0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",'
    '"02142715675faf8da1ecc4d51e0b9e539fa0d52fdd96ed60dbe99adb15d6b05ad9"],["n_sigs","2"],'
    '["sigflag","SIG_INPUTS"]]}]'
)
MULTISIG_SIGNATURE = (
    "83564aca48c668f50d022a426ce0ed19d3a9bdcffeeaee0dc1e7ea7e98e9eff1"
    "840fcc821724f623468c94f72a8b0a7280fa9ef5a54a1b130ef3055217f467b3"
)
REFUND_SECRET = (
    '["P2PK",{"nonce":"902685f492ef3bb2ca35a47ddbba484a3365d143b9776d453947dcbf1ddf9689",'
    '"data":"026f6a2b1d709dbca78124a9f30a742985f7eddd894e72f637f7085bf69b997b9a",'
    '"tags":[["pubkeys","0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",'
    '"03142715675faf8da1ecc4d51e0b9e539fa0d52fdd96ed60dbe99adb15d6b05ad9"],["locktime","21"],'
    '["n_sigs","2"],["refund","026f6a2b1d709dbca78124a9f30a742985f7eddd894e72f637f7085bf69b997b9a"],'
    '["sigflag","SIG_INPUTS"]]}]'
)
DATA_KEY = "0249098aa8b9d2fbec49ff8598feb17b592b986e62319a4fa488a3dc36387157a7"


def test_spec_vector_signature_verifies() -> None:
    assert verify_signature(VALID_SECRET, DATA_KEY, VALID_SIGNATURE) is True


def test_spec_vector_signature_on_other_secret_fails() -> None:
    assert verify_signature(MULTISIG_SECRET, DATA_KEY, VALID_SIGNATURE) is False


def test_spec_vector_multisig_lock_parsed() -> None:
    lock = parse_lock(MULTISIG_SECRET)
    assert lock is not None
    assert lock.n_sigs == 2
    assert lock.pubkeys[0] == DATA_KEY
    assert len(lock.pubkeys) == 3


def test_spec_vector_multisig_signature_by_data_key() -> None:
    assert verify_signature(MULTISIG_SECRET, DATA_KEY, MULTISIG_SIGNATURE) is True


def test_expired_lock_names_refund_keys() -> None:
    lock = parse_lock(REFUND_SECRET)
    assert lock is not None
    assert lock.locktime == 21
    assert lock.signers_at(now=22) == ["026f6a2b1d709dbca78124a9f30a742985f7eddd894e72f637f7085bf69b997b9a"]
    assert lock.signers_at(now=20) == lock.pubkeys


def test_expired_lock_without_refund_is_open() -> None:
    secret = json.dumps(["P2PK", {"nonce": "00", "data": DATA_KEY, "tags": [["locktime", "21"]]}])
    lock = parse_lock(secret)
    assert lock is not None
    assert lock.signers_at(now=22) is None


def test_plain_secret_has_no_lock() -> None:
    assert parse_lock("e34ad174a48088d313cec75fcf4615c9a660e21a928a3e76d8e9443d7682d994") is None


def test_other_nut10_kind_is_rejected() -> None:
    secret = json.dumps(["HTLC", {"nonce": "00", "data": "ec49", "tags": []}])
    with pytest.raises(P2PKError, match="HTLC"):
        parse_lock(secret)


def test_malformed_nut10_secret_is_rejected() -> None:
    with pytest.raises(P2PKError, match="not valid JSON"):
        parse_lock('["P2PK", {')


def test_lock_secret_round_trips() -> None:
    pub = public_key_of(new_private_key())
    lock = parse_lock(lock_secret(pub))
    assert lock is not None
    assert lock.pubkeys == [pub]
    assert lock.sigflag == "SIG_INPUTS"


def test_lock_secrets_have_fresh_nonces() -> None:
    pub = public_key_of(new_private_key())
    assert lock_secret(pub) != lock_secret(pub)


def test_signature_verifies_with_signer_key() -> None:
    key = new_private_key()
    secret = lock_secret(public_key_of(key))
    assert verify_signature(secret, public_key_of(key), sign_secret(secret, key)) is True


def test_witness_is_nut11_json() -> None:
    assert json.loads(witness(["ab"])) == {"signatures": ["ab"]}


def test_normalize_accepts_xonly_and_npub() -> None:
    key = new_private_key()
    pub = public_key_of(key)
    xonly = bytes.fromhex(pub)[1:]
    even = "02" + xonly.hex()
    assert normalize_pubkey(xonly.hex()) == even
    assert normalize_pubkey(encode_npub(xonly)) == even
    assert normalize_pubkey(pub.upper()) == pub


@pytest.mark.parametrize("text", ["", "02abcd", "04" + "11" * 32, "zz" * 33, "npub1invalid"])
def test_normalize_rejects_bad_keys(text: str) -> None:
    with pytest.raises(P2PKError):
        normalize_pubkey(text)


@pytest.mark.parametrize("text", ["", "ab" * 31, "00" * 32, "gg" * 32])
def test_private_key_must_be_32_byte_scalar(text: str) -> None:
    with pytest.raises(P2PKError):
        parse_private_key(text)
