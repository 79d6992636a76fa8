"""Admin API keys of the services that tests, the demo and benchmarks start, by base URL.

`start_service` and `start_process` create one key per service and register it here, so that an
`ApiClient(url)` calls with credentials, as a real client must, without each caller passing the key.
"""

from __future__ import annotations

from nctool.store import api_keys
from nctool.store.database import Database

_keys: dict[str, str] = {}


def register(base_url: str, key: str) -> None:
    _keys[base_url.rstrip("/")] = key


def key_for(base_url: str) -> str | None:
    return _keys.get(base_url.rstrip("/"))


async def create_admin_key(db: Database, label: str = "tests") -> str:
    """Create an admin key in this database (migrating it first) and return the key."""
    await db.migrate()
    async with db.transaction("api_key_create") as conn:
        _row, key = await api_keys.create_key(conn, "admin", label=label)
    return key
