"""Deployment assets: the systemd unit, logrotate and cron files agree with what nctool does."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import DEPLOY, run_command

UNIT = DEPLOY / "systemd" / "nctool.service"
LOGROTATE = DEPLOY / "logrotate" / "nctool"
CRON = DEPLOY / "cron" / "nctool"
NCTOOL = Path(sys.executable).parent / "nctool"


def _cron_entries() -> list[str]:
    lines = [line.strip() for line in CRON.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#") and "=" not in line.split()[0]]


async def test_systemd_unit_verifies(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "nctool.service"
    unit.write_text(UNIT.read_text().replace("/opt/nctool/.venv/bin/nctool", str(NCTOOL)))
    result = await run_command([analyze, "verify", str(unit)])
    assert result.returncode == 0, result.stderr


def test_systemd_reload_sends_sighup():
    assert "ExecReload=/bin/kill -HUP $MAINPID" in UNIT.read_text()


def test_logrotate_rotates_the_unit_log_file():
    log_file = re.search(r"NCTOOL_LOG_FILE=(\S+)", UNIT.read_text())
    assert log_file is not None
    assert f"{log_file.group(1)} {{" in LOGROTATE.read_text()


def test_logrotate_reloads_the_service():
    postrotate = LOGROTATE.read_text().split("postrotate", 1)[1].split("endscript", 1)[0]
    assert "systemctl reload nctool" in postrotate


def test_cron_checks_health_every_five_minutes():
    health = [e for e in _cron_entries() if "/health" in e]
    assert health
    assert health[0].startswith("*/5 * * * * nctool ")


def test_cron_checks_alerts_every_five_minutes():
    alerts = [e for e in _cron_entries() if "check-alerts" in e]
    assert alerts
    assert alerts[0].startswith("*/5 * * * * nctool ")


def test_cron_runs_daily_report():
    report = [e for e in _cron_entries() if "ops report daily" in e]
    assert report
    assert report[0].startswith("0 6 * * * nctool ")


def test_cron_entries_escape_percent():
    # cron turns an unescaped % into a newline.
    for entry in _cron_entries():
        assert re.search(r"(?<!\\)%", entry) is None, entry


def test_cron_entries_have_schedule_and_user():
    for entry in _cron_entries():
        fields = entry.split()
        assert len(fields) > 6, entry
        assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), entry
        assert fields[5] == "nctool", entry
