"""Indexes for coin selection, history by npub and scans of open operations.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-04

Balance reads use ix_proofs_wallet_state_amount from 0001. The partial indexes cover only rows
the hot queries read (unspent proofs, open operations), so they stay small while the tables
grow with spent proofs and finished operations.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNSPENT = sa.text("state = 'unspent'")
# Keep in step with nctool.store.operations.FINAL_STATES; queries use the same literal list.
OPEN = sa.text("state NOT IN ('completed', 'expired', 'failed')")


def upgrade() -> None:
    op.create_index(
        "ix_proofs_unspent_selection",
        "proofs",
        ["wallet_id", sa.text("amount DESC"), "id"],
        sqlite_where=UNSPENT,
        postgresql_where=UNSPENT,
    )
    op.create_index("ix_operations_npub_created", "operations", ["npub", "created_at"])
    op.create_index(
        "ix_operations_open_next_check",
        "operations",
        ["next_check_at"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_operations_open_created",
        "operations",
        ["created_at"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    for name in (
        "ix_operations_open_created",
        "ix_operations_open_next_check",
        "ix_operations_npub_created",
        "ix_proofs_unspent_selection",
    ):
        op.drop_index(name)
