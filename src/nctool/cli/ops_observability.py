"""`nctool ops mint-check` and `nctool ops report daily`: the runbook's connectivity test and daily report."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, datetime, timedelta

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from nctool.cli.ops import ops_app
from nctool.config import Settings, get_settings
from nctool.errors import NctoolError
from nctool.observability.logging import configure_logging
from nctool.ops.mintcheck import PROBE_TIMEOUT_SECONDS, ConnectivityReport, connectivity_test
from nctool.ops.report import daily_report, default_report_day, render_markdown
from nctool.store.database import Database
from nctool.store.tables import utcnow

__all__ = ["ops_app"]

console = Console()
error_console = Console(stderr=True)
report_app = typer.Typer(help="Reports read from the database.", no_args_is_help=True)
ops_app.add_typer(report_app, name="report")


def _log_to_stderr_and_file() -> None:
    # Human output goes to stdout; the JSON log line goes to stderr and NCTOOL_LOG_FILE.
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_file, stream=sys.stderr)


def _print_connectivity(report: ConnectivityReport) -> None:
    table = Table("test", "endpoints", "duration (ms)", "result", title=f"mint {report.mint_url}")
    for name, test in report.tests.items():
        result = "[green]ok[/green]" if test["ok"] else f"[red]failed: {test.get('error')}[/red]"
        table.add_row(name, ", ".join(test["endpoints"]), f"{test['duration']:.1f}", result)
    console.print(table)
    verdict = "[green]mint reachable[/green]" if report.ok else "[red]mint check failed[/red]"
    console.print(f"{verdict}; total {report.total_duration:.1f} ms")


@ops_app.command("mint-check")
def mint_check(
    mint_url: str = typer.Option(None, "--mint-url", help="mint base URL; default NCTOOL_MINT_URL"),
    timeout: float = typer.Option(
        PROBE_TIMEOUT_SECONDS, "--timeout", min=0.1, max=120.0, help="seconds each test may take"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Test the mint's endpoints with timings; exit 1 when any test fails."""
    _log_to_stderr_and_file()
    url = (mint_url or get_settings().mint_url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--mint-url")
    report = asyncio.run(connectivity_test(url, timeout=timeout))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        _print_connectivity(report)
    raise typer.Exit(0 if report.ok else 1)


def _parse_day(value: str | None) -> date:
    if value is None:
        return default_report_day()
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint="--date") from exc
    if day > utcnow().date():
        raise typer.BadParameter(f"{value} is in the future; the report covers a past or current UTC day")
    return day


async def _build_report(settings: Settings, day: date) -> dict[str, object]:
    database_url = settings.database_url
    db = Database(database_url)
    try:
        try:
            current = await db.schema_is_current()
        except (SQLAlchemyError, OSError) as exc:
            raise NctoolError(f"cannot open the database at {database_url}: {exc.__class__.__name__}: {exc}") from exc
        if not current:
            raise NctoolError(f"the database at {database_url} is not at the newest schema; run `nctool db upgrade`")
        async with db.read() as conn:
            return await daily_report(conn, day, timedelta(seconds=settings.stuck_after_seconds))
    finally:
        await db.dispose()


@report_app.command("daily")
def report_daily(
    day: str = typer.Option(None, "--date", help="UTC day as YYYY-MM-DD; default yesterday"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of Markdown"),
) -> None:
    """Report one day's volume, success rates, errors and their trend, and melt durations."""
    _log_to_stderr_and_file()
    report_day = _parse_day(day)
    settings = get_settings()
    try:
        report = asyncio.run(_build_report(settings, report_day))
    except NctoolError as exc:
        error_console.print(f"[red]report failed: {exc.message}[/red]")
        raise typer.Exit(1) from exc
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=_json_default) + "\n")
    else:
        sys.stdout.write(render_markdown(report))


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
