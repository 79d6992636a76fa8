"""Send and receive: each wallet's P2PK key, and request parameters on operations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# A pending-send proof may carry reserved_by: the reclaim that is taking it back.
OLD_STATE_CHECK = "state IN ('unspent', 'reserved', 'spent')"
NEW_STATE_CHECK = "state IN ('unspent', 'reserved', 'spent', 'pending_send')"
OLD_RESERVED_CHECK = "(state = 'reserved') = (reserved_by IS NOT NULL)"
NEW_RESERVED_CHECK = "state = 'pending_send' OR (state = 'reserved') = (reserved_by IS NOT NULL)"


def _replace_checks(state_check: str, reserved_check: str) -> None:
    with op.batch_alter_table("proofs") as batch:
        batch.drop_constraint("ck_proofs_state", type_="check")
        batch.drop_constraint("ck_proofs_reserved_by", type_="check")
        batch.create_check_constraint("ck_proofs_state", state_check)
        batch.create_check_constraint("ck_proofs_reserved_by", reserved_check)


def upgrade() -> None:
    _replace_checks(NEW_STATE_CHECK, NEW_RESERVED_CHECK)
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("p2pk_key", sa.Text, nullable=True))
        batch.add_column(sa.Column("p2pk_pub", sa.String(66), nullable=True))
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("details", sa.JSON, nullable=True))


def downgrade() -> None:
    _replace_checks(OLD_STATE_CHECK, OLD_RESERVED_CHECK)
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("p2pk_pub")
        batch.drop_column("p2pk_key")
