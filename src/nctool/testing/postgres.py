"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests and benchmarks.

The cluster lives in a temporary directory, listens on a free port on 127.0.0.1 only, and runs
without fsync: it contains nothing worth keeping. As root, the server runs as the `postgres` user,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from nctool.devmint import free_port


class PostgresUnavailable(RuntimeError):
    """Raised when the PostgreSQL server binaries are missing or the cluster does not start."""


def find_bin_dir() -> Path:
    """Return the directory holding initdb and pg_ctl: NCTOOL_PG_BIN, Debian's newest, or PATH."""
    explicit = os.environ.get("NCTOOL_PG_BIN")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them with `make postgres` "
        "(Debian package postgresql) or point NCTOOL_PG_BIN at their directory."
    )


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name.split(".")[0])
    except ValueError:
        return 0


class PostgresCluster:
    """initdb, start, create databases, stop."""

    def __init__(self, root: Path, *, port: int | None = None, max_connections: int = 400):
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()
        self.max_connections = max_connections
        self.bin = find_bin_dir()
        self._as_postgres = os.geteuid() == 0
        self._created = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Fixed argument lists built here, no shell.
        return subprocess.run(command, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL)  # noqa: S603

    def start(self) -> PostgresCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root needs a `postgres` user to run the server") from exc
            os.chown(self.root, user.pw_uid, user.pw_gid)
            # The server must be able to reach its directory through every parent.
            parent = self.root.parent
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = parent.parent
        init = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", check=False
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections}"
        )
        started = self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "start", check=False,
        )  # fmt: skip
        if started.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {started.stderr.strip()}\n{log[-2000:]}")
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        if name is None:
            self._created += 1
            name = f"nctool_{os.getpid()}_{self._created}_{int(time.time() * 1000) % 100000}"
        result = self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name, check=False
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"createdb {name} failed: {result.stderr.strip()}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
