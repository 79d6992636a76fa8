"""Stuck operations: detection for health, metrics and the check-alerts endpoint.

An operation is stuck when it is not final (completed, failed or expired) and was created
longer ago than the threshold, NCTOOL_STUCK_AFTER_SECONDS unless a caller passes another.
Its funds may be reserved, so an operator should see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.observability import metrics
from nctool.observability.logging import get_logger
from nctool.store import operations as op_store
from nctool.store.tables import operations, utcnow
from nctool.wallet.services import Services

log = get_logger()

# A stuck operation older than this raises the alert's severity from HIGH to CRITICAL.
CRITICAL_STUCK_AGE = timedelta(days=1)
MAX_LISTED = 20


@dataclass(frozen=True)
class StuckOperation:
    id: str
    kind: str
    state: str
    npub: str
    amount: int
    created_at: datetime
    error_code: str | None

    def age(self, now: datetime) -> timedelta:
        return now - self.created_at

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "transactionId": self.id,
            "kind": self.kind,
            "state": self.state,
            "npub": self.npub,
            "amount": self.amount,
            "createdAt": self.created_at.isoformat(),
            "ageSeconds": round(self.age(now).total_seconds()),
            "errorCode": self.error_code,
        }


def stuck_after(svc: Services) -> timedelta:
    """Return the configured age after which an open operation counts as stuck."""
    return timedelta(seconds=svc.settings.stuck_after_seconds)


def _stuck_condition(now: datetime, after: timedelta) -> Any:
    return op_store.is_open() & (operations.c.created_at < now - after)


async def stuck_counts(conn: AsyncConnection, after: timedelta) -> dict[str, int]:
    """Return the number of stuck operations per kind."""
    query = select(operations.c.kind, func.count()).where(_stuck_condition(utcnow(), after)).group_by(operations.c.kind)
    return {str(kind): int(count) for kind, count in (await conn.execute(query)).all()}


async def stuck_operations(conn: AsyncConnection, after: timedelta, limit: int = MAX_LISTED) -> list[StuckOperation]:
    """Return the oldest stuck operations, at most `limit`."""
    query = (
        select(
            operations.c.id,
            operations.c.kind,
            operations.c.state,
            operations.c.npub,
            operations.c.amount,
            operations.c.created_at,
            operations.c.error_code,
        )
        .where(_stuck_condition(utcnow(), after))
        .order_by(operations.c.created_at)
        .limit(limit)
    )
    return [StuckOperation(*row) for row in (await conn.execute(query)).all()]


async def export_stuck_gauge(svc: Services) -> None:
    """Set `stuck_operations{kind}` from the database."""
    async with svc.db.read() as conn:
        counts = await stuck_counts(conn, stuck_after(svc))
    for kind in sorted(set(metrics.OPERATION_KINDS) | set(counts)):
        metrics.STUCK_OPERATIONS.labels(kind=kind).set(counts.get(kind, 0))


async def check_stuck_operations(svc: Services, after: timedelta) -> dict[str, Any]:
    """Find stuck operations and, when there are any, send the alert and return it.

    Returns `{success, alertSent, alert?}`. Sending the alert means logging one
    `Stuck operations alert` line, at WARNING for HIGH and ERROR for CRITICAL, for log-based
    alerting to pick up.
    """
    now = utcnow()
    async with svc.db.read() as conn:
        counts = await stuck_counts(conn, after)
        listed = await stuck_operations(conn, after)
    total = sum(counts.values())
    minutes = round(after.total_seconds() / 60)
    if total == 0:
        return {"success": True, "alertSent": False, "thresholdMinutes": minutes}
    oldest = listed[0].age(now) if listed else timedelta(0)
    severity = "CRITICAL" if oldest >= CRITICAL_STUCK_AGE else "HIGH"
    alert = {
        "type": "STUCK_OPERATIONS",
        "severity": severity,
        "message": (
            f"{total} operation(s) have not reached a final state within {minutes} minutes; "
            f"the oldest is {round(oldest.total_seconds() / 60)} minutes old"
        ),
        "count": total,
        "countByKind": counts,
        "timestamp": now.isoformat(),
        "action": (
            "Run `nctool ops recover --dry-run` to see how each would be resolved, then `nctool ops recover`; "
            "if the mint cannot answer, check it with `nctool ops mint-check`"
        ),
        "operations": [op.to_dict(now) for op in listed],
    }
    line = log.error if severity == "CRITICAL" else log.warning
    line(
        "Stuck operations alert",
        alertType="STUCK_OPERATIONS",
        severity=severity,
        count=total,
        countByKind=counts,
        thresholdMinutes=minutes,
        transactionIds=[op.id for op in listed],
    )
    return {"success": True, "alertSent": True, "thresholdMinutes": minutes, "alert": alert}
