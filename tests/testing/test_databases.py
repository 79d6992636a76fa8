"""The test run's database engine: selected by NCTOOL_TEST_DATABASE, never skipped when missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nctool.testing import postgres
from nctool.testing.databases import selected_engine
from nctool.testing.postgres import PostgresUnavailable, find_bin_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("value", "engine"), [("", "sqlite"), ("sqlite", "sqlite"), ("PostgreSQL", "postgresql")])
def test_engine_selected_from_environment(monkeypatch, value, engine):
    monkeypatch.setenv("NCTOOL_TEST_DATABASE", value)
    assert selected_engine() == engine


def test_unknown_engine_is_rejected(monkeypatch):
    monkeypatch.setenv("NCTOOL_TEST_DATABASE", "mysql")
    with pytest.raises(ValueError, match="NCTOOL_TEST_DATABASE='mysql' is invalid"):
        selected_engine()


def test_missing_server_binaries_explain_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("NCTOOL_PG_BIN", str(tmp_path))
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(PostgresUnavailable, match="make postgres"):
        find_bin_dir()


def test_unusable_engine_fails_the_run():
    env = {**os.environ, "NCTOOL_TEST_DATABASE": "mysql"}
    result = subprocess.run(  # noqa: S603  # this interpreter running pytest on a test file of this repository
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "NCTOOL_TEST_DATABASE='mysql' is invalid" in result.stderr
