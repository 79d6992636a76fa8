"""Engine, transactions and schema migrations for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from nctool.config import Settings, to_async_url
from nctool.errors import StoreContentionError, StoreError
from nctool.observability import metrics
from nctool.observability.logging import get_logger

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
T = TypeVar("T")
# Key of the PostgreSQL advisory lock held while migrating ("nctool" in ASCII).
MIGRATION_LOCK_KEY = 0x6E63746F6F6C
log = get_logger()

# PostgreSQL SQLSTATEs after which running the whole transaction again can succeed.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
# SQLSTATEs that also mean contention. They are not retried, because the wait already took a full timeout.
CONTENTION_SQLSTATES = RETRYABLE_SQLSTATES | {"55P03", "57014"}  # lock_not_available, query_canceled


@dataclass(frozen=True)
class PoolSettings:
    """Connection pool and timeout settings of one process (PostgreSQL; SQLite ignores the pool)."""

    size: int = 10
    max_overflow: int = 10
    timeout_seconds: float = 10.0
    statement_timeout_seconds: float = 30.0
    retry_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolSettings:
        return cls(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout_seconds=settings.db_pool_timeout_seconds,
            statement_timeout_seconds=settings.db_statement_timeout_seconds,
            retry_attempts=settings.db_retry_attempts,
        )


def sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a driver error wrapped by SQLAlchemy, or None when it has none."""
    seen: BaseException | None = getattr(exc, "orig", None) or exc
    while seen is not None:
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(code, str):
            return code
        seen = seen.__cause__
    return None


def is_retryable(exc: BaseException) -> bool:
    """Tell whether the database aborted the transaction only because of a concurrent one."""
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    # SQLite reports an expired busy_timeout this way, at BEGIN IMMEDIATE, before anything was written.
    return "database is locked" in str(getattr(exc, "orig", exc))


def is_contention(exc: BaseException) -> bool:
    return is_retryable(exc) or sqlstate(exc) in CONTENTION_SQLSTATES


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Use WAL and take the write lock at BEGIN, so that concurrent writers queue instead of failing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_engine_options(pool: PoolSettings) -> dict[str, Any]:
    server_settings = {"application_name": "nctool"}
    if pool.statement_timeout_seconds > 0:
        # The server cancels any statement running longer, so a stuck query cannot hold a pooled
        # connection and its row locks for ever.
        server_settings["statement_timeout"] = str(int(pool.statement_timeout_seconds * 1000))
    return {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout_seconds,
        "pool_pre_ping": True,
        "connect_args": {"server_settings": server_settings},
    }


class Database:
    """One engine per process; `transaction()` and `run()` are the only ways to write."""

    def __init__(self, url: str, *, pool: PoolSettings | None = None):
        self.url = to_async_url(url)
        self.pool = pool or PoolSettings()
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.dialect == "postgresql":
            kwargs = _postgres_engine_options(self.pool)
        # NOTE: SQLite has no statement timeout. A writer waits at most busy_timeout (30 s) for the lock.
        self.engine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url, pool=PoolSettings.from_settings(settings))

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision; do nothing when it is current."""
        if await self.schema_is_current():
            return
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Replicas starting together migrate one after another: the others wait here and
                # then find the schema current. SQLite gets the same from BEGIN IMMEDIATE.
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                # Building an index on a large table may take longer than any statement timeout.
                await conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))

    async def schema_is_current(self) -> bool:
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        async with self.engine.connect() as conn:
            current = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
        return bool(current == head)

    async def ping(self) -> float:
        """Run a round trip and return its duration in seconds."""
        started = time.perf_counter()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return time.perf_counter() - started

    @asynccontextmanager
    async def transaction(self, name: str = "default") -> AsyncIterator[AsyncConnection]:
        """Run the block in one database transaction; commit on success, roll back on any error.

        Raises StoreContentionError when a concurrent transaction made the database abort this
        one, and StoreError on any other database error. Use `run()` to retry the contention case.
        """
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            metrics.DB_TRANSACTION_ROLLBACKS.labels(name=name).inc()
            message = f"database transaction {name} failed: {exc.__class__.__name__}: {exc}"
            if is_contention(exc):
                raise StoreContentionError(message, retryable=is_retryable(exc), sqlstate=sqlstate(exc)) from exc
            raise StoreError(message) from exc
        except BaseException:
            # A block that aborts on purpose (a business rule, a lost race) is not a database failure;
            # db_transaction_rollbacks_total counts only the database's own errors.
            raise
        finally:
            metrics.DB_TRANSACTION_DURATION.labels(name=name).observe(time.perf_counter() - started)
            metrics.DB_POOL_UTILIZATION.set(self.pool_utilization())

    async def run(self, name: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, again after a deadlock or serialization failure.

        `work` must only touch the database, because a failed attempt is rolled back and `work`
        runs again from the start. Tries at most `pool.retry_attempts` times; each failed attempt
        counts in db_transaction_rollbacks_total, and the last one's StoreContentionError propagates.
        """
        attempts = max(1, self.pool.retry_attempts)
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction(name) as conn:
                    return await work(conn)
            except StoreContentionError as exc:
                if not exc.context.get("retryable") or attempt == attempts:
                    raise
                delay = random.uniform(0, 0.02 * 2**attempt)  # jitter, not a secret
                log.warning(
                    "Database transaction aborted by a concurrent one; retrying",
                    transaction=name,
                    attempt=attempt,
                    sqlstate=exc.context.get("sqlstate"),
                    delaySeconds=round(delay, 3),
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Connection for reads that need no atomicity across statements."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """Connection whose statements all see one consistent snapshot (for checks that sum many tables)."""
        try:
            async with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    def pool_utilization(self) -> float:
        """Return the share of the pool's connections (size plus overflow) checked out; 0 on SQLite."""
        pool: Any = self.engine.sync_engine.pool
        checked = getattr(pool, "checkedout", None)
        capacity = self.pool_capacity()
        if not callable(checked) or capacity == 0:
            return 0.0
        return float(checked()) / float(capacity)

    def pool_capacity(self) -> int:
        """Return how many connections this process opens at most; 0 on SQLite, whose pool the settings do not size."""
        if self.dialect != "postgresql":
            return 0
        pool: Any = self.engine.sync_engine.pool
        size = getattr(pool, "size", None)
        if not callable(size):
            return 0
        return int(size()) + max(0, self.pool.max_overflow)

    async def dispose(self) -> None:
        await self.engine.dispose()
