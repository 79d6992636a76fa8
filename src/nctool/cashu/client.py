"""Async HTTP client for one Cashu mint (NUT-01..09), the only I/O seam to the mint.

Every failure leaves this module as a `MintError` subclass that records whether the request may
have taken effect (see `nctool.cashu.errors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from nctool.cashu.errors import (
    MintAmbiguousError,
    MintError,
    MintTimeoutError,
    MintUnreachableError,
    classify_error_response,
)
from nctool.cashu.models import DLEQ, BlindedMessage, BlindSignature, Proof, ProofState

# Called after each request with (endpoint label, outcome, seconds); metrics hook in here.
RequestObserver = Callable[[str, str, float], None]


class MintWait:
    """Wall time in seconds during which at least one mint request of one use case was in flight.

    Concurrent requests count once, so use-case time minus `seconds` is the time spent in nctool.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._in_flight = 0
        self._since = 0.0

    def begin(self) -> None:
        if self._in_flight == 0:
            self._since = time.perf_counter()
        self._in_flight += 1

    def end(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self.seconds += time.perf_counter() - self._since


# Tasks copy the context, so requests started by a use case's child tasks add to its MintWait.
_MINT_WAIT: ContextVar[MintWait | None] = ContextVar("mint_wait", default=None)


@contextmanager
def measure_mint_wait() -> Iterator[MintWait]:
    """Measure the mint wait of the requests made in this block, including those of tasks it starts."""
    wait = MintWait()
    token = _MINT_WAIT.set(wait)
    try:
        yield wait
    finally:
        _MINT_WAIT.reset(token)


@dataclass(frozen=True)
class Keyset:
    """A mint keyset (NUT-02) with its public keys per amount (NUT-01) once loaded."""

    id: str
    unit: str
    active: bool
    input_fee_ppk: int = 0
    keys: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MintQuote:
    """NUT-04 bolt11 mint quote."""

    quote: str
    request: str
    state: str
    expiry: int | None
    amount: int | None = None

    @property
    def is_paid(self) -> bool:
        return self.state == "PAID"

    @property
    def is_issued(self) -> bool:
        return self.state == "ISSUED"


@dataclass(frozen=True)
class MeltQuote:
    """NUT-05 bolt11 melt quote, also the response of the melt itself (with NUT-08 change)."""

    quote: str
    amount: int
    fee_reserve: int
    state: str
    expiry: int | None = None
    payment_preimage: str | None = None
    change: list[BlindSignature] = field(default_factory=list)


@dataclass(frozen=True)
class ProofStateEntry:
    """One NUT-07 checkstate result."""

    Y: str
    state: ProofState
    witness: str | None = None


def _parse_dleq(raw: Any) -> DLEQ | None:
    if not isinstance(raw, dict):
        return None
    return DLEQ(e=str(raw["e"]), s=str(raw["s"]), r=raw.get("r"))


def _parse_signatures(raw: Any) -> list[BlindSignature]:
    return [
        BlindSignature(id=str(s["id"]), amount=int(s["amount"]), C_=str(s["C_"]), dleq=_parse_dleq(s.get("dleq")))
        for s in (raw or [])
    ]


def _quote_state(body: dict[str, Any]) -> str:
    # Mints before NUT-04/05 "state" sent only a boolean "paid".
    if body.get("state"):
        return str(body["state"]).upper()
    return "PAID" if body.get("paid") else "UNPAID"


def _parse_melt_quote(body: dict[str, Any]) -> MeltQuote:
    return MeltQuote(
        quote=str(body["quote"]),
        amount=int(body["amount"]),
        fee_reserve=int(body.get("fee_reserve") or 0),
        state=_quote_state(body),
        expiry=body.get("expiry"),
        payment_preimage=body.get("payment_preimage"),
        change=_parse_signatures(body.get("change")),
    )


def _parse_mint_quote(body: dict[str, Any]) -> MintQuote:
    return MintQuote(
        quote=str(body["quote"]),
        request=str(body["request"]),
        state=_quote_state(body),
        expiry=body.get("expiry"),
        amount=body.get("amount"),
    )


class MintClient:
    """Talks to one mint. Create one per mint URL and close it on shutdown."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        observer: RequestObserver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        self._observer = observer
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport -------------------------------------------------------------------------

    async def _request(self, method: str, path: str, endpoint: str, body: Any = None) -> Any:
        started = time.perf_counter()
        outcome = "error"
        wait = _MINT_WAIT.get()
        if wait is not None:
            wait.begin()
        try:
            response = await self._send(method, path, endpoint, body)
            data = self._decode(response, endpoint)
            outcome = "success"
            return data
        except MintTimeoutError:
            outcome = "timeout"
            raise
        except MintUnreachableError:
            outcome = "unreachable"
            raise
        finally:
            if wait is not None:
                wait.end()
            if self._observer is not None:
                self._observer(endpoint, outcome, time.perf_counter() - started)

    async def _send(self, method: str, path: str, endpoint: str, body: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise MintTimeoutError(f"mint {endpoint} timed out: {exc!r}", endpoint=endpoint) from exc
        except httpx.TransportError as exc:
            raise MintUnreachableError(f"mint {endpoint} unreachable: {exc!r}", endpoint=endpoint) from exc

    @staticmethod
    def _decode(response: httpx.Response, endpoint: str) -> Any:
        try:
            data = response.json()
        except ValueError as exc:
            raise MintAmbiguousError(
                f"mint {endpoint} returned HTTP {response.status_code} with a body that is not JSON",
                endpoint=endpoint,
                status=response.status_code,
            ) from exc
        if response.is_success:
            return data
        code = data.get("code") if isinstance(data, dict) else None
        detail = str(data.get("detail", data)) if isinstance(data, dict) else str(data)
        raise classify_error_response(endpoint, response.status_code, code if isinstance(code, int) else None, detail)

    async def _call(self, method: str, path: str, endpoint: str, parse: Callable[[Any], Any], body: Any = None) -> Any:
        data = await self._request(method, path, endpoint, body)
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise MintAmbiguousError(
                f"mint {endpoint} returned a response nctool cannot parse: {exc!r}", endpoint=endpoint
            ) from exc

    # --- NUT-06 / 01 / 02 ------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/v1/info", "info", dict)
        return result

    async def keysets(self) -> list[Keyset]:
        def parse(data: Any) -> list[Keyset]:
            return [
                Keyset(
                    id=str(k["id"]),
                    unit=str(k["unit"]),
                    active=bool(k.get("active", True)),
                    input_fee_ppk=int(k.get("input_fee_ppk") or 0),
                )
                for k in data["keysets"]
            ]

        result: list[Keyset] = await self._call("GET", "/v1/keysets", "keysets", parse)
        return result

    async def keys(self, keyset_id: str | None = None) -> dict[str, dict[int, str]]:
        """Return public keys per keyset id: {keyset_id: {amount: pubkey hex}}."""
        path = f"/v1/keys/{keyset_id}" if keyset_id else "/v1/keys"

        def parse(data: Any) -> dict[str, dict[int, str]]:
            return {str(k["id"]): {int(a): str(p) for a, p in k["keys"].items()} for k in data["keysets"]}

        result: dict[str, dict[int, str]] = await self._call("GET", path, "keys", parse)
        return result

    # --- NUT-03 swap ------------------------------------------------------------------------

    async def swap(self, inputs: Sequence[Proof], outputs: Sequence[BlindedMessage]) -> list[BlindSignature]:
        body = {"inputs": [p.to_dict() for p in inputs], "outputs": [o.to_dict() for o in outputs]}
        result: list[BlindSignature] = await self._call(
            "POST", "/v1/swap", "swap", lambda d: _parse_signatures(d["signatures"]), body
        )
        return result

    # --- NUT-04 mint ------------------------------------------------------------------------

    async def create_mint_quote(self, amount: int, unit: str) -> MintQuote:
        body = {"amount": amount, "unit": unit}
        result: MintQuote = await self._call("POST", "/v1/mint/quote/bolt11", "mint_quote", _parse_mint_quote, body)
        return result

    async def get_mint_quote(self, quote_id: str) -> MintQuote:
        result: MintQuote = await self._call(
            "GET", f"/v1/mint/quote/bolt11/{quote_id}", "mint_quote_state", _parse_mint_quote
        )
        return result

    async def mint(self, quote_id: str, outputs: Sequence[BlindedMessage]) -> list[BlindSignature]:
        body = {"quote": quote_id, "outputs": [o.to_dict() for o in outputs]}
        result: list[BlindSignature] = await self._call(
            "POST", "/v1/mint/bolt11", "mint", lambda d: _parse_signatures(d["signatures"]), body
        )
        return result

    # --- NUT-05 / 08 melt -------------------------------------------------------------------

    async def create_melt_quote(self, invoice: str, unit: str) -> MeltQuote:
        body = {"request": invoice, "unit": unit}
        result: MeltQuote = await self._call("POST", "/v1/melt/quote/bolt11", "melt_quote", _parse_melt_quote, body)
        return result

    async def get_melt_quote(self, quote_id: str) -> MeltQuote:
        result: MeltQuote = await self._call(
            "GET", f"/v1/melt/quote/bolt11/{quote_id}", "melt_quote_state", _parse_melt_quote
        )
        return result

    async def melt(self, quote_id: str, inputs: Sequence[Proof], outputs: Sequence[BlindedMessage]) -> MeltQuote:
        body = {
            "quote": quote_id,
            "inputs": [p.to_dict() for p in inputs],
            "outputs": [o.to_dict() for o in outputs],
        }
        result: MeltQuote = await self._call("POST", "/v1/melt/bolt11", "melt", _parse_melt_quote, body)
        return result

    # --- NUT-07 / 09 ------------------------------------------------------------------------

    async def check_state(self, ys: Sequence[str]) -> list[ProofStateEntry]:
        def parse(data: Any) -> list[ProofStateEntry]:
            return [
                ProofStateEntry(Y=str(s["Y"]), state=ProofState(str(s["state"]).upper()), witness=s.get("witness"))
                for s in data["states"]
            ]

        result: list[ProofStateEntry] = await self._call(
            "POST", "/v1/checkstate", "checkstate", parse, {"Ys": list(ys)}
        )
        return result

    async def restore(self, outputs: Sequence[BlindedMessage]) -> list[tuple[BlindedMessage, BlindSignature]]:
        """Return the signatures the mint already issued for any of these outputs (NUT-09)."""

        def parse(data: Any) -> list[tuple[BlindedMessage, BlindSignature]]:
            outs = [BlindedMessage(id=str(o["id"]), amount=int(o["amount"]), B_=str(o["B_"])) for o in data["outputs"]]
            sigs = _parse_signatures(data.get("signatures", data.get("promises")))
            return list(zip(outs, sigs, strict=True))

        body = {"outputs": [o.to_dict() for o in outputs]}
        result: list[tuple[BlindedMessage, BlindSignature]] = await self._call(
            "POST", "/v1/restore", "restore", parse, body
        )
        return result


__all__ = [
    "Keyset",
    "MeltQuote",
    "MintClient",
    "MintError",
    "MintQuote",
    "MintWait",
    "ProofStateEntry",
    "measure_mint_wait",
]
