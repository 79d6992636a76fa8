"""Database faults for tests: a trigger that makes the database reject a melt's settlement.

SQLite and PostgreSQL both get a BEFORE UPDATE trigger on `operations` that raises when a melt
moves to `completed`, so the settle transaction fails exactly as a database outage at that step
would, while every other write goes through.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

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
