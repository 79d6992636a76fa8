"""Re-seal every stored secret under the current key, for key rotation and for rows from before encryption."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Table, Text, select, type_coerce, update

from nctool.security.secretbox import PREFIX, active_keyring
from nctool.store.database import Database
from nctool.store.tables import operations, proofs, wallets

# Every column whose values are sealed (EncryptedText or EncryptedJSON). A new secret column
# belongs here too, so that rotation covers it.
SEALED_COLUMNS: tuple[tuple[Table, str], ...] = (
    (wallets, "seed"),
    (wallets, "p2pk_key"),
    (proofs, "secret"),
    (operations, "outputs"),
)

BATCH = 500


@dataclass
class ResealCount:
    table: str
    column: str
    resealed: int
    total: int


async def reseal_all(db: Database) -> list[ResealCount]:
    """Seal under the current key every value that is plaintext or sealed under an older key."""
    return [await _reseal_column(db, table, table.c[name]) for table, name in SEALED_COLUMNS]


async def _reseal_column(db: Database, table: Table, column: Column[object]) -> ResealCount:
    current = f"{PREFIX}{active_keyring().current_id}:"
    key = next(iter(table.primary_key.columns))
    resealed = total = 0
    last: object = None
    while True:
        query = select(key, type_coerce(column, Text).label("raw"), column).where(column.is_not(None))
        if last is not None:
            query = query.where(key > last)
        if db.dialect == "postgresql":
            # Lock the batch, so that a concurrent write of the service is not overwritten with the older value.
            query = query.with_for_update()
        async with db.transaction("secret_reseal") as conn:
            rows = (await conn.execute(query.order_by(key).limit(BATCH))).all()
            for row in rows:
                total += 1
                # The raw text is the sealed string, or JSON around it on PostgreSQL's JSON type.
                if current not in str(row[1]):
                    await conn.execute(update(table).where(key == row[0]).values({column.name: row[2]}))
                    resealed += 1
        if len(rows) < BATCH:
            return ResealCount(table.name, column.name, resealed, total)
        last = rows[-1][0]
