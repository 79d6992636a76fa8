"""Mint connectivity: the runbook's connectivity test, the health probe and a background monitor.

The connectivity test logs one `Mint connectivity test` line whose `tests.<name>.duration`
fields are milliseconds, as the runbook's log queries read them:

    mintInfo      GET /v1/info over plain HTTP, as `curl` would
    cashuLibrary  nctool's own mint client loading keysets and keys, the first step of every operation
    checkstate    POST /v1/checkstate (NUT-07) for the Y of a random secret no proof has
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from nctool.cashu.client import MintClient
from nctool.cashu.crypto import proof_y
from nctool.cashu.errors import MintError
from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store.tables import utcnow
from nctool.wallet.services import Services

log = get_logger()

PROBE_TIMEOUT_SECONDS = 5.0
MONITOR_INTERVAL_SECONDS = 15.0
# Above this the mint counts as slow: the runbook's target for mint response time is 2 s.
SLOW_RESPONSE_MS = 2000.0


@dataclass(frozen=True)
class MintProbe:
    """Outcome of one GET /v1/info."""

    ok: bool
    latency_ms: float
    error: str | None = None
    name: str | None = None
    version: str | None = None


@dataclass
class ConnectivityReport:
    """Outcome of the connectivity test: one entry per test, durations in milliseconds."""

    mint_url: str
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    timestamp: str = field(default_factory=lambda: utcnow().isoformat())

    @property
    def ok(self) -> bool:
        return all(test["ok"] for test in self.tests.values())

    @property
    def total_duration(self) -> float:
        return round(sum(float(test["duration"]) for test in self.tests.values()), 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mintUrl": self.mint_url,
            "ok": self.ok,
            "timestamp": self.timestamp,
            "totalDuration": self.total_duration,
            "tests": self.tests,
        }


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MintError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{exc.__class__.__name__}: {exc}"


async def probe_mint(svc: Services, timeout: float = PROBE_TIMEOUT_SECONDS) -> MintProbe:
    """Request /v1/info through the service's mint client and return the outcome.

    A mint failure (`MintError`) or a timeout is returned as a failed probe, not raised.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            info = await svc.mint.info()
    except TimeoutError as exc:
        # The client's own timeout may be longer; this cut-off counts as unreachable too.
        metrics.MINT_UP.set(0)
        return MintProbe(ok=False, latency_ms=_elapsed_ms(started), error=_describe(exc))
    except MintError as exc:
        return MintProbe(ok=False, latency_ms=_elapsed_ms(started), error=_describe(exc))
    name, version = info.get("name"), info.get("version")
    return MintProbe(
        ok=True,
        latency_ms=_elapsed_ms(started),
        name=str(name) if name is not None else None,
        version=str(version) if version is not None else None,
    )


async def _timed(endpoints: list[str], timeout: float, work: Any) -> dict[str, Any]:
    started = time.perf_counter()
    entry: dict[str, Any] = {"endpoints": endpoints}
    try:
        async with asyncio.timeout(timeout):
            entry.update(await work())
        entry["ok"] = True
    except (MintError, httpx.HTTPError, TimeoutError, ValueError) as exc:
        entry["ok"] = False
        entry["error"] = _describe(exc)
    entry["duration"] = _elapsed_ms(started)
    return entry


async def connectivity_test(
    mint_url: str, *, timeout: float = PROBE_TIMEOUT_SECONDS, client: MintClient | None = None
) -> ConnectivityReport:
    """Run each connectivity test against the mint, log the `Mint connectivity test` line and return it.

    With `client` the tests reuse it (and its request metrics); otherwise a client is opened and closed here.
    """
    own_client = client is None
    mint = client or MintClient(mint_url, timeout=timeout, observer=metrics.observe_mint_request)
    report = ConnectivityReport(mint_url=mint_url)

    async def mint_info() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=mint_url, timeout=timeout) as http:
            response = await http.get("/v1/info")
        response.raise_for_status()
        body = response.json()
        return {"status": response.status_code, "name": body.get("name"), "version": body.get("version")}

    async def cashu_library() -> dict[str, Any]:
        keysets = await mint.keysets()
        keys = await mint.keys()
        return {"keysets": len(keysets), "activeKeysets": sum(1 for k in keysets if k.active), "keys": len(keys)}

    async def checkstate() -> dict[str, Any]:
        states = await mint.check_state([proof_y(secrets.token_hex(32))])
        return {"state": states[0].state.value if states else None}

    try:
        report.tests["mintInfo"] = await _timed(["GET /v1/info"], timeout, mint_info)
        report.tests["cashuLibrary"] = await _timed(["GET /v1/keysets", "GET /v1/keys"], timeout, cashu_library)
        report.tests["checkstate"] = await _timed(["POST /v1/checkstate"], timeout, checkstate)
    finally:
        if own_client:
            await mint.aclose()
    line = log.info if report.ok else log.warning
    line("Mint connectivity test", **report.to_dict())
    return report


async def monitor_mint(svc: Services, stop: asyncio.Event, interval: float = MONITOR_INTERVAL_SECONDS) -> None:
    """Probe the mint every `interval` seconds, so `mint_up` stays current without traffic.

    Logs only changes of reachability, not every probe.
    """
    reachable: bool | None = None
    while not stop.is_set():
        probe = await probe_mint(svc, timeout=min(PROBE_TIMEOUT_SECONDS, interval))
        if probe.ok is not reachable:
            if probe.ok:
                log.info("Mint reachable", mintUrl=svc.settings.mint_url, latencyMs=probe.latency_ms)
            else:
                log.warning("Mint unreachable", mintUrl=svc.settings.mint_url, error=probe.error)
            reachable = probe.ok
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
