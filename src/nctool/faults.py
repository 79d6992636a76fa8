"""Crash points for crash tests: the process exits at once where NCTOOL_CRASH_AT names the point.

Unset in production. Tests set it on a service subprocess to stop it at a chosen step of a
money operation, then check that a restarted service recovers from the journal alone.
"""

from __future__ import annotations

import os

CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    if os.environ.get("NCTOOL_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)
