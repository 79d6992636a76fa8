"""The machine and software versions a benchmark ran on."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nctool.testing.postgres import PostgresUnavailable, find_bin_dir


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    ram_gib: float
    python: str
    sqlite: str
    postgresql: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    duration_s: float


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        if match:
            return match.group(1).strip()
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        if match:
            return int(match.group(1)) / 1024 / 1024
    return 0.0


def _postgres_version() -> str:
    try:
        binary = find_bin_dir() / "postgres"
    except PostgresUnavailable:
        return "not installed"
    # A fixed argument list, no shell.
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.strip() or "unknown"


def describe_machine(
    load_before: tuple[float, float, float], load_after: tuple[float, float, float], duration_s: float
) -> Machine:
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram_gib=_ram_gib(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        postgresql=_postgres_version(),
        load_before=load_before,
        load_after=load_after,
        duration_s=duration_s,
    )
