"""The health report and the detailed diagnostics behind the system endpoints.

Health status is the worst status of its checks:

    check              warning                                     critical
    database           -                                           no round trip
    mint               /v1/info slower than 2 s                    /v1/info failed or timed out
    breaker            -                                           melts halted
    stuckOperations    any operation open past NCTOOL_STUCK_AFTER  -
    meltFailureRate    over 5 % of the last hour's melts failed     over 50 % failed

A check that cannot read the database reports warning.

The failure rate needs at least MIN_FINISHED_MELTS finished melts in the window and leaves
out failures the caller caused (insufficient balance).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.process_collector import PROCESS_COLLECTOR
from sqlalchemy import func, select

import nctool
from nctool.errors import NctoolError
from nctool.observability import metrics
from nctool.ops import breaker
from nctool.ops.alerts import stuck_after, stuck_counts
from nctool.ops.database_stats import database_statistics
from nctool.ops.mintcheck import SLOW_RESPONSE_MS, connectivity_test, probe_mint
from nctool.ops.report import CALLER_ERROR_CODES, summarize_durations
from nctool.store import operations as op_store
from nctool.store.tables import operations, utcnow
from nctool.wallet.services import Services

STATUS_ORDER = ("healthy", "warning", "critical")
FAILURE_RATE_WINDOW = timedelta(hours=1)
MIN_FINISHED_MELTS = 5
WARNING_FAILURE_RATIO = 0.05
CRITICAL_FAILURE_RATIO = 0.5
RECENT_ERRORS_WINDOW = timedelta(hours=24)
_IMPORTED_AT = time.time()


@dataclass
class Check:
    """One health check: its status and the facts behind it."""

    status: str = "healthy"
    reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body = {"status": self.status, **self.facts}
        if self.reason:
            body["reason"] = self.reason
        return body


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_ORDER.index, default="healthy")


def _process_sample(name: str) -> float | None:
    for family in PROCESS_COLLECTOR.collect():
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


def uptime_seconds() -> float:
    """Return seconds since this process started (from /proc where available)."""
    started = _process_sample("process_start_time_seconds") or _IMPORTED_AT
    return max(0.0, time.time() - started)


def melt_runtime() -> dict[str, Any]:
    """Return this process's melt counters since it started, as the runbook's health body shows them."""
    attempts = metrics.sample_sum(metrics.MELT_ATTEMPTS, "_total")
    successes = metrics.sample_sum(metrics.MELT_SUCCESS, "_total")
    failures = metrics.sample_sum(metrics.MELT_FAILURES, "_total")
    return {
        "attempts": int(attempts),
        "successes": int(successes),
        "failures": int(failures),
        "successRate": round(100.0 * successes / attempts, 2) if attempts else 100.0,
    }


async def _database_check(svc: Services) -> Check:
    try:
        latency = await svc.db.ping()
    except Exception as exc:  # any driver error means the database is out of reach
        return Check("critical", f"database unreachable: {exc.__class__.__name__}: {exc}", {"ok": False})
    return Check(facts={"ok": True, "latencyMs": round(latency * 1000, 2), "dialect": svc.db.dialect})


async def _mint_check(svc: Services) -> Check:
    probe = await probe_mint(svc)
    facts: dict[str, Any] = {"ok": probe.ok, "url": svc.settings.mint_url, "latencyMs": probe.latency_ms}
    if not probe.ok:
        return Check("critical", f"mint unreachable: {probe.error}", facts)
    if probe.latency_ms > SLOW_RESPONSE_MS:
        return Check("warning", f"mint answered /v1/info in {probe.latency_ms} ms (target 2000 ms)", facts)
    return Check(facts=facts)


async def _breaker_check(svc: Services) -> Check:
    reason = await breaker.halted_reason(svc)
    if reason is not None:
        return Check(
            "critical",
            f"melts are halted by the breaker ({reason}); fix the cause, then run `nctool ops resume-melts`",
            {"meltsHalted": True},
        )
    return Check(facts={"meltsHalted": False})


async def _stuck_check(svc: Services, after: timedelta) -> Check:
    async with svc.db.read() as conn:
        counts = await stuck_counts(conn, after)
    total = sum(counts.values())
    facts = {"count": total, "byKind": counts, "thresholdSeconds": int(after.total_seconds())}
    if total:
        return Check("warning", f"{total} operation(s) open for more than {after}; see check-alerts", facts)
    return Check(facts=facts)


async def _failure_rate_check(svc: Services) -> Check:
    since = utcnow() - FAILURE_RATE_WINDOW
    query = (
        select(operations.c.state, func.count())
        .where(
            operations.c.kind == "melt",
            operations.c.state.in_(["completed", "failed"]),
            operations.c.completed_at >= since,
            (operations.c.error_code.is_(None)) | (operations.c.error_code.not_in(list(CALLER_ERROR_CODES))),
        )
        .group_by(operations.c.state)
    )
    async with svc.db.read() as conn:
        counts = {str(state): int(n) for state, n in (await conn.execute(query)).all()}
    finished = counts.get("completed", 0) + counts.get("failed", 0)
    ratio = counts.get("failed", 0) / finished if finished else 0.0
    facts = {
        "windowSeconds": int(FAILURE_RATE_WINDOW.total_seconds()),
        "finished": finished,
        "failed": counts.get("failed", 0),
        "failureRate": round(100 * ratio, 2),
    }
    if finished < MIN_FINISHED_MELTS:
        return Check(facts=facts)
    if ratio > CRITICAL_FAILURE_RATIO:
        return Check("critical", f"{facts['failureRate']} % of the last hour's melts failed", facts)
    if ratio > WARNING_FAILURE_RATIO:
        return Check("warning", f"{facts['failureRate']} % of the last hour's melts failed", facts)
    return Check(facts=facts)


async def _guarded(check: Any, *args: Any) -> Check:
    """Run a database-backed check; report it unknown when the database fails."""
    try:
        result: Check = await check(*args)
    except NctoolError as exc:
        return Check("warning", f"check could not read the database: {exc.message}", {"unknown": True})
    return result


async def health_report(svc: Services) -> dict[str, Any]:
    """Build the health body: the runbook's fields plus one entry per check."""
    checks = {"database": await _database_check(svc)}
    checks["mint"] = await _mint_check(svc)
    if checks["database"].status != "critical":
        checks["breaker"] = await _guarded(_breaker_check, svc)
        checks["stuckOperations"] = await _guarded(_stuck_check, svc, stuck_after(svc))
        checks["meltFailureRate"] = await _guarded(_failure_rate_check, svc)
    status = _worst([c.status for c in checks.values()])
    return {
        "success": True,
        "health": {
            "status": status,
            "timestamp": utcnow().isoformat(),
            "uptime": round(uptime_seconds()),
            "version": nctool.__version__,
        },
        "runtime": {"melt": melt_runtime()},
        "checks": {name: check.to_dict() for name, check in checks.items()},
        "reasons": [check.reason for check in checks.values() if check.reason],
    }


# --- diagnostics -----------------------------------------------------------------------------


async def _database_diagnostics(svc: Services) -> dict[str, Any]:
    try:
        latency = await svc.db.ping()
        current = await svc.db.schema_is_current()
        statistics = await database_statistics(svc.db)
    except Exception as exc:  # any driver error means the database is out of reach
        return {"status": "error", "dialect": svc.db.dialect, "error": f"{exc.__class__.__name__}: {exc}"}
    return {
        "status": "ok",
        "dialect": svc.db.dialect,
        "latencyMs": round(latency * 1000, 2),
        "schemaCurrent": current,
        "poolUtilization": round(svc.db.pool_utilization(), 3),
        **statistics,
    }


async def recent_errors(svc: Services, window: timedelta = RECENT_ERRORS_WINDOW) -> dict[str, Any]:
    """Summarize operations that recorded an error code within `window`, by kind and code."""
    since = utcnow() - window
    query = (
        select(
            operations.c.kind,
            operations.c.error_code,
            func.count(),
            func.max(operations.c.updated_at),
        )
        .where(operations.c.error_code.is_not(None), operations.c.updated_at >= since)
        .group_by(operations.c.kind, operations.c.error_code)
        .order_by(func.count().desc())
    )
    async with svc.db.read() as conn:
        rows = (await conn.execute(query)).all()
        by_code = []
        for kind, code, count, last_seen in rows:
            latest = await conn.execute(
                select(operations.c.id, operations.c.error_message)
                .where(operations.c.kind == kind, operations.c.error_code == code)
                .order_by(operations.c.updated_at.desc())
                .limit(1)
            )
            operation_id, message = latest.one()
            by_code.append(
                {
                    "kind": kind,
                    "code": code,
                    "count": int(count),
                    "lastSeen": last_seen.isoformat() if isinstance(last_seen, datetime) else str(last_seen),
                    "lastTransactionId": operation_id,
                    "lastMessage": message,
                }
            )
    return {
        "windowSeconds": int(window.total_seconds()),
        "total": sum(e["count"] for e in by_code),
        "byCode": by_code,
    }


async def melt_performance(svc: Services, window: timedelta = RECENT_ERRORS_WINDOW) -> dict[str, Any]:
    """Percentiles of completed melts from the database, and of each stage from this process's histograms."""
    since = utcnow() - window
    query = select(operations.c.created_at, operations.c.completed_at).where(
        operations.c.kind == "melt", operations.c.state == "completed", operations.c.completed_at >= since
    )
    async with svc.db.read() as conn:
        durations = [
            (done - created).total_seconds() * 1000 for created, done in (await conn.execute(query)).all() if done
        ]
    return {
        "windowSeconds": int(window.total_seconds()),
        "meltsFromDatabase": summarize_durations(durations),
        "sinceStart": {
            "estimate": "interpolated within histogram buckets, as PromQL's histogram_quantile does",
            "meltOperation": _histogram_summary(metrics.MELT_DURATION),
            "stages": {
                stage: _histogram_summary(metrics.MELT_STAGE_DURATION, stage=stage) for stage in metrics.MELT_STAGES
            },
            "mintRequests": {
                endpoint: _histogram_summary(metrics.MINT_REQUEST_DURATION, endpoint=endpoint)
                for endpoint in metrics.MINT_ENDPOINTS
                if metrics.sample_sum(metrics.MINT_REQUEST_DURATION, "_count", endpoint=endpoint)
            },
        },
    }


def _histogram_summary(histogram: Any, **labels: str) -> dict[str, Any]:
    """Return count and p50/p95/p99 in ms, estimated from bucket edges as Prometheus would."""
    summary: dict[str, Any] = {"count": int(metrics.sample_sum(histogram, "_count", **labels))}
    for pct in (50, 95, 99):
        seconds = metrics.histogram_quantile(pct / 100, histogram, **labels)
        summary[f"p{pct}Ms"] = round(seconds * 1000, 1) if seconds is not None else None
    return summary


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_connections() -> dict[str, int] | None:
    """Count this process's TCP sockets by state, from /proc (Linux); None elsewhere."""
    if not Path("/proc/self/net/tcp").exists():
        return None
    mine = _socket_inodes()
    established = listening = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            columns = line.split()
            if len(columns) > 9 and columns[9] in mine:
                established += columns[3] == "01"
                listening += columns[3] == "0A"
    return {"established": established, "listening": listening, "sockets": len(mine)}


def _as_int(value: float | None) -> int | None:
    return int(value) if value is not None else None


def resource_usage() -> dict[str, Any]:
    """Return RSS, open files, TCP connections, CPU time and uptime of this process."""
    return {
        "pid": os.getpid(),
        "rssBytes": _as_int(_process_sample("process_resident_memory_bytes")),
        "openFiles": _as_int(_process_sample("process_open_fds")),
        "maxOpenFiles": _as_int(_process_sample("process_max_fds")),
        "connections": _tcp_connections(),
        "cpuSeconds": _process_sample("process_cpu_seconds_total"),
        "uptimeSeconds": round(uptime_seconds()),
    }


async def _operations_overview(svc: Services) -> dict[str, Any]:
    async with svc.db.read() as conn:
        open_rows = await conn.execute(
            select(operations.c.kind, operations.c.state, func.count())
            .where(op_store.is_open())
            .group_by(operations.c.kind, operations.c.state)
        )
        open_ops: dict[str, dict[str, int]] = {}
        for kind, state, count in open_rows.all():
            open_ops.setdefault(str(kind), {})[str(state)] = int(count)
        stuck = await stuck_counts(conn, stuck_after(svc))
    return {"open": open_ops, "stuck": stuck, "stuckThresholdSeconds": int(stuck_after(svc).total_seconds())}


async def diagnostics_report(svc: Services) -> dict[str, Any]:
    """Build the diagnostics body: database, mint, recent errors, performance, resources."""
    database = await _database_diagnostics(svc)
    mint = await connectivity_test(svc.settings.mint_url, client=svc.mint)
    body: dict[str, Any] = {
        "success": True,
        "timestamp": utcnow().isoformat(),
        "version": nctool.__version__,
        "database": database,
        "mint": mint.to_dict(),
        "runtime": {"melt": melt_runtime()},
        "resources": resource_usage(),
    }
    if database["status"] == "ok":
        reason = await breaker.halted_reason(svc)
        body["breaker"] = {"meltsHalted": reason is not None, "reason": reason}
        body["recentErrors"] = await recent_errors(svc)
        body["performance"] = await melt_performance(svc)
        body["operations"] = await _operations_overview(svc)
    return body
