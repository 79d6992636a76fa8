"""`nctool ops mint-check`: the runbook's connectivity test, with timings, logged as the runbook reads it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from nctool.devmint import free_port

from .conftest import CommandResult, run_command

NCTOOL = [sys.executable, "-m", "nctool.cli.main", "ops", "mint-check"]


@pytest_asyncio.fixture(scope="module")
async def mint_check(stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[CommandResult, Path]:  # type: ignore[no-untyped-def]
    """One `nctool ops mint-check --json` run against the session's settled mint, and its log file."""
    log = tmp_path_factory.mktemp("mint-check") / "nctool.jsonl"
    result = await run_command(
        [*NCTOOL, "--json"], env={"NCTOOL_MINT_URL": stack.mint.url, "NCTOOL_LOG_FILE": str(log)}
    )
    return result, log


async def test_mint_check_passes_against_running_mint(mint_check):
    result, _ = mint_check
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True
    assert set(report["tests"]) == {"mintInfo", "cashuLibrary", "checkstate"}


async def test_mint_check_logs_runbook_line(mint_check, stack):
    _, log = mint_check
    line = next(json.loads(entry) for entry in log.read_text().splitlines() if "Mint connectivity test" in entry)
    assert line["mintUrl"] == stack.mint.url
    assert line["tests"]["mintInfo"]["duration"] > 0
    assert line["tests"]["cashuLibrary"]["duration"] > 0


async def test_mint_check_fails_when_mint_is_down(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    result = await run_command([*NCTOOL, "--json", "--timeout", "2"], env={"NCTOOL_MINT_URL": url})
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert "error" in report["tests"]["mintInfo"]


async def test_mint_check_prints_table(stack):
    result = await run_command(NCTOOL, env={"NCTOOL_MINT_URL": stack.mint.url, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    assert "mintInfo" in result.stdout
    assert "mint reachable" in result.stdout


async def test_mint_check_rejects_non_http_url():
    result = await run_command([*NCTOOL, "--mint-url", "ftp://127.0.0.1:1"])
    assert result.returncode == 2
    assert "--mint-url" in result.stderr
