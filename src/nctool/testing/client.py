"""A small async client for the nctool API, used by tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from nctool.testing.credentials import key_for


class ApiClient:
    """Calls the API with an admin key: `api_key`, else the key registered for `base_url`.

    `anonymous=True` sends no credentials at all.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, anonymous: bool = False):
        key = None if anonymous else (api_key or key_for(base_url))
        headers = {"Authorization": f"Bearer {key}"} if key else None
        # A short keep-alive avoids reusing a connection the server is closing at the same moment.
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=60, limits=httpx.Limits(keepalive_expiry=2), headers=headers
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.request(method, path, json=body, headers=headers)

    async def create(self, npub: str) -> httpx.Response:
        return await self.call("POST", "/api/wallet/create", {"npub": npub})

    async def balance(self, npub: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/wallet/{npub}/balance")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def melt(self, npub: str, invoice: str, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else None
        return await self.call("POST", f"/api/wallet/{npub}/melt", {"invoice": invoice}, headers)

    async def history(self, npub: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.http.get(f"/api/wallet/{npub}/transactions", params=params)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["transactions"]
        return entries

    async def fund(self, npub: str, amount: int, timeout: float = 30.0) -> dict[str, Any]:
        """Create the wallet, request a mint quote (FakeWallet pays it at once) and wait for the credit."""
        (await self.create(npub)).raise_for_status()
        quote = await self.call("POST", f"/api/wallet/{npub}/mint", {"amount": amount})
        quote.raise_for_status()
        body: dict[str, Any] = quote.json()
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            done = await self.call(
                "POST",
                f"/api/wallet/{npub}/mint/complete",
                {"quoteId": body["quote"], "amount": amount, "transactionId": body["transactionId"]},
            )
            if done.status_code == 200:
                return body
            await asyncio.sleep(0.2)
        raise TimeoutError(f"mint quote {body['quote']} was not credited within {timeout} s")

    async def wait_for(self, npub: str, transaction_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll the history until the entry reaches `status`."""
        deadline = asyncio.get_running_loop().time() + timeout
        entry: dict[str, Any] = {}
        while asyncio.get_running_loop().time() < deadline:
            for entry in await self.history(npub, limit=100):
                if entry["transaction_id"] == transaction_id and entry["status"] == status:
                    return entry
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{transaction_id} did not reach {status} within {timeout} s")
