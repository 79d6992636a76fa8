"""The dependencies a use case needs, built once per process."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from nctool.cashu.client import MintClient
from nctool.config import Settings
from nctool.observability.metrics import observe_mint_request
from nctool.security.secretbox import install_keyring, load_key_file
from nctool.security.startup import key_file_path
from nctool.store.database import Database
from nctool.wallet.keysets import KeysetCache


@dataclass
class Services:
    settings: Settings
    db: Database
    mint: MintClient
    keysets: KeysetCache
    # Names this process as lease owner in the operations journal.
    instance_id: str = field(default_factory=lambda: f"nctool-{secrets.token_hex(6)}")

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Build the services; load the secret key first, because the store seals and opens secrets with it."""
        key_file = key_file_path(settings)
        if key_file is not None:
            install_keyring(load_key_file(key_file))
        mint = MintClient(settings.mint_url, timeout=settings.mint_timeout_seconds, observer=observe_mint_request)
        return cls(settings=settings, db=Database.from_settings(settings), mint=mint, keysets=KeysetCache(mint))

    async def close(self) -> None:
        await self.mint.aclose()
        await self.db.dispose()
