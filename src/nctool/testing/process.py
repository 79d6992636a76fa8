"""nctool as a separate process, for tests that kill it and start it again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from nctool.devmint import free_port
from nctool.store.database import Database
from nctool.testing.credentials import create_admin_key, register


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    async def exited(self, timeout: float = 20.0) -> int:
        for _ in range(int(timeout / 0.1)):
            if self.process.poll() is not None:
                return self.process.returncode
            await asyncio.sleep(0.1)
        raise TimeoutError("nctool did not exit")


async def start_process(mint_url: str, database_url: str, log_dir: Path, **env: str) -> ServiceProcess:
    """Start `nctool serve` on a free port and wait until /readyz responds.

    Authentication is on unless `env` turns it off; an admin key is created in the database first
    and registered for `ApiClient(url)`. The rate limit is off unless `env` sets it.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if env.get("NCTOOL_AUTH_DISABLED", os.environ.get("NCTOOL_AUTH_DISABLED", "0")) in ("0", "false", ""):
        db = Database(database_url)
        try:
            register(url, await create_admin_key(db))
        finally:
            await db.dispose()
    full_env = {
        **os.environ,
        "NCTOOL_MINT_URL": mint_url,
        "NCTOOL_DATABASE_URL": database_url,
        "NCTOOL_PORT": str(port),
        "NCTOOL_LOG_FILE": str(log_dir / "nctool.jsonl"),
        "NCTOOL_WORKER_INTERVAL_SECONDS": "0.2",
        "NCTOOL_LEASE_SECONDS": "2",
        "NCTOOL_MELT_POLL_MAX_SECONDS": "1",
        "NCTOOL_RATE_LIMIT_PER_MINUTE": "0",
        **env,
    }
    log = (log_dir / f"service-{port}.log").open("ab")
    process = subprocess.Popen(  # noqa: ASYNC220  # returns at once; this interpreter, our own module
        [sys.executable, "-m", "nctool.cli.main", "serve"], env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"nctool exited with {process.returncode}; see {log_dir}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return ServiceProcess(url, process)
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"nctool did not become ready on {url}")
