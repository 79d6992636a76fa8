"""Seeds, proof secrets and journaled outputs are sealed in the database; rotation re-seals them all."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nctool.security.secretbox import PREFIX, load_key_file
from nctool.testing.client import ApiClient
from nctool.testing.ledger import ledger_problems
from nctool.testing.lightning import make_invoice, make_npub
from nctool.testing.service import start_service

SEALED_COLUMNS = [("wallets", "seed"), ("proofs", "secret"), ("operations", "outputs")]


@pytest.fixture
async def paid_database(stack, tmp_path) -> AsyncIterator[Path]:
    """A private database after one funding and one melt with change: every secret column has rows."""
    path = tmp_path / "nctool.db"
    service = await start_service(stack.mint.url, f"sqlite:///{path}", worker_enabled=False)
    api = ApiClient(service.url)
    try:
        npub = make_npub()
        await api.fund(npub, 500)
        assert (await api.melt(npub, make_invoice(100))).status_code == 200
        assert await ledger_problems(service.services) == []
    finally:
        await api.aclose()
        await service.stop()
    yield path


def raw_values(path: Path, table: str, column: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [str(row[0]) for row in db.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")]  # noqa: S608  # fixed names


def admin(*args: str, key_file: Path, database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NCTOOL_SECRET_KEY_FILE": str(key_file), "NCTOOL_DATABASE_URL": f"sqlite:///{database}"}
    return subprocess.run(  # noqa: S603  # this interpreter, our own module
        [sys.executable, "-m", "nctool.cli.main", "admin", "secret-key", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("table", "column"), SEALED_COLUMNS)
async def test_secret_column_is_sealed(paid_database, table, column):
    values = raw_values(paid_database, table, column)
    assert values
    assert all(PREFIX in value for value in values)


async def test_proof_y_stays_in_clear(paid_database):
    ys = raw_values(paid_database, "proofs", "Y")
    assert ys
    assert all(len(y) == 66 and y[:2] in ("02", "03") for y in ys)


async def test_rotation_reseals_every_secret_under_new_key(paid_database, tmp_path):
    key_file = tmp_path / "secret.key"
    shutil.copy(os.environ["NCTOOL_SECRET_KEY_FILE"], key_file)
    old = load_key_file(key_file)
    secrets_before = sorted(old.open(v) for v in raw_values(paid_database, "proofs", "secret"))

    added = admin("add", key_file=key_file, database=paid_database)
    rotated = admin("rotate", "--prune", key_file=key_file, database=paid_database)

    new = load_key_file(key_file)
    assert added.returncode == 0, added.stderr
    assert rotated.returncode == 0, rotated.stderr
    assert len(new.keys) == 1
    assert new.current_id != old.current_id
    for table, column in SEALED_COLUMNS:
        values = raw_values(paid_database, table, column)
        assert all(f"{PREFIX}{new.current_id}:" in value for value in values), f"{table}.{column}"
    assert secrets_before == sorted(new.open(v) for v in raw_values(paid_database, "proofs", "secret"))


async def test_rotation_seals_plaintext_from_before_encryption(paid_database, tmp_path):
    with sqlite3.connect(paid_database) as db:
        db.execute("UPDATE wallets SET seed = ?", ("ab" * 32,))
    key_file = Path(os.environ["NCTOOL_SECRET_KEY_FILE"])

    rotated = admin("rotate", key_file=key_file, database=paid_database)

    assert rotated.returncode == 0, rotated.stderr
    assert "wallets.seed: re-encrypted 1 of 1" in rotated.stdout
    (sealed,) = raw_values(paid_database, "wallets", "seed")
    assert load_key_file(key_file).open(sealed) == "ab" * 32
