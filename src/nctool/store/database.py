"""Engine, transactions and schema migrations for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from nctool.config import to_async_url
from nctool.errors import StoreError
from nctool.observability import metrics

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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


class Database:
    """One engine per process; `transaction()` is the only way to write."""

    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = to_async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.dialect == "postgresql":
            kwargs = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
        self.engine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self.engine.begin() as conn:
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
        """Run the block in one database transaction; commit on success, roll back on any error."""
        started = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            metrics.DB_TRANSACTION_ROLLBACKS.labels(name=name).inc()
            raise StoreError(f"database transaction {name} failed: {exc.__class__.__name__}: {exc}") from exc
        except BaseException:
            # A block that aborts on purpose (a business rule, a lost race) is not a database failure;
            # db_transaction_rollbacks_total counts only the database's own errors.
            raise
        finally:
            metrics.DB_TRANSACTION_DURATION.labels(name=name).observe(time.perf_counter() - started)

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
        pool: Any = self.engine.sync_engine.pool
        size = getattr(pool, "size", None)
        checked = getattr(pool, "checkedout", None)
        if not callable(size) or not callable(checked) or size() == 0:
            return 0.0
        return float(checked()) / float(size())

    async def dispose(self) -> None:
        await self.engine.dispose()
