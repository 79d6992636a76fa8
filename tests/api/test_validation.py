"""Bad input gets a 400 (or 404) that names the field, never a 500, and no mint call."""

from __future__ import annotations

import pytest

from nctool.testing.lightning import make_invoice, make_npub

INVALID_NPUBS = [
    ("npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "checksum"),
    ("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5", "private key"),
    ("7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e", "hex"),
    ("note1fntxtkcy9pjwucqwa9mddn7v03wwwsu9j330jj350nvhpky2tuaspk6nqc", "note"),
    ("", "empty"),
]


@pytest.mark.parametrize(("value", "label"), INVALID_NPUBS)
async def test_create_rejects_invalid_npub(stack, value, label):
    response = await stack.api.create(value)
    body = response.json()
    assert response.status_code == 400, label
    assert body["code"] == "INVALID_NPUB"
    assert body["details"][0].startswith("npub:")


async def test_create_is_idempotent(stack, npub):
    first = await stack.api.create(npub)
    second = await stack.api.create(npub)
    assert first.json()["message"] == "Wallet created successfully"
    assert second.status_code == 200
    assert second.json()["message"] == "Wallet already exists"


async def test_unknown_wallet_is_404(stack, npub):
    response = await stack.api.call("GET", f"/api/wallet/{npub}/balance")
    assert response.status_code == 404
    assert response.json()["code"] == "WALLET_NOT_FOUND"


async def test_path_npub_is_validated(stack):
    response = await stack.api.call("GET", "/api/wallet/not-an-npub/balance")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_NPUB"


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100", None, True, 10**12])
async def test_mint_rejects_bad_amount(stack, npub, amount):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/mint", {"amount": amount})
    body = response.json()
    assert response.status_code == 400
    assert any(line.startswith("amount") for line in body["details"])


async def test_non_json_body_is_400(stack, npub):
    response = await stack.api.http.post(
        "/api/wallet/create", content=b"npub=1", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["details"] == ["body: is not valid JSON; send a JSON object"]


async def test_missing_body_is_400(stack, npub):
    response = await stack.api.http.post("/api/wallet/create")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


INVALID_INVOICES = [
    ("lnbc1notaninvoice", "INVALID_INVOICE"),
    (make_invoice(50, expired=True), "INVOICE_EXPIRED"),
    (make_invoice(50, amountless=True), "AMOUNTLESS_INVOICE"),
    (make_invoice(50, network="tb"), "WRONG_NETWORK"),
    ("", "INVALID_INVOICE"),
]


@pytest.mark.parametrize(("invoice", "code"), INVALID_INVOICES)
async def test_melt_rejects_bad_invoice_without_mint_call(stack, npub, invoice, code):
    await stack.api.fund(npub, 100)
    quotes_before = stack.proxy.hits.get("/v1/melt/quote/bolt11", 0)
    response = await stack.api.melt(npub, invoice)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert stack.proxy.hits.get("/v1/melt/quote/bolt11", 0) == quotes_before
    assert (await stack.api.balance(npub))["balance"] == 100


async def test_melt_invoice_must_be_a_string(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/melt", {"invoice": 42})
    assert response.status_code == 400
    assert response.json()["details"][0].startswith("invoice")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"skip": -1}, {"limit": "ten"}])
async def test_transactions_rejects_bad_paging(stack, npub, params):
    await stack.api.create(npub)
    response = await stack.api.http.get(f"/api/wallet/{npub}/transactions", params=params)
    assert response.status_code == 400


async def test_history_never_contains_secrets(stack, npub):
    await stack.api.fund(npub, 300)
    await stack.api.melt(npub, make_invoice(100))
    response = await stack.api.http.get(f"/api/wallet/{npub}/transactions")
    assert '"secret"' not in response.text
    assert response.json()["pagination"]["total"] >= 2


async def test_proof_status_reports_ys_not_secrets(stack, npub):
    await stack.api.fund(npub, 300)
    response = await stack.api.call("GET", f"/api/wallet/{npub}/proofs/status")
    body = response.json()
    assert response.status_code == 200
    assert body["consistent"] is True
    assert body["unspentCount"] == len(f"{300:b}".replace("0", ""))
    assert "secret" not in response.text


async def test_proof_status_rejects_secrets_as_query(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.http.get(f"/api/wallet/{npub}/proofs/status", params={"proofs": '["abc"]'})
    assert response.status_code == 400


async def test_uppercase_npub_reaches_the_same_wallet(stack, npub):
    await stack.api.fund(npub, 100)
    response = await stack.api.create(npub.upper())
    assert response.json()["message"] == "Wallet already exists"
    assert (await stack.api.balance(npub.upper()))["balance"] == 100


async def test_unknown_transaction_type_is_400(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.http.get(f"/api/wallet/{npub}/transactions", params={"transaction_type": "foo"})
    assert response.status_code == 400
    assert response.json()["details"][0].startswith("transaction_type")


async def test_body_without_content_type_names_the_header(stack, npub):
    response = await stack.api.http.post("/api/wallet/create", content=b'{"npub": "x"}')
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["message"]


async def test_invoice_paid_by_another_wallet_is_409(stack, npub):
    other = make_npub()
    await stack.api.fund(npub, 500)
    await stack.api.fund(other, 500)
    invoice = make_invoice(100)
    assert (await stack.api.melt(other, invoice)).status_code == 200
    response = await stack.api.melt(npub, invoice)
    assert response.status_code == 409
    assert response.json()["code"] == "INVOICE_ALREADY_PAID"
    assert response.json()["fundsStatus"] == "untouched"


async def test_openapi_documents_melt_errors(stack):
    melt = (await stack.api.call("GET", "/openapi.json")).json()["paths"]["/api/wallet/{npub}/melt"]["post"]
    for status in ("202", "400", "402", "404", "409", "502", "503", "504"):
        assert status in melt["responses"], status


async def test_openapi_has_no_422(stack):
    paths = (await stack.api.call("GET", "/openapi.json")).json()["paths"]
    statuses = {status for path in paths.values() for op in path.values() for status in op["responses"]}
    assert "422" not in statuses


async def test_transactions_skip_beyond_bound_is_400(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.http.get(f"/api/wallet/{npub}/transactions", params={"skip": 10**20})
    assert response.status_code == 400
    assert response.json()["details"][0].startswith("skip")


async def test_cleanup_max_age_beyond_bound_is_400(stack, npub):
    await stack.api.create(npub)
    response = await stack.api.call("POST", f"/api/wallet/{npub}/cleanup", {"dryRun": True, "maxAge": 10**20})
    assert response.status_code == 400
    assert response.json()["details"][0].startswith("maxAge")
