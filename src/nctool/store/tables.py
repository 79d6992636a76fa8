"""Tables of the ledger. Proofs are identified by Y; secrets stay in `proofs.secret` only.

Columns that hold secrets (wallet seeds, proof secrets, journaled outputs) are sealed with the
process's secret key on write and opened on read (`EncryptedText`, `EncryptedJSON`); Y and every
other column stay in clear for lookups.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from nctool.security.secretbox import active_keyring, is_sealed

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every engine (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; nctool stores UTC-aware timestamps only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


class EncryptedText(TypeDecorator[str]):
    """Text sealed with the active secret key; plaintext written before encryption reads as it is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().open(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as one sealed JSON string; unsealed JSON from before encryption reads as it is."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else active_keyring().seal(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and is_sealed(value):
            return json.loads(active_keyring().open(value))
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


wallets = Table(
    "wallets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("npub", String(100), nullable=False),
    Column("mint_url", String(500), nullable=False),
    Column("unit", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    # NUT-13 wallet seed (hex), sealed. Never logged or returned; funds can be restored from it alone.
    Column("seed", EncryptedText, nullable=True),
    # NUT-11 P2PK private key (hex), sealed. Never logged or returned; read and written only
    # through nctool.store.wallets.
    Column("p2pk_key", EncryptedText, nullable=True),
    # Compressed public key (hex) of `p2pk_key`, returned as walletDetails.p2pkPub.
    Column("p2pk_pub", String(66), nullable=True),
    UniqueConstraint("npub", "mint_url", "unit", name="uq_wallets_npub_mint_unit"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("wallet_id", Integer, ForeignKey("wallets.id"), nullable=False),
    Column("npub", String(100), nullable=False),
    Column("mint_url", String(500), nullable=False),
    # minted | received | sent | change; never "melted": a melt consumes proofs, it creates none.
    Column("transaction_type", String(20), nullable=False),
    Column("transaction_id", String(100), nullable=False, unique=True),
    # unspent | pending | spent | failed, derived from the token's proofs.
    Column("status", String(20), nullable=False),
    Column("total_amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("spent_at", UTCDateTime, nullable=True),
    Column("metadata", JSON, nullable=False, default=dict),
    Index("ix_tokens_wallet_created", "wallet_id", "created_at"),
    Index("ix_tokens_npub_status", "npub", "mint_url", "status"),
)

proofs = Table(
    "proofs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_id", Integer, ForeignKey("tokens.id"), nullable=False),
    Column("wallet_id", Integer, ForeignKey("wallets.id"), nullable=False),
    Column("keyset_id", String(66), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # NOTE: every row read opens its secret (about 6 us each on a 2-core test VM), so reading all
    # unspent proofs of a 100k-proof wallet for selection costs about 0.6 s more than in clear.
    Column("secret", EncryptedText, nullable=False),
    Column("C", String(66), nullable=False),
    Column("Y", String(66), nullable=False, unique=True),
    Column("dleq", JSON, nullable=True),
    Column("witness", Text, nullable=True),
    # unspent | reserved | spent | pending_send (handed out in a token that the mint has not yet
    # reported spent; not part of the balance, so it is counted only once, in `sent`)
    Column("state", String(20), nullable=False),
    Column("reserved_by", String(100), nullable=True),
    # Operation that consumed the proof, or "reconciliation" when the mint reported it spent
    # by someone else (money that left the wallet outside nctool).
    Column("spent_by", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("spent_at", UTCDateTime, nullable=True),
    Index("ix_proofs_wallet_state_amount", "wallet_id", "state", "amount"),
    Index("ix_proofs_reserved_by", "reserved_by"),
    Index("ix_proofs_token", "token_id"),
    # Coin selection reads only unspent proofs, largest first.
    Index(
        "ix_proofs_unspent_selection",
        "wallet_id",
        text("amount DESC"),
        "id",
        sqlite_where=text("state = 'unspent'"),
        postgresql_where=text("state = 'unspent'"),
    ),
)

operations = Table(
    "operations",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("wallet_id", Integer, ForeignKey("wallets.id"), nullable=False),
    Column("npub", String(100), nullable=False),
    Column("mint_url", String(500), nullable=False),
    Column("state", String(30), nullable=False),
    Column("quote_id", String(200), nullable=True),
    Column("amount", BigInteger, nullable=False, default=0),
    Column("fee_reserve", BigInteger, nullable=False, default=0),
    # Every fee this operation has cost so far: input fees of swaps and of the melt, and the
    # Lightning fee once known. Counted in the ledger identity as "fees".
    Column("fees_paid", BigInteger, nullable=False, default=0),
    Column("change_amount", BigInteger, nullable=False, default=0),
    Column("invoice", Text, nullable=True),
    Column("payment_hash", String(64), nullable=True),
    Column("preimage", String(128), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_hash", String(64), nullable=True),
    # Ys of the proofs this operation consumes; see proofs.reserved_by for the live reservation.
    Column("input_ys", JSON, nullable=False, default=list),
    # Blinded outputs committed before the mint request that signs them: amount, keyset id,
    # secret, blinding factor r, B_ and role. Recovery restores signatures from these (NUT-09).
    # Sealed as a whole, because the secrets and blinding factors are money once the mint signs.
    Column("outputs", EncryptedJSON, nullable=False, default=list),
    Column("expiry", BigInteger, nullable=True),
    # Request parameters that recovery needs, e.g. a send's token format and P2PK lock.
    Column("details", JSON, nullable=True),
    Column("error_code", String(100), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("next_check_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    Index("ix_operations_state_next_check", "state", "next_check_at"),
    Index("ix_operations_wallet_created", "wallet_id", "created_at"),
    Index("ix_operations_npub_created", "npub", "created_at"),
    # The worker's due scan and the stuck-operation scans read only open operations; the predicate
    # must match nctool.store.operations.is_open() literally for the planner to use these.
    Index(
        "ix_operations_open_next_check",
        "next_check_at",
        sqlite_where=text("state NOT IN ('completed', 'expired', 'failed')"),
        postgresql_where=text("state NOT IN ('completed', 'expired', 'failed')"),
    ),
    Index(
        "ix_operations_open_created",
        "created_at",
        sqlite_where=text("state NOT IN ('completed', 'expired', 'failed')"),
        postgresql_where=text("state NOT IN ('completed', 'expired', 'failed')"),
    ),
    Index(
        "uq_operations_idempotency",
        "wallet_id",
        "idempotency_key",
        unique=True,
        sqlite_where=text("idempotency_key IS NOT NULL"),
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # One live or completed melt per invoice and wallet; a failed one may be retried.
    Index(
        "uq_operations_melt_invoice",
        "wallet_id",
        "payment_hash",
        unique=True,
        sqlite_where=text("kind = 'melt' AND state <> 'failed'"),
        postgresql_where=text("kind = 'melt' AND state <> 'failed'"),
    ),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("operation_id", String(100), nullable=True),
    Column("wallet_id", Integer, nullable=True),
    Column("npub", String(100), nullable=True),
    Column("action", String(60), nullable=False),
    Column("from_state", String(30), nullable=True),
    Column("to_state", String(30), nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    Index("ix_audit_operation", "operation_id"),
    Index("ix_audit_at", "at"),
)


# Switches shared by every process, e.g. the melt breaker ("melts_halted").
service_flags = Table(
    "service_flags",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(100), nullable=True),
)

audit_log_archive = Table(
    "audit_log_archive",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("operation_id", String(100), nullable=True),
    Column("wallet_id", Integer, nullable=True),
    Column("npub", String(100), nullable=True),
    Column("action", String(60), nullable=False),
    Column("from_state", String(30), nullable=True),
    Column("to_state", String(30), nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    Column("archived_at", UTCDateTime, nullable=False),
)

# Sums of each wallet's proofs per state, kept equal to them by triggers on proofs (migration 0006),
# so that reading a balance does not scan the wallet's proofs.
wallet_balances = Table(
    "wallet_balances",
    metadata,
    Column("wallet_id", Integer, ForeignKey("wallets.id"), primary_key=True, autoincrement=False),
    Column("unspent", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("spent", BigInteger, nullable=False, server_default="0"),
    Column("pending_send", BigInteger, nullable=False, server_default="0"),
)

# NUT-13: next unused derivation counter per wallet and keyset.
keyset_counters = Table(
    "keyset_counters",
    metadata,
    Column("wallet_id", Integer, ForeignKey("wallets.id"), primary_key=True),
    Column("keyset_id", String(66), primary_key=True),
    Column("counter", BigInteger, nullable=False),
)


# API keys: only the SHA-256 of a key is stored. A key is 32 random bytes, so a fast hash is enough:
# there is no password to guess, and a leaked hash does not give back the key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    # wallet | admin
    Column("scope", String(20), nullable=False),
    # A wallet key bound to one npub acts for that npub only; NULL acts for every npub.
    Column("npub", String(100), nullable=True),
    Column("label", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# NIP-98 event ids already accepted, kept until the event is stale anyway, so that a replay is
# rejected by every replica that shares the database.
nip98_events = Table(
    "nip98_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("pubkey", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_nip98_events_expires", "expires_at"),
)
