"""Database faults for tests, on SQLite and PostgreSQL alike.

`settlement_rejected` installs a BEFORE UPDATE trigger on `operations` that raises when a melt
moves to `completed`, so the settle transaction fails exactly as a database outage at that step
would, while every other write goes through. `make_unreachable` takes a database away for good.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from nctool.store.database import Database


@contextlib.asynccontextmanager
async def settlement_rejected(db: Database, name: str, *, npub: str | None = None) -> AsyncIterator[None]:
    """Make the database reject every melt settlement (of `npub` only, when given) until the block ends."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", name):
        raise ValueError(f"trigger name {name!r} is invalid; use lower-case letters, digits and _")
    if npub is not None and not re.fullmatch(r"npub1[a-z0-9]+", npub):
        raise ValueError(f"npub {npub!r} is invalid; the trigger inlines it, so it must be bech32")
    condition = "NEW.state = 'completed' AND NEW.kind = 'melt'"
    if npub is not None:
        condition += f" AND NEW.npub = '{npub}'"
    message = f"settlement rejected by test trigger {name}"
    if db.dialect == "postgresql":
        create = [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$",
            f"CREATE TRIGGER {name} BEFORE UPDATE OF state ON operations "
            f"FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION {name}()",
        ]
        drop = [f"DROP TRIGGER {name} ON operations", f"DROP FUNCTION {name}()"]
    else:
        create = [
            f"CREATE TRIGGER {name} BEFORE UPDATE OF state ON operations "
            f"WHEN {condition} BEGIN SELECT RAISE(ABORT, '{message}'); END"
        ]
        drop = [f"DROP TRIGGER {name}"]
    async with db.engine.begin() as conn:
        for statement in create:
            await conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            for statement in drop:
                await conn.exec_driver_sql(statement)


async def make_unreachable(db: Database) -> None:
    """Make every new connection to the database fail, and close the pooled ones.

    SQLite: the file is moved away and a directory takes its place. PostgreSQL: the database
    stops accepting connections and its sessions are terminated. Nothing restores it, so use
    this only on a database of its own.
    """
    url = make_url(db.url)
    await db.engine.dispose()
    if db.dialect != "postgresql":
        _replace_with_directory(Path(str(url.database)))
        return
    name = str(url.database)
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"database name {name!r} is invalid here; expected lower-case letters, digits and _")
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
    finally:
        await admin.dispose()


def _replace_with_directory(path: Path) -> None:
    path.rename(path.with_name(path.name + ".moved"))
    path.mkdir()
