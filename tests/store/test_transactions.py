"""Transactions the database aborts because of a concurrent one are retried, counted and bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.errors import StoreContentionError
from nctool.observability import metrics
from nctool.store.database import Database, PoolSettings
from nctool.store.flags import get_flag, set_flag
from nctool.store.tables import utcnow


def rollbacks(name: str) -> float:
    value: float = metrics.DB_TRANSACTION_ROLLBACKS.labels(name=name)._value.get()
    return value


@pytest_asyncio.fixture
async def db(new_database: Callable[[str], str]) -> AsyncIterator[Database]:
    database = Database(new_database("transactions"))
    await database.migrate()
    async with database.transaction("test_setup") as conn:
        await set_flag(conn, "row_a", "0", None, "test")
        await set_flag(conn, "row_b", "0", None, "test")
    yield database
    await database.dispose()


async def _bump(conn: AsyncConnection, name: str) -> None:
    await conn.execute(
        text("UPDATE service_flags SET value = :value, updated_at = :now WHERE name = :name"),
        {"value": "1", "now": utcnow(), "name": name},
    )


async def test_run_retries_after_deadlock(db: Database):
    """PostgreSQL gets a real deadlock. SQLite cannot deadlock, so it gets a simulated lock error."""
    attempts = 0
    before = rollbacks("job_claim")

    if db.dialect == "postgresql":
        rival_holds_b = asyncio.Event()
        first_waits = asyncio.Event()

        async def rival() -> None:
            async with db.engine.begin() as conn:
                # The rival waits longer before checking for deadlocks, so run() is the victim.
                await conn.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")
                await _bump(conn, "row_b")
                rival_holds_b.set()
                await first_waits.wait()
                await asyncio.sleep(0.2)
                await _bump(conn, "row_a")

        async def work(conn: AsyncConnection) -> str:
            nonlocal attempts
            attempts += 1
            await _bump(conn, "row_a")
            if attempts == 1:
                await rival_holds_b.wait()
                first_waits.set()
            await _bump(conn, "row_b")
            return "done"

        rival_task = asyncio.create_task(rival())
        result = await db.run("job_claim", work)
        await rival_task
    else:

        async def work(conn: AsyncConnection) -> str:
            nonlocal attempts
            attempts += 1
            await _bump(conn, "row_a")
            if attempts == 1:
                raise OperationalError("UPDATE service_flags", {}, sqlite3.OperationalError("database is locked"))
            return "done"

        result = await db.run("job_claim", work)

    assert result == "done"
    assert attempts == 2
    assert rollbacks("job_claim") == before + 1
    async with db.read() as conn:
        assert await get_flag(conn, "row_a") == ("1", None)


async def test_run_gives_up_after_bounded_attempts(db: Database):
    attempts = 0
    before = rollbacks("job_claim")

    async def work(conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        await _bump(conn, "row_a")
        raise OperationalError("UPDATE service_flags", {}, sqlite3.OperationalError("database is locked"))

    with pytest.raises(StoreContentionError) as raised:
        await db.run("job_claim", work)
    assert raised.value.http_status == 503
    assert attempts == db.pool.retry_attempts
    assert rollbacks("job_claim") == before + db.pool.retry_attempts


async def test_run_does_not_retry_other_errors(db: Database):
    attempts = 0

    async def work(conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        await conn.execute(text("SELECT no_such_column FROM service_flags"))

    with pytest.raises(Exception) as raised:
        await db.run("job_claim", work)
    assert not isinstance(raised.value, StoreContentionError)
    assert attempts == 1


async def test_statement_timeout_cancels_long_statement(db: Database):
    """PostgreSQL cancels a statement after the configured timeout; SQLite has no statement timeout."""
    impatient = Database(db.url, pool=PoolSettings(statement_timeout_seconds=0.5))
    try:
        if impatient.dialect != "postgresql":
            async with impatient.transaction("test_timeout") as conn:
                await _bump(conn, "row_a")  # configured, but SQLite does not apply it
            return
        with pytest.raises(StoreContentionError) as raised:
            async with impatient.transaction("test_timeout") as conn:
                await conn.exec_driver_sql("SELECT pg_sleep(3)")
        assert raised.value.context["sqlstate"] == "57014"
        assert raised.value.context["retryable"] is False
    finally:
        await impatient.dispose()
