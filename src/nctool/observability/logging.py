"""Structured JSON logs to stdout and, when configured, to a file that logrotate may move.

Each line has `timestamp`, `level` and `message`; the messages operators grep for are fixed
strings (see the runbook mapping in docs). Proof secrets never reach a log: callers log Ys.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset({"secret", "secrets", "proofs", "privateKey", "private_key", "nsec", "seed", "r"})


class ReopenableFile:
    """A log file that reopens on request, so that logrotate can move it away.

    `request_reopen` only sets a flag, which makes it safe in a signal handler: the next
    `write` closes the old handle and opens the path anew, under the write lock.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._reopen_requested = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = path.open("a", encoding="utf-8")

    def request_reopen(self) -> None:
        self._reopen_requested = True

    def write(self, line: str) -> None:
        with self._lock:
            if self._reopen_requested:
                self._reopen_locked()
            self._handle.write(line)
            self._handle.flush()

    def reopen(self) -> None:
        with self._lock:
            self._reopen_locked()

    def _reopen_locked(self) -> None:
        self._reopen_requested = False
        self._handle.close()
        self._handle = self.path.open("a", encoding="utf-8")


class _TeeLogger:
    def __init__(self, targets: list[Any]):
        self._targets = targets

    def msg(self, line: str) -> None:
        for target in self._targets:
            target.write(line + "\n")
            if hasattr(target, "flush"):
                target.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _drop_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SECRET_KEYS.intersection(event):
        # Counts and amounts under these names carry no secret; everything else is redacted.
        if isinstance(event[key], bool) or not isinstance(event[key], int | float):
            event[key] = "[redacted]"
    return event


def _rename_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["message"] = event.pop("event", "")
    return event


_log_file: ReopenableFile | None = None


def _on_sighup(_signum: int, _frame: Any) -> None:
    # A signal handler may interrupt a write that has acquired the file's lock, so it only sets a flag.
    if _log_file is not None:
        _log_file.request_reopen()


def configure_logging(level: str = "INFO", log_file: Path | None = None, stream: TextIO | None = None) -> None:
    """Send JSON lines to stdout (or `stream`) and to `log_file`; SIGHUP reopens the file."""
    global _log_file
    targets: list[Any] = [stream or sys.stdout]
    _log_file = ReopenableFile(log_file) if log_file else None
    if _log_file is not None:
        targets.append(_log_file)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, _on_sighup)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _drop_secrets,
            _rename_event,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_: _TeeLogger(targets),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    """Return a lazy logger: it picks up the configuration at its first use, not at import."""
    return structlog.get_logger(**context)
