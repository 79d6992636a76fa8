"""Maintenance: prune failed operations, archive old audit entries, report table statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, select, text

from nctool.observability.logging import get_logger
from nctool.store.tables import UTCDateTime, audit_log, audit_log_archive, metadata, operations, proofs, utcnow
from nctool.wallet.services import Services

log = get_logger()

Progress = Callable[[int, int], None]


@dataclass
class CleanupResult:
    matched: int
    deleted: int
    kept_with_fees: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "deleted": self.deleted,
            "keptWithFees": self.kept_with_fees,
            "dryRun": self.dry_run,
        }


async def cleanup_failed(svc: Services, older_than: timedelta, *, dry_run: bool = False) -> CleanupResult:
    """Delete failed and expired operations older than the cutoff that moved no money.

    Failed melts that paid a swap fee stay, because the ledger identity counts their fees.
    Their audit entries stay too.
    """
    cutoff = utcnow() - older_than
    old = and_(operations.c.state.in_(["failed", "expired"]), operations.c.created_at < cutoff)
    async with svc.db.transaction("cleanup_failed") as conn:
        matched = int((await conn.execute(select(func.count()).where(old))).scalar_one())
        removable = and_(
            old,
            operations.c.fees_paid == 0,
            operations.c.id.not_in(select(proofs.c.reserved_by).where(proofs.c.reserved_by.is_not(None))),
        )
        count = int((await conn.execute(select(func.count()).where(removable))).scalar_one())
        if not dry_run and count:
            await conn.execute(delete(operations).where(removable))
    deleted = 0 if dry_run else count
    log.info(
        "Cleanup of failed operations",
        cutoff=cutoff.isoformat(),
        matched=matched,
        deleted=deleted,
        keptWithFees=matched - count,
        dryRun=dry_run,
    )
    return CleanupResult(matched, deleted, matched - count, dry_run)


async def archive_audit(
    svc: Services,
    older_than: timedelta,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> int:
    """Move audit entries older than the cutoff into audit_log_archive, batch by batch; return how many."""
    cutoff = utcnow() - older_than
    async with svc.db.read() as conn:
        total = int((await conn.execute(select(func.count()).where(audit_log.c.at < cutoff))).scalar_one())
    if dry_run or total == 0:
        return total
    moved = 0
    columns = [c.name for c in audit_log.columns]
    while moved < total:
        async with svc.db.transaction("archive_audit") as conn:
            ids = [
                r[0]
                for r in (
                    await conn.execute(
                        select(audit_log.c.id).where(audit_log.c.at < cutoff).order_by(audit_log.c.id).limit(batch_size)
                    )
                ).all()
            ]
            if not ids:
                break
            now = literal(utcnow(), UTCDateTime()).label("archived_at")
            rows = select(*[audit_log.c[c] for c in columns], now).where(audit_log.c.id.in_(ids))
            await conn.execute(insert(audit_log_archive).from_select([*columns, "archived_at"], rows))
            await conn.execute(delete(audit_log).where(audit_log.c.id.in_(ids)))
        moved += len(ids)
        if progress is not None:
            progress(moved, total)
    log.info("Audit log archived", cutoff=cutoff.isoformat(), moved=moved)
    return moved


async def db_stats(svc: Services) -> dict[str, Any]:
    """Row counts and sizes per table, and index usage where the engine records it."""
    tables: dict[str, dict[str, Any]] = {}
    async with svc.db.read() as conn:
        for table in metadata.sorted_tables:
            rows = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            tables[table.name] = {"rows": rows}
        if svc.db.dialect == "postgresql":
            return {"engine": "postgresql", "tables": tables, **await _postgres_stats(conn, tables)}
        page_size = int((await conn.execute(text("PRAGMA page_size"))).scalar_one())
        pages = int((await conn.execute(text("PRAGMA page_count"))).scalar_one())
        indexes = [
            {"table": r[0], "index": r[1]}
            for r in (
                await conn.execute(
                    text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' ORDER BY tbl_name, name")
                )
            ).all()
        ]
        await _sqlite_sizes(conn, tables, indexes)
    # NOTE: SQLite records no index usage counts; PostgreSQL reports idx_scan per index.
    return {"engine": "sqlite", "databaseBytes": page_size * pages, "tables": tables, "indexes": indexes}


async def _sqlite_sizes(conn: Any, tables: dict[str, dict[str, Any]], indexes: list[dict[str, Any]]) -> None:
    """Add bytes per table and index from the dbstat table, where this SQLite build has it."""
    try:
        rows = (await conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))).all()
    except Exception:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
        return
    sizes = {name: int(size) for name, size in rows}
    for name, info in tables.items():
        info["bytes"] = sizes.get(name, 0)
    for index in indexes:
        index["bytes"] = sizes.get(index["index"], 0)


async def _postgres_stats(conn: Any, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    for name in tables:
        size = (await conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": name})).scalar_one()
        tables[name]["bytes"] = int(size or 0)
    rows = (
        await conn.execute(
            text("SELECT relname, indexrelname, idx_scan FROM pg_stat_user_indexes ORDER BY relname, indexrelname")
        )
    ).all()
    return {"indexes": [{"table": r[0], "index": r[1], "scans": int(r[2])} for r in rows]}
