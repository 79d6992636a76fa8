"""Security: API keys and seen NIP-98 events.

Secrets already in the database stay readable as plaintext; `nctool admin secret-key rotate`
seals them under the current key.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from nctool.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("npub", sa.String(100), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "nip98_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("pubkey", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_nip98_events_expires", "nip98_events", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_nip98_events_expires", "nip98_events")
    op.drop_table("nip98_events")
    op.drop_table("api_keys")
