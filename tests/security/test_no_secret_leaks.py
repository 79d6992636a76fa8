"""After a full scenario, no secret appears in any API response or log line.

Secrets: proof secrets, blinding factors and secrets of journaled outputs, the wallet seed and
P2PK key, the secret key file, API keys and the NIP-98 signer's private key.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from coincurve import PrivateKey
from sqlalchemy import select

from nctool.nostr.nip19 import encode_npub
from nctool.nostr.nip98 import authorization_header, sign_event
from nctool.store.tables import operations, proofs, wallets
from nctool.testing.lightning import make_invoice


async def scenario_responses(stack, npub: str, signer: PrivateKey) -> list[str]:  # type: ignore[no-untyped-def]
    """Drive every wallet and system endpoint once; return each response body as text."""
    api = stack.api
    await api.fund(npub, 1000)
    calls = [
        ("POST", "/api/wallet/create", {"npub": npub}),
        ("POST", f"/api/wallet/{npub}/melt", {"invoice": make_invoice(300)}),
        ("POST", f"/api/wallet/{npub}/melt", {"invoice": make_invoice(50_000)}),
        ("POST", f"/api/wallet/{npub}/mint", {"amount": 21}),
        ("GET", f"/api/wallet/{npub}/balance", None),
        ("GET", f"/api/wallet/{npub}/info", None),
        ("GET", f"/api/wallet/{npub}/transactions", None),
        ("GET", f"/api/wallet/{npub}/proofs/status", None),
        ("GET", f"/api/wallet/{npub}/receipts/check", None),
        ("GET", f"/api/wallet/{npub}/recovery/stats", None),
        ("POST", f"/api/wallet/{npub}/cleanup", {"dryRun": True, "maxAge": 0}),
        ("GET", "/api/wallet/system/diagnostics", None),
        ("GET", "/api/wallet/system/health", None),
        ("POST", "/api/wallet/system/check-alerts", None),
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
    ]
    texts = [(await api.call(method, path, body)).text for method, path, body in calls]
    texts += await send_receive_responses(stack, npub)
    url = f"{stack.service.url}/api/wallet/{npub}/balance"
    event = sign_event(signer.secret, url=url, method="GET", created_at=int(time.time()))
    async with httpx.AsyncClient() as http:
        texts.append((await http.get(url, headers={"Authorization": authorization_header(event)})).text)
        texts.append((await http.get(url, headers={"Authorization": authorization_header(event)})).text)
    return texts


async def send_receive_responses(stack, npub: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Send a token and receive it back, send a locked token and reclaim it; return every response.

    The tokens in the send responses carry proof secrets, because the caller requested them. The
    tokens are encoded (cashuB is CBOR in base64), so no stored secret appears in them as plain text.
    """
    api = stack.api
    info = (await api.call("GET", f"/api/wallet/{npub}/info")).json()
    p2pk_pub = info["walletInfo"]["walletDetails"]["p2pkPub"]
    sent = await api.call("POST", f"/api/wallet/{npub}/send", {"amount": 40})
    received = await api.call("POST", f"/api/wallet/{npub}/receive", {"encodedToken": sent.json()["encodedToken"]})
    locked = await api.call("POST", f"/api/wallet/{npub}/send", {"amount": 20, "recipientPubkey": p2pk_pub})
    transaction_id = locked.json()["transactionId"]
    reclaimed = await api.call("POST", f"/api/wallet/{npub}/send/{transaction_id}/reclaim")
    responses = [sent, received, locked, reclaimed]
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    return [r.text for r in responses]


async def stored_secrets(stack, npub: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Read, through the store, every secret of the wallet: proof secrets, outputs, the seed."""
    found: set[str] = set()
    async with stack.svc.db.read() as conn:
        (wallet_id, seed, p2pk_key) = (
            await conn.execute(select(wallets.c.id, wallets.c.seed, wallets.c.p2pk_key).where(wallets.c.npub == npub))
        ).one()
        found.update((seed, p2pk_key))
        found.update(r[0] for r in (await conn.execute(select(proofs.c.secret).where(proofs.c.wallet_id == wallet_id))))
        for (outputs,) in await conn.execute(select(operations.c.outputs).where(operations.c.wallet_id == wallet_id)):
            found.update(o["secret"] for o in outputs)
            found.update(o["r"] for o in outputs)
    return found


def key_file_lines() -> set[str]:
    text = Path(os.environ["NCTOOL_SECRET_KEY_FILE"]).read_text()
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


async def test_no_secret_in_responses_or_logs(stack, log_file):
    signer = PrivateKey()
    npub = encode_npub(signer.public_key.format(compressed=True)[1:])
    responses = await scenario_responses(stack, npub, signer)
    secrets = await stored_secrets(stack, npub)
    secrets |= key_file_lines() | {stack.service.api_key, signer.secret.hex()}
    logs = log_file.read_text()

    assert len(secrets) > 10
    leaked_in_responses = sorted(s[:8] for s in secrets if any(s in text for text in responses))
    leaked_in_logs = sorted(s[:8] for s in secrets if s in logs)
    assert leaked_in_responses == []
    assert leaked_in_logs == []


async def test_open_endpoints_show_no_wallet(stack, npub):
    await stack.api.fund(npub, 300)
    assert (await stack.api.melt(npub, make_invoice(100))).status_code == 200
    async with httpx.AsyncClient(base_url=stack.service.url) as anonymous:
        texts = {
            path: (await anonymous.get(path)).text for path in ("/health", "/api/wallet/system/health", "/metrics")
        }
    assert [path for path, text in texts.items() if npub in text] == []
    assert all(texts.values())
