"""Connection pool, cache and slow-query figures of the database, for the diagnostics endpoint.

PostgreSQL reports index and table cache hits (pg_statio_user_indexes, pg_statio_user_tables),
statements running now (pg_stat_activity) and, when the pg_stat_statements extension is
installed in nctool's database, the statements slowest on average since its last reset.
SQLite keeps none of these, so only the pool figures are reported there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store.database import Database

# A statement running longer than this is listed as slow.
SLOW_QUERY_SECONDS = 1.0
MAX_LISTED_QUERIES = 10
MAX_QUERY_CHARS = 300


async def database_statistics(db: Database) -> dict[str, Any]:
    """Return pool figures and, on PostgreSQL, cache hit ratios and slow queries."""
    if db.dialect != "postgresql":
        return {"pool": {"size": None, "maxConnections": None, "utilization": 0.0, "statementTimeoutSeconds": None}}
    stats: dict[str, Any] = {
        "pool": {
            "size": db.pool.size,
            "maxConnections": db.pool_capacity(),
            "utilization": round(db.pool_utilization(), 3),
            "statementTimeoutSeconds": db.pool.statement_timeout_seconds,
        }
    }
    async with db.read() as conn:
        stats["indexHitRatio"] = await _ratio(
            conn, "SELECT sum(idx_blks_hit), sum(idx_blks_read) FROM pg_statio_user_indexes"
        )
        stats["tableHitRatio"] = await _ratio(
            conn, "SELECT sum(heap_blks_hit), sum(heap_blks_read) FROM pg_statio_user_tables"
        )
        stats["slowQueries"] = await _slow_queries(conn)
    return stats


async def _ratio(conn: AsyncConnection, query: str) -> float | None:
    """Return hits / (hits + reads), or None before any block was read."""
    hits, reads = (await conn.execute(text(query))).one()
    total = int(hits or 0) + int(reads or 0)
    return round(int(hits or 0) / total, 4) if total else None


async def _slow_queries(conn: AsyncConnection) -> dict[str, Any]:
    """List statements of this database running longer than SLOW_QUERY_SECONDS, and the slowest on average."""
    running = (
        await conn.execute(
            text(
                "SELECT pid, extract(epoch FROM now() - query_start) AS seconds, state, left(query, :chars) "
                "FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' "
                "AND query_start < now() - make_interval(secs => :seconds) "
                "ORDER BY query_start LIMIT :limit"
            ),
            {"chars": MAX_QUERY_CHARS, "seconds": SLOW_QUERY_SECONDS, "limit": MAX_LISTED_QUERIES},
        )
    ).all()
    report: dict[str, Any] = {
        "thresholdSeconds": SLOW_QUERY_SECONDS,
        "running": [
            {"pid": int(pid), "seconds": round(float(seconds), 3), "state": state, "query": query}
            for pid, seconds, state, query in running
        ],
        "slowestOnAverage": None,
    }
    installed = (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"))).first()
    if installed is None:
        # NOTE: without pg_stat_statements (shared_preload_libraries plus CREATE EXTENSION) only
        # statements running at this moment are visible.
        return report
    slowest = (
        await conn.execute(
            text(
                "SELECT calls, mean_exec_time, max_exec_time, left(query, :chars) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY mean_exec_time DESC LIMIT :limit"
            ),
            {"chars": MAX_QUERY_CHARS, "limit": MAX_LISTED_QUERIES},
        )
    ).all()
    report["slowestOnAverage"] = [
        {"calls": int(calls), "meanMs": round(float(mean), 3), "maxMs": round(float(peak), 3), "query": query}
        for calls, mean, peak, query in slowest
    ]
    return report
