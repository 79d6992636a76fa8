"""Initial ledger schema: wallets, tokens, proofs, operations journal, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from nctool.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("npub", sa.String(100), nullable=False),
        sa.Column("mint_url", sa.String(500), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.UniqueConstraint("npub", "mint_url", "unit", name="uq_wallets_npub_mint_unit"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("wallet_id", sa.Integer, sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("npub", sa.String(100), nullable=False),
        sa.Column("mint_url", sa.String(500), nullable=False),
        sa.Column("transaction_type", sa.String(20), nullable=False),
        sa.Column("transaction_id", sa.String(100), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("spent_at", UTCDateTime, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.CheckConstraint("transaction_type IN ('minted', 'received', 'sent', 'change')", name="ck_tokens_type"),
    )
    op.create_index("ix_tokens_wallet_created", "tokens", ["wallet_id", "created_at"])
    op.create_index("ix_tokens_npub_status", "tokens", ["npub", "mint_url", "status"])
    op.create_table(
        "proofs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("wallet_id", sa.Integer, sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("keyset_id", sa.String(66), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("C", sa.String(66), nullable=False),
        sa.Column("Y", sa.String(66), nullable=False, unique=True),
        sa.Column("dleq", sa.JSON, nullable=True),
        sa.Column("witness", sa.Text, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reserved_by", sa.String(100), nullable=True),
        sa.Column("spent_by", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("spent_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("state IN ('unspent', 'reserved', 'spent')", name="ck_proofs_state"),
        sa.CheckConstraint("amount > 0", name="ck_proofs_amount"),
        sa.CheckConstraint("(state = 'reserved') = (reserved_by IS NOT NULL)", name="ck_proofs_reserved_by"),
    )
    op.create_index("ix_proofs_wallet_state_amount", "proofs", ["wallet_id", "state", "amount"])
    op.create_index("ix_proofs_reserved_by", "proofs", ["reserved_by"])
    op.create_index("ix_proofs_token", "proofs", ["token_id"])
    op.create_table(
        "operations",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("wallet_id", sa.Integer, sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("npub", sa.String(100), nullable=False),
        sa.Column("mint_url", sa.String(500), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("quote_id", sa.String(200), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("fee_reserve", sa.BigInteger, nullable=False),
        sa.Column("fees_paid", sa.BigInteger, nullable=False),
        sa.Column("change_amount", sa.BigInteger, nullable=False),
        sa.Column("invoice", sa.Text, nullable=True),
        sa.Column("payment_hash", sa.String(64), nullable=True),
        sa.Column("preimage", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("input_ys", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("expiry", sa.BigInteger, nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("next_check_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("completed_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("kind IN ('melt', 'swap', 'mint', 'send', 'receive')", name="ck_operations_kind"),
    )
    op.create_index("ix_operations_state_next_check", "operations", ["state", "next_check_at"])
    op.create_index("ix_operations_wallet_created", "operations", ["wallet_id", "created_at"])
    op.create_index(
        "uq_operations_idempotency",
        "operations",
        ["wallet_id", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "uq_operations_melt_invoice",
        "operations",
        ["wallet_id", "payment_hash"],
        unique=True,
        sqlite_where=sa.text("kind = 'melt' AND state <> 'failed'"),
        postgresql_where=sa.text("kind = 'melt' AND state <> 'failed'"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("operation_id", sa.String(100), nullable=True),
        sa.Column("wallet_id", sa.Integer, nullable=True),
        sa.Column("npub", sa.String(100), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("from_state", sa.String(30), nullable=True),
        sa.Column("to_state", sa.String(30), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_operation", "audit_log", ["operation_id"])
    op.create_index("ix_audit_at", "audit_log", ["at"])


def downgrade() -> None:
    for table in ("audit_log", "operations", "proofs", "tokens", "wallets"):
        op.drop_table(table)
