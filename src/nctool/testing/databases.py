"""Fresh empty databases for tests, on SQLite or on a throwaway PostgreSQL cluster.

NCTOOL_TEST_DATABASE selects the engine for a whole test run: `sqlite` (the default) or
`postgresql`. Every test that needs its own database gets it from `TestDatabases.new_url`, so
the same suite runs unchanged on both engines.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from nctool.testing.postgres import PostgresCluster

ENGINES = ("sqlite", "postgresql")


def selected_engine() -> str:
    """Return the engine named by NCTOOL_TEST_DATABASE, or raise ValueError for an unknown one."""
    engine = os.environ.get("NCTOOL_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
    if engine not in ENGINES:
        raise ValueError(f"NCTOOL_TEST_DATABASE={engine!r} is invalid; use one of {', '.join(ENGINES)}")
    return engine


class TestDatabases:
    """Factory of empty test databases. On PostgreSQL all of them are in one cluster."""

    __test__ = False  # not a pytest test class

    def __init__(self, engine: str, root: Path):
        self.engine = engine
        self.root = root
        self._cluster: PostgresCluster | None = None
        self._cluster_root: Path | None = None
        self._count = 0

    def start(self) -> TestDatabases:
        """Start the PostgreSQL cluster when that engine is selected, or raise PostgresUnavailable."""
        if self.engine == "postgresql" and self._cluster is None:
            # Outside pytest's temporary tree: every pytest session that starts resets that tree's
            # top directory to mode 0700, which would lock the `postgres` user out of the cluster.
            self._cluster_root = Path(tempfile.mkdtemp(prefix="nctool-pg-"))
            self._cluster = PostgresCluster(self._cluster_root).start()
        return self

    @property
    def cluster(self) -> PostgresCluster | None:
        return self._cluster

    def new_url(self, name: str) -> str:
        """Create an empty database for `name` (a short label for logs and file names) and return its URL."""
        self._count += 1
        label = re.sub(r"[^a-z0-9_]", "_", name.lower())[:30] or "db"
        if self._cluster is not None:
            return self._cluster.create_database(f"{label}_{self._count}")
        directory = self.root / "sqlite" / f"{self._count}-{label}"
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory}/nctool.db"

    def stop(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None
        if self._cluster_root is not None:
            shutil.rmtree(self._cluster_root, ignore_errors=True)
            self._cluster_root = None
