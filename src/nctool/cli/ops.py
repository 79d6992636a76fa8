"""`nctool ops`: operator commands that work on the database and the mint directly.

Commands are registered by the modules that own them (`ops_observability`, `ops_recovery`),
so that each concern stays in its own file.
"""

from __future__ import annotations

import typer

ops_app = typer.Typer(
    help="Operator commands: checks, recovery, reconciliation, reports, maintenance.", no_args_is_help=True
)
