"""nctool refuses to serve without authentication on a public address, or without a secret key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nctool.config import Settings
from nctool.security.startup import UnsafeSettingsError, check_serving_settings, is_loopback
from nctool.testing.lightning import make_npub
from nctool.testing.service import start_service


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "NCTOOL_DATABASE_URL": f"sqlite:///{tmp_path}/nctool.db",
        "NCTOOL_PORT": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "nctool.cli.main", "serve"],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_auth_disabled_on_public_address(tmp_path):
    result = serve(tmp_path, NCTOOL_HOST="0.0.0.0", NCTOOL_AUTH_DISABLED="1")  # noqa: S104  # it must refuse
    assert result.returncode == 2
    assert "NCTOOL_AUTH_DISABLED" in result.stderr


def test_serve_refuses_without_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NCTOOL_SECRET_KEY_FILE"}
    result = subprocess.run(
        [sys.executable, "-m", "nctool.cli.main", "serve"],
        env={**env, "NCTOOL_DATABASE_URL": f"sqlite:///{tmp_path}/nctool.db", "NCTOOL_PORT": "1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "nctool admin secret-key generate" in result.stderr.replace("\n", " ")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_allow_auth_disabled(host):
    assert is_loopback(host)
    check_serving_settings(Settings(host=host, auth_disabled=True))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "wallet.example.com"])  # noqa: S104  # rejected hosts
def test_other_hosts_reject_auth_disabled(host):
    with pytest.raises(UnsafeSettingsError, match="loopback"):
        check_serving_settings(Settings(host=host, auth_disabled=True))


async def test_auth_disabled_logs_a_warning_and_opens_wallets(stack, tmp_path, log_file):
    service = await start_service(
        stack.mint.url, f"sqlite:///{tmp_path}/open.db", worker_enabled=False, auth_disabled=True
    )
    try:
        async with httpx.AsyncClient(base_url=service.url) as http:
            status = (await http.get(f"/api/wallet/{make_npub()}/balance")).status_code
    finally:
        await service.stop()
    warnings = [json.loads(line) for line in log_file.read_text().splitlines() if "Authentication is disabled" in line]
    assert status == 404
    assert warnings[-1]["level"] == "warning"
