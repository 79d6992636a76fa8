"""Per-wallet balances kept by triggers on proofs, so that a balance read is one row.

Every insert, update and delete of proofs adjusts wallet_balances in the same transaction, so the
table always equals the sums over proofs per wallet and state, whichever code path writes.
SQLite runs a row trigger per proof. PostgreSQL runs one statement trigger per statement, which
locks the wallet's balance row after the proof rows, so writers of one wallet queue on that row
but never deadlock through it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_DELTA = """
UPDATE wallet_balances SET
    unspent = unspent + {sign} CASE WHEN {row}.state = 'unspent' THEN {row}.amount ELSE 0 END,
    reserved = reserved + {sign} CASE WHEN {row}.state = 'reserved' THEN {row}.amount ELSE 0 END,
    spent = spent + {sign} CASE WHEN {row}.state = 'spent' THEN {row}.amount ELSE 0 END,
    pending_send = pending_send + {sign} CASE WHEN {row}.state = 'pending_send' THEN {row}.amount ELSE 0 END
WHERE wallet_id = {row}.wallet_id;
"""

_SQLITE_ENSURE_ROW = "INSERT OR IGNORE INTO wallet_balances (wallet_id) VALUES (NEW.wallet_id);"

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER proofs_balance_insert AFTER INSERT ON proofs BEGIN "
    + _SQLITE_ENSURE_ROW
    + _SQLITE_DELTA.format(sign="+", row="NEW")
    + " END",
    "CREATE TRIGGER proofs_balance_update AFTER UPDATE OF state, amount, wallet_id ON proofs BEGIN "
    + _SQLITE_DELTA.format(sign="-", row="OLD")
    + _SQLITE_ENSURE_ROW
    + _SQLITE_DELTA.format(sign="+", row="NEW")
    + " END",
    "CREATE TRIGGER proofs_balance_delete AFTER DELETE ON proofs BEGIN "
    + _SQLITE_DELTA.format(sign="-", row="OLD")
    + " END",
]

# One upsert per statement with the net change per wallet, in wallet order. Transition tables
# exist only for the events a trigger fires on, so each operation reads its own.
_POSTGRES_UPSERT = """
        INSERT INTO wallet_balances AS b (wallet_id, unspent, reserved, spent, pending_send)
            SELECT wallet_id,
                   coalesce(sum(amount) FILTER (WHERE state = 'unspent'), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'reserved'), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'spent'), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'pending_send'), 0)
            FROM ({changes}) AS changes
            GROUP BY wallet_id ORDER BY wallet_id
        ON CONFLICT (wallet_id) DO UPDATE SET
            unspent = b.unspent + EXCLUDED.unspent,
            reserved = b.reserved + EXCLUDED.reserved,
            spent = b.spent + EXCLUDED.spent,
            pending_send = b.pending_send + EXCLUDED.pending_send;"""

_ADDED = "SELECT wallet_id, state, amount FROM new_rows"
_REMOVED = "SELECT wallet_id, state, -amount AS amount FROM old_rows"

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION proofs_balance_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN{_POSTGRES_UPSERT.format(changes=_ADDED)}
    ELSIF TG_OP = 'DELETE' THEN{_POSTGRES_UPSERT.format(changes=_REMOVED)}
    ELSE{_POSTGRES_UPSERT.format(changes=_ADDED + " UNION ALL " + _REMOVED)}
    END IF;
    RETURN NULL;
END
$$
"""

_POSTGRES_TRIGGERS = [
    "CREATE TRIGGER proofs_balance_insert AFTER INSERT ON proofs REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION proofs_balance_apply()",
    "CREATE TRIGGER proofs_balance_update AFTER UPDATE ON proofs "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION proofs_balance_apply()",
    "CREATE TRIGGER proofs_balance_delete AFTER DELETE ON proofs REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION proofs_balance_apply()",
]

_BACKFILL = """
INSERT INTO wallet_balances (wallet_id, unspent, reserved, spent, pending_send)
SELECT wallet_id,
       sum(CASE WHEN state = 'unspent' THEN amount ELSE 0 END),
       sum(CASE WHEN state = 'reserved' THEN amount ELSE 0 END),
       sum(CASE WHEN state = 'spent' THEN amount ELSE 0 END),
       sum(CASE WHEN state = 'pending_send' THEN amount ELSE 0 END)
FROM proofs GROUP BY wallet_id
"""


def upgrade() -> None:
    op.create_table(
        "wallet_balances",
        sa.Column("wallet_id", sa.Integer, sa.ForeignKey("wallets.id"), primary_key=True, autoincrement=False),
        sa.Column("unspent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("spent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pending_send", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute(_BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        statements = _POSTGRES_TRIGGERS
    else:
        statements = _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for name in ("proofs_balance_insert", "proofs_balance_update", "proofs_balance_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON proofs" if _is_postgres() else ""))
    if _is_postgres():
        op.execute("DROP FUNCTION IF EXISTS proofs_balance_apply()")
    op.drop_table("wallet_balances")


def _is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")
