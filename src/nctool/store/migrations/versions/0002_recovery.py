"""Recovery support: breaker flags, archived audit entries, NUT-13 seeds and counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from nctool.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_flags",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "audit_log_archive",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("operation_id", sa.String(100), nullable=True),
        sa.Column("wallet_id", sa.Integer, nullable=True),
        sa.Column("npub", sa.String(100), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("from_state", sa.String(30), nullable=True),
        sa.Column("to_state", sa.String(30), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("archived_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_audit_archive_at", "audit_log_archive", ["at"])
    op.create_table(
        "keyset_counters",
        sa.Column("wallet_id", sa.Integer, sa.ForeignKey("wallets.id"), primary_key=True),
        sa.Column("keyset_id", sa.String(66), primary_key=True),
        sa.Column("counter", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("seed", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("seed")
    for table in ("keyset_counters", "audit_log_archive", "service_flags"):
        op.drop_table(table)
