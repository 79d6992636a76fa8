"""API keys: created once, stored as a SHA-256 hash, looked up by hash, revoked by id."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from nctool.store import audit
from nctool.store.tables import api_keys, utcnow

KEY_PREFIX = "nct_"
SCOPES = ("wallet", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: str
    scope: str
    npub: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        m = row._mapping
        return cls(m["id"], m["scope"], m["npub"], m["label"], m["created_at"], m["revoked_at"])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    conn: AsyncConnection, scope: str, npub: str | None = None, label: str | None = None
) -> tuple[ApiKey, str]:
    """Insert a new key and return its row and the key itself, which is never stored or shown again."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    # The id is public (list, logs, revoke); it is drawn apart from the key and reveals nothing of it.
    key_id = "key_" + secrets.token_hex(6)
    await conn.execute(
        api_keys.insert().values(
            id=key_id, key_hash=hash_key(key), scope=scope, npub=npub, label=label, created_at=utcnow()
        )
    )
    row = ApiKey.from_row((await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one())
    await audit.record(conn, "api_key_created", npub=npub, keyId=key_id, scope=scope, label=label)
    return row, key


async def find_active_key(conn: AsyncConnection, key: str) -> ApiKey | None:
    """Return the unrevoked key with this value, or None."""
    row = (
        await conn.execute(
            select(api_keys).where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None))
        )
    ).first()
    return ApiKey.from_row(row) if row else None


async def active_keys_by_hash(conn: AsyncConnection) -> dict[str, ApiKey]:
    rows = (await conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None)))).all()
    return {row._mapping["key_hash"]: ApiKey.from_row(row) for row in rows}


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))).all()
    return [ApiKey.from_row(r) for r in rows]


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    """Revoke the key; False when no unrevoked key has this id."""
    result = await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if not result.rowcount:
        return False
    await audit.record(conn, "api_key_revoked", keyId=key_id)
    return True
