"""Service settings, read once from the environment (prefix NCTOOL_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All settings of one nctool process; every field maps to NCTOOL_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="NCTOOL_", extra="ignore")

    database_url: str = Field(default="sqlite:///./data/nctool.db", description="sqlite:///PATH or postgresql://...")
    db_pool_size: int = Field(default=10, ge=1, description="PostgreSQL connections kept open per process")
    db_max_overflow: int = Field(default=10, ge=0, description="extra PostgreSQL connections per process under load")
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, description="wait for a free pooled connection")
    db_statement_timeout_seconds: float = Field(
        default=30.0, ge=0, description="PostgreSQL cancels statements running longer; 0 disables"
    )
    db_retry_attempts: int = Field(
        default=3, ge=1, description="tries of a transaction aborted by a deadlock or serialization failure"
    )
    mint_url: str = Field(default="http://127.0.0.1:3338", description="Cashu mint base URL")
    host: str = "127.0.0.1"
    port: int = 3000
    log_file: Path | None = None
    log_level: str = "INFO"
    unit: str = "sat"
    lightning_network: str = Field(default="bc", description="bolt11 currency prefix the mint pays: bc, tb, tbs, bcrt")
    max_amount_sat: int = Field(default=1_000_000, ge=1, description="largest amount accepted by mint and melt")
    mint_timeout_seconds: float = Field(default=30.0, gt=0)
    worker_interval_seconds: float = Field(default=1.0, gt=0)
    worker_enabled: bool = True
    lease_seconds: float = Field(
        default=15.0, gt=0, description="lease on an operation; a live owner renews it every third of this"
    )
    mint_quote_poll_max_seconds: float = Field(default=300.0, gt=0)
    melt_poll_max_seconds: float = Field(default=300.0, gt=0)
    stuck_after_seconds: float = Field(default=3600.0, gt=0, description="an open operation older than this is stuck")
    breaker_max_stuck_operations: int = Field(default=10, ge=0, description="stuck operations that halt melts")
    ledger_check_interval_seconds: float = Field(default=300.0, gt=0)
    reconcile_interval_seconds: float = Field(default=900.0, gt=0)

    # Security. Authentication is on unless auth_disabled, which is accepted on a loopback host only.
    auth_disabled: bool = Field(default=False, description="serve without credentials (127.0.0.1/::1 only)")
    secret_key_file: Path | None = Field(
        default=None, description="key file that encrypts seeds, P2PK keys and proof secrets at rest"
    )
    public_url: str | None = Field(
        default=None,
        description="base URL clients call (https://wallet.example.com), which NIP-98 events must name; "
        "default: the scheme and Host header of each request",
    )
    nip98_max_age_seconds: int = Field(default=60, ge=1, le=600, description="allowed clock difference of NIP-98")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="largest request body; larger gets 413")
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="requests per credential per minute and replica; 0 turns the limit off"
    )
    daily_withdrawal_limit_sat: int | None = Field(
        default=None, ge=1, description="sats one wallet may pay out in any 24 hours; unset: no limit"
    )

    @field_validator("mint_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _strip_public_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def async_database_url(self) -> str:
        """Return the URL with the async driver nctool uses for that database."""
        return to_async_url(self.database_url)


def to_async_url(url: str) -> str:
    """Map sqlite:/// and postgresql:// URLs to their aiosqlite and asyncpg forms."""
    for prefix, driver in (
        ("sqlite:", "sqlite+aiosqlite:"),
        ("postgresql:", "postgresql+asyncpg:"),
        ("postgres:", "postgresql+asyncpg:"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
