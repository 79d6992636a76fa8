"""The daily report: volume, success rates, errors and their trend, and durations, from the database.

Durations come from the operations journal and the audit log, so they cover what the database
records: a melt's total runs from its reservation (`created_at`, after the mint quoted the
invoice) to `completed_at`. The journal splits a melt at the swap, if one happened:

    swap     reservation to the settled swap (pre-flight check and the swap)
    payment  settled swap, or reservation when no swap was needed, to completion
             (the mint's melt call and the settlement transaction)

The finer stages (pre-flight, selection, mint, db_update) exist only in the
`melt_stage_duration_seconds` histogram of the running service.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.ops.alerts import stuck_counts
from nctool.store import operations as op_store
from nctool.store.tables import audit_log, operations, utcnow

# Failures the caller causes (not enough funds) are listed but left out of the success rate.
CALLER_ERROR_CODES = frozenset({"INSUFFICIENT_BALANCE"})
PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Return the nearest-rank percentile (0 < pct <= 100) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_durations(milliseconds: Sequence[float]) -> dict[str, Any]:
    """Return count, p50, p95, p99 and max of durations in milliseconds."""
    summary: dict[str, Any] = {"count": len(milliseconds)}
    for pct in PERCENTILES:
        value = percentile(milliseconds, pct)
        summary[f"p{pct}Ms"] = round(value, 1) if value is not None else None
    summary["maxMs"] = round(max(milliseconds), 1) if milliseconds else None
    return summary


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the start and end of the UTC day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def default_report_day() -> date:
    """Return yesterday in UTC, the last full day."""
    return (utcnow() - timedelta(days=1)).date()


async def _volume(conn: AsyncConnection, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    query = (
        select(
            operations.c.kind,
            operations.c.state,
            func.count(),
            func.coalesce(func.sum(operations.c.amount), 0),
            func.coalesce(func.sum(operations.c.fees_paid), 0),
        )
        .where(operations.c.created_at >= start, operations.c.created_at < end)
        .group_by(operations.c.kind, operations.c.state)
    )
    volume: dict[str, dict[str, Any]] = {}
    for kind, state, count, amount, fees in (await conn.execute(query)).all():
        entry = volume.setdefault(
            kind, {"operations": 0, "completed": 0, "failed": 0, "expired": 0, "open": 0, "amount": 0, "fees": 0}
        )
        bucket = state if state in op_store.FINAL_STATES else "open"
        entry[bucket] += int(count)
        entry["operations"] += int(count)
        if state == "completed":
            entry["amount"] += int(amount)
            entry["fees"] += int(fees)
    return volume


async def _errors(conn: AsyncConnection, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    query = (
        select(operations.c.kind, operations.c.error_code, func.count())
        .where(
            operations.c.created_at >= start,
            operations.c.created_at < end,
            operations.c.state == "failed",
        )
        .group_by(operations.c.kind, operations.c.error_code)
    )
    return {(str(kind), str(code or "UNKNOWN")): int(n) for kind, code, n in (await conn.execute(query)).all()}


async def _failed_times(conn: AsyncConnection, start: datetime, end: datetime) -> list[datetime]:
    query = select(operations.c.created_at).where(
        operations.c.created_at >= start, operations.c.created_at < end, operations.c.state == "failed"
    )
    return [row[0] for row in (await conn.execute(query)).all()]


def _success_rates(volume: dict[str, dict[str, Any]], errors: dict[tuple[str, str], int]) -> dict[str, Any]:
    rates: dict[str, Any] = {}
    for kind, entry in volume.items():
        caller = sum(n for (k, code), n in errors.items() if k == kind and code in CALLER_ERROR_CODES)
        finished = entry["completed"] + entry["failed"] - caller
        rates[kind] = {
            "finished": finished,
            "completed": entry["completed"],
            "failed": entry["failed"] - caller,
            "callerErrors": caller,
            "successRate": round(100.0 * entry["completed"] / finished, 2) if finished else None,
        }
    return rates


def _error_summary(
    today: dict[tuple[str, str], int], yesterday: dict[tuple[str, str], int], failed_times: list[datetime]
) -> dict[str, Any]:
    by_code: list[dict[str, Any]] = [
        {
            "kind": kind,
            "code": code,
            "count": today.get((kind, code), 0),
            "previousDay": yesterday.get((kind, code), 0),
            "change": today.get((kind, code), 0) - yesterday.get((kind, code), 0),
        }
        for kind, code in sorted(set(today) | set(yesterday))
    ]
    by_code.sort(key=lambda e: (-e["count"], e["kind"], e["code"]))
    hourly = [0] * 24
    for moment in failed_times:
        hourly[moment.hour] += 1
    total, previous = sum(today.values()), sum(yesterday.values())
    trend = "flat"
    if total > previous:
        trend = "up"
    elif total < previous:
        trend = "down"
    return {
        "total": total,
        "previousDay": previous,
        "trend": trend,
        "byCode": by_code,
        "byHour": hourly,
    }


async def _melt_durations(conn: AsyncConnection, start: datetime, end: datetime) -> dict[str, Any]:
    swap_settled = (
        select(audit_log.c.operation_id, func.min(audit_log.c.at).label("swap_at"))
        .where(audit_log.c.action == "melt_swap_settled")
        .group_by(audit_log.c.operation_id)
        .subquery()
    )
    query = (
        select(operations.c.created_at, operations.c.completed_at, swap_settled.c.swap_at)
        .select_from(operations.outerjoin(swap_settled, swap_settled.c.operation_id == operations.c.id))
        .where(
            and_(
                operations.c.kind == "melt",
                operations.c.state == "completed",
                operations.c.created_at >= start,
                operations.c.created_at < end,
            )
        )
    )
    stages: dict[str, list[float]] = defaultdict(list)
    for created, completed, swap_at in (await conn.execute(query)).all():
        if completed is None:
            continue
        stages["total"].append((completed - created).total_seconds() * 1000)
        if swap_at is not None:
            stages["swap"].append((swap_at - created).total_seconds() * 1000)
            stages["payment"].append((completed - swap_at).total_seconds() * 1000)
        else:
            stages["payment"].append((completed - created).total_seconds() * 1000)
    return {stage: summarize_durations(stages.get(stage, [])) for stage in ("total", "swap", "payment")}


async def _audit_actions(conn: AsyncConnection, start: datetime, end: datetime) -> dict[str, int]:
    query = (
        select(audit_log.c.action, func.count())
        .where(audit_log.c.at >= start, audit_log.c.at < end)
        .group_by(audit_log.c.action)
    )
    return {str(action): int(n) for action, n in (await conn.execute(query)).all()}


async def daily_report(conn: AsyncConnection, day: date, stuck_after: timedelta) -> dict[str, Any]:
    """Build the report of one UTC day from the operations journal and the audit log.

    Open and stuck operations are counted at the time of the call, not for `day`.
    """
    start, end = day_bounds(day)
    volume = await _volume(conn, start, end)
    errors = await _errors(conn, start, end)
    previous = await _errors(conn, start - timedelta(days=1), start)
    open_now = await conn.execute(
        select(operations.c.kind, func.count())
        .where(operations.c.state.not_in(list(op_store.FINAL_STATES)))
        .group_by(operations.c.kind)
    )
    return {
        "date": day.isoformat(),
        "generatedAt": utcnow().isoformat(),
        "volume": volume,
        "successRates": _success_rates(volume, errors),
        "errors": _error_summary(errors, previous, await _failed_times(conn, start, end)),
        "meltDurations": await _melt_durations(conn, start, end),
        "auditActions": await _audit_actions(conn, start, end),
        "openOperations": {str(kind): int(n) for kind, n in open_now.all()},
        "stuckOperations": await stuck_counts(conn, stuck_after),
    }


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def _volume_section(report: dict[str, Any]) -> list[str]:
    lines = ["## Volume and success rates", ""]
    lines.append(
        "| kind | operations | completed | failed | expired | open | amount (sat) | fees (sat) | success rate |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, entry in sorted(report["volume"].items()):
        rate = report["successRates"][kind]["successRate"]
        shown_rate = "–" if rate is None else f"{rate} %"
        lines.append(
            f"| {kind} | {entry['operations']} | {entry['completed']} | {entry['failed']} | {entry['expired']} "
            f"| {entry['open']} | {entry['amount']} | {entry['fees']} | {shown_rate} |"
        )
    if not report["volume"]:
        lines.append("| (no operations) | 0 | 0 | 0 | 0 | 0 | 0 | 0 | – |")
    return lines


def _errors_section(report: dict[str, Any]) -> list[str]:
    errors = report["errors"]
    lines = ["## Errors", ""]
    lines.append(
        f"{errors['total']} failed operations ({errors['previousDay']} the day before, trend {errors['trend']})."
    )
    if errors["byCode"]:
        lines += ["", "| kind | code | count | day before | change |", "| --- | --- | ---: | ---: | ---: |"]
        for e in errors["byCode"]:
            lines.append(f"| {e['kind']} | {e['code']} | {e['count']} | {e['previousDay']} | {e['change']:+d} |")
    lines += ["", "Failures by hour (UTC): " + " ".join(str(n) for n in errors["byHour"])]
    return lines


def _durations_section(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Melt durations (ms)",
        "",
        "| stage | count | p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage, summary in report["meltDurations"].items():
        lines.append(
            f"| {stage} | {summary['count']} | {_cell(summary['p50Ms'])} | {_cell(summary['p95Ms'])} "
            f"| {_cell(summary['p99Ms'])} | {_cell(summary['maxMs'])} |"
        )
    return lines


def _audit_section(report: dict[str, Any]) -> list[str]:
    lines = ["## Audit log", ""]
    for action, count in sorted(report["auditActions"].items()):
        lines.append(f"- {action}: {count}")
    if not report["auditActions"]:
        lines.append("- (no entries)")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown for a terminal, a mail or a wiki page."""
    lines = [f"# nctool daily report, {report['date']} (UTC)", "", f"Generated {report['generatedAt']}."]
    for section in (_volume_section, _errors_section, _durations_section, _audit_section):
        lines += ["", *section(report)]
    lines += ["", "## Open now", ""]
    lines.append(
        f"Open operations: {report['openOperations'] or 'none'}; stuck: {report['stuckOperations'] or 'none'}."
    )
    return "\n".join(lines) + "\n"
