"""`nctool admin api-key`: create prints a key once, list shows ids only, revoke takes effect at once."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from nctool.testing.service import start_service


def nctool(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # this interpreter, our own module
        [sys.executable, "-m", "nctool.cli.main", *args],
        env={**os.environ, "NCTOOL_DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def created_key(output: str) -> tuple[str, str]:
    key = re.search(r"nct_[A-Za-z0-9_-]{40,}", output)
    key_id = re.search(r"key_[0-9a-f]{12}", output)
    assert key and key_id, output
    return key.group(0), key_id.group(0)


def test_create_prints_key_and_stores_only_its_hash(tmp_path):
    result = nctool(tmp_path / "keys.db", "admin", "api-key", "create", "--scope", "wallet", "--label", "bot")
    key, key_id = created_key(result.stdout)
    listing = nctool(tmp_path / "keys.db", "admin", "api-key", "list")
    assert result.returncode == 0
    assert key_id in listing.stdout
    assert key not in listing.stdout
    assert key.encode() not in (tmp_path / "keys.db").read_bytes()


def test_list_shows_whole_id_at_80_columns(tmp_path):
    database = tmp_path / "keys.db"
    _, key_id = created_key(
        nctool(database, "admin", "api-key", "create", "--scope", "wallet", "--label", "x" * 60).stdout
    )
    listing = subprocess.run(  # this interpreter, our own module
        [sys.executable, "-m", "nctool.cli.main", "admin", "api-key", "list"],
        env={**os.environ, "NCTOOL_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert key_id in listing.stdout


def test_list_json_names_each_key(tmp_path):
    database = tmp_path / "keys.db"
    _, key_id = created_key(nctool(database, "admin", "api-key", "create", "--scope", "admin").stdout)
    listed = json.loads(nctool(database, "admin", "api-key", "list", "--json").stdout)
    assert [entry["id"] for entry in listed] == [key_id]
    assert listed[0]["scope"] == "admin"
    assert listed[0]["revokedAt"] is None


def test_create_rejects_unknown_scope(tmp_path):
    result = nctool(tmp_path / "keys.db", "admin", "api-key", "create", "--scope", "root")
    assert result.returncode == 2
    assert "wallet or admin" in result.stderr


def test_create_rejects_invalid_npub(tmp_path):
    result = nctool(tmp_path / "keys.db", "admin", "api-key", "create", "--scope", "wallet", "--npub", "nsec1xyz")
    assert result.returncode == 2
    assert "--npub" in result.stderr


def test_revoke_unknown_id_fails(tmp_path):
    result = nctool(tmp_path / "keys.db", "admin", "api-key", "revoke", "key_000000000000")
    assert result.returncode == 1
    assert "no active API key" in result.stderr


async def test_revoked_key_gets_401_at_once(stack, tmp_path):
    database = tmp_path / "service.db"
    service = await start_service(stack.mint.url, f"sqlite:///{database}", worker_enabled=False)
    key, key_id = created_key(nctool(database, "admin", "api-key", "create", "--scope", "admin").stdout)
    try:
        async with httpx.AsyncClient(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as http:
            before = (await http.get("/api/wallet/system/diagnostics")).status_code
            revoked = nctool(database, "admin", "api-key", "revoke", key_id)
            after = (await http.get("/api/wallet/system/diagnostics")).status_code
    finally:
        await service.stop()
    assert before == 200
    assert revoked.returncode == 0
    assert after == 401


def test_create_and_revoke_are_audited(tmp_path):
    database = tmp_path / "keys.db"
    _key, key_id = created_key(nctool(database, "admin", "api-key", "create", "--scope", "admin").stdout)
    nctool(database, "admin", "api-key", "revoke", key_id)
    with sqlite3.connect(database) as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")]
        details = [row[0] for row in db.execute("SELECT details FROM audit_log ORDER BY id")]
    assert actions == ["api_key_created", "api_key_revoked"]
    assert all(key_id in detail for detail in details)
