"""Receive: every malformed or foreign token is a 400 before any mint call; P2PK locks hold."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from nctool.cashu.models import DLEQ
from nctool.cashu.p2pk import new_private_key, public_key_of
from nctool.cashu.tokens import decode_token, encode_token_v3, encode_token_v4
from nctool.store.tables import operations, tokens
from nctool.testing.lightning import make_npub


async def _token(stack, npub, amount=64, **body):  # type: ignore[no-untyped-def]
    await stack.api.fund(npub, 1000)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send", {"amount": amount, **body})
    assert response.status_code == 200, response.text
    return response.json()["encodedToken"]


async def _receive(stack, npub, token, **extra):  # type: ignore[no-untyped-def]
    return await stack.api.call("POST", f"/api/wallet/{npub}/receive", {"encodedToken": token, **extra})


def _raw_v3(mint: str, proofs: list[dict], unit: str = "sat") -> str:  # type: ignore[type-arg]
    document = {"token": [{"mint": mint, "proofs": proofs}], "unit": unit}
    return "cashuA" + base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


async def _rows(stack, npub):  # type: ignore[no-untyped-def]
    async with stack.svc.db.read() as conn:
        ops = (await conn.execute(select(func.count()).where(operations.c.npub == npub))).scalar_one()
        toks = (await conn.execute(select(func.count()).where(tokens.c.npub == npub))).scalar_one()
    return ops, toks


def _spending_calls(stack) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return stack.proxy.hits.get("/v1/swap", 0), stack.proxy.hits.get("/v1/checkstate", 0)


async def _assert_rejected(stack, npub, token, code):  # type: ignore[no-untyped-def]
    calls = _spending_calls(stack)
    response = await _receive(stack, npub, token)
    body = response.json()
    assert response.status_code == 400, body
    assert body["code"] == code
    assert body["details"][0].startswith("encodedToken")
    assert _spending_calls(stack) == calls
    assert await _rows(stack, npub) == (0, 0)
    return body


@pytest.fixture
async def receiver(stack):  # type: ignore[no-untyped-def]
    npub = make_npub()
    await stack.api.create(npub)
    return npub


async def test_bad_encoding_rejected(stack, receiver):
    body = await _assert_rejected(stack, receiver, "cashuB!!!not-base64", "INVALID_TOKEN")
    assert "base64" in body["message"]


async def test_unknown_prefix_rejected(stack, receiver):
    body = await _assert_rejected(stack, receiver, "lnbc1000n1xyz", "INVALID_TOKEN")
    assert "cashuA" in body["message"]


async def test_empty_proof_list_rejected(stack, receiver):
    body = await _assert_rejected(stack, receiver, _raw_v3(stack.svc.settings.mint_url, []), "INVALID_TOKEN")
    assert "non-empty" in body["message"]


@pytest.mark.parametrize(("amount", "fragment"), [(0, "amount 0"), (-8, "amount -8"), (1.5, "integer")])
async def test_bad_amount_rejected(stack, receiver, amount, fragment):
    proof = {"id": "00ad268c4d1f5826", "amount": amount, "secret": "s", "C": "02" + "11" * 32}
    body = await _assert_rejected(stack, receiver, _raw_v3(stack.svc.settings.mint_url, [proof]), "INVALID_TOKEN")
    assert fragment in body["message"]


async def test_huge_amount_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    proofs = [replace(token.proofs[0], amount=2**70)]
    body = await _assert_rejected(stack, receiver, encode_token_v4(replace(token, proofs=proofs)), "AMOUNT_TOO_LARGE")
    assert "maximum" in body["message"]


async def test_amount_without_mint_key_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    proofs = [replace(token.proofs[0], amount=3)]
    body = await _assert_rejected(stack, receiver, encode_token_v4(replace(token, proofs=proofs)), "INVALID_AMOUNT")
    assert "amount 3" in body["message"]


async def test_duplicate_proofs_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    doubled = replace(token, proofs=[token.proofs[0], token.proofs[0]])
    body = await _assert_rejected(stack, receiver, encode_token_v3(doubled), "DUPLICATE_PROOFS")
    assert "proof 1 duplicates proof 0" in body["message"]


async def test_unknown_keyset_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    proofs = [replace(p, id="00ffffffffffffff") for p in token.proofs]
    body = await _assert_rejected(stack, receiver, encode_token_v4(replace(token, proofs=proofs)), "UNKNOWN_KEYSET")
    assert "00ffffffffffffff" in body["message"]


async def test_wrong_unit_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    body = await _assert_rejected(stack, receiver, encode_token_v4(replace(token, unit="usd")), "WRONG_UNIT")
    assert "usd" in body["message"]


async def test_other_mint_rejected_by_name(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    foreign = replace(token, mint="https://mint.example.com")
    body = await _assert_rejected(stack, receiver, encode_token_v4(foreign), "UNTRUSTED_MINT")
    assert "https://mint.example.com" in body["message"]


async def test_invalid_dleq_rejected(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    first = token.proofs[0]
    assert first.dleq is not None
    forged = replace(first, dleq=DLEQ(e=first.dleq.s, s=first.dleq.e, r=first.dleq.r))
    body = await _assert_rejected(
        stack, receiver, encode_token_v4(replace(token, proofs=[forged, *token.proofs[1:]])), "INVALID_DLEQ"
    )
    assert "proof 0" in body["message"]


async def test_missing_token_field_rejected(stack, receiver):
    response = await stack.api.call("POST", f"/api/wallet/{receiver}/receive", {})
    assert response.status_code == 400
    assert "encodedToken" in response.text


async def test_token_without_dleq_accepted(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    bare = replace(token, proofs=[replace(p, dleq=None) for p in token.proofs])
    response = await _receive(stack, receiver, encode_token_v3(bare))
    assert response.status_code == 200
    assert response.json()["tokenAmount"] == 64


async def test_mint_url_spelling_is_normalized(stack, npub, receiver):
    token = decode_token(await _token(stack, npub))
    spelled = replace(token, mint=token.mint.upper().replace("HTTP://", "http://") + "/")
    response = await _receive(stack, receiver, encode_token_v4(spelled))
    assert response.status_code == 200


async def test_cashua_token_received(stack, npub, receiver):
    token = await _token(stack, npub, format="cashuA")
    response = await _receive(stack, receiver, token)
    assert response.status_code == 200
    assert (await stack.api.balance(receiver))["balance"] == response.json()["totalAmount"]


async def test_wallet_details_carry_p2pk_pub(stack, receiver):
    info = (await stack.api.call("GET", f"/api/wallet/{receiver}/info")).json()
    created = (await stack.api.create(receiver)).json()
    pub = info["walletInfo"]["walletDetails"]["p2pkPub"]
    assert len(pub) == 66
    assert created["walletDetails"]["p2pkPub"] == pub


async def test_p2pk_token_refused_for_wrong_wallet(stack, npub, receiver):
    owner = make_npub()
    await stack.api.create(owner)
    pub = (await stack.api.create(owner)).json()["walletDetails"]["p2pkPub"]
    locked = await _token(stack, npub, recipientPubkey=pub)
    calls = _spending_calls(stack)
    response = await _receive(stack, receiver, locked)
    assert response.status_code == 400
    assert response.json()["code"] == "P2PK_KEY_MISMATCH"
    assert pub in response.json()["message"]
    assert _spending_calls(stack) == calls
    assert (await stack.api.balance(receiver))["balance"] == 0


async def test_p2pk_token_accepted_by_owner(stack, npub):
    owner = make_npub()
    pub = (await stack.api.create(owner)).json()["walletDetails"]["p2pkPub"]
    locked = await _token(stack, npub, amount=50, recipientPubkey=pub)
    response = await _receive(stack, owner, locked)
    assert response.status_code == 200
    assert response.json()["tokenAmount"] == 50
    assert (await stack.api.balance(owner))["balance"] == response.json()["totalAmount"]


async def test_p2pk_token_proofs_carry_lock(stack, npub):
    pub = public_key_of(new_private_key())
    token = decode_token(await _token(stack, npub, recipientPubkey=pub))
    assert all(json.loads(p.secret)[1]["data"] == pub for p in token.proofs)


async def test_p2pk_token_accepted_with_private_key(stack, npub, receiver):
    key = new_private_key()
    locked = await _token(stack, npub, amount=32, recipientPubkey=public_key_of(key))
    refused = await _receive(stack, receiver, locked)
    assert refused.status_code == 400
    response = await _receive(stack, receiver, locked, privateKey=key.hex())
    assert response.status_code == 200
    assert (await stack.api.balance(receiver))["balance"] == response.json()["totalAmount"]


async def test_invalid_private_key_rejected(stack, npub, receiver):
    response = await _receive(stack, receiver, await _token(stack, npub), privateKey="abc")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PRIVATE_KEY"


async def test_locked_send_cannot_be_reclaimed(stack, npub):
    await stack.api.fund(npub, 1000)
    sent = await stack.api.call(
        "POST", f"/api/wallet/{npub}/send", {"amount": 16, "recipientPubkey": public_key_of(new_private_key())}
    )
    transaction_id = sent.json()["transactionId"]
    response = await stack.api.call("POST", f"/api/wallet/{npub}/send/{transaction_id}/reclaim")
    assert response.status_code == 409
    assert response.json()["code"] == "TOKEN_LOCKED_TO_RECIPIENT"
