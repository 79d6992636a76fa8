"""`nctool ops` commands for recovery, reconciliation, the ledger check and maintenance.

They work on the database and the mint directly (NCTOOL_DATABASE_URL, NCTOOL_MINT_URL), so
they also run while the service is down. Every change they make is in the audit log.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress as RichProgress

from nctool.cashu.errors import MintError
from nctool.cli.ops import ops_app
from nctool.config import get_settings
from nctool.errors import InputError, NctoolError
from nctool.observability.logging import configure_logging, get_logger
from nctool.ops import breaker, corrections, maintenance
from nctool.ops.check import run_check
from nctool.ops.reconcile import reconcile
from nctool.ops.recovery import recover
from nctool.ops.restore import restore_wallet
from nctool.wallet.services import Services

console = Console(stderr=True)
log = get_logger()
T = TypeVar("T")

JSON_OPTION = typer.Option(False, "--json", help="print the result as JSON")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """Parse 30d, 12h, 90m or 45s."""
    match = _DURATION.match(value)
    if not match:
        raise typer.BadParameter(f"{value!r} is not a duration; write it as 30d, 12h, 90m or 45s")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _run(work: Callable[[Services], Awaitable[T]]) -> T:
    """Run one command against the database and mint of the current settings."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_file, stream=sys.stderr)

    async def main() -> T:
        svc = Services.create(settings)
        try:
            if not await svc.db.schema_is_current():
                console.print("[red]the database schema is not current; run `nctool db upgrade` first[/red]")
                raise typer.Exit(2)
            return await work(svc)
        finally:
            await svc.close()

    try:
        return asyncio.run(main())
    except InputError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except (NctoolError, MintError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


def _progress(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """Show a bar on a terminal; log JSON progress lines every 10% otherwise."""
    if sys.stderr.isatty():
        bar = RichProgress(console=console, transient=True)
        task = bar.add_task(label, total=None)
        bar.start()

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return update, bar.stop
    last = [-1]

    def log_update(done: int, total: int) -> None:
        decile = done * 10 // max(total, 1)
        if decile != last[0]:
            last[0] = decile
            log.info("Progress", job=label, done=done, total=total)

    return log_update, lambda: None


def _emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        typer.echo(human)


@ops_app.command("recover")
def recover_command(
    npub: str = typer.Option(None, help="only this wallet's operations"),
    max_age: str = typer.Option(None, help="only operations older than this (30d, 12h, 90m, 45s)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="ask the mint and say what would be done; change nothing"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Resolve every open operation (melt, mint) from the journal and the mint's responses."""
    age = parse_duration(max_age) if max_age else None
    report = _run(lambda svc: recover(svc, npub=npub, min_age=age, dry_run=dry_run))
    lines = [
        f"{'dry run: ' if dry_run else ''}processed {report.processed}, recovered {report.recovered}, "
        f"pending {report.pending}, failed {report.failed}"
    ]
    lines += [
        f"  {d.transactionId} {d.kind} {d.state} -> {d.action}{' ' + d.error if d.error else ''}"
        for d in report.details
    ]
    _emit(report.as_dict(), as_json, "\n".join(lines))
    if report.failed:
        raise typer.Exit(1)


@ops_app.command("check")
def check_command(
    trip: bool = typer.Option(False, "--trip-breaker", help="halt melts when money is missing"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify every ledger invariant; exit 1 with a report when anything is wrong."""
    report = _run(lambda svc: run_check(svc, trip_breaker=trip))
    human = [
        f"ledger check: {report.wallets} wallets, {report.proofs} proofs, "
        f"{'clean' if report.clean else f'{len(report.findings)} findings'}"
    ]
    human += [f"  [{f.severity}] {f.check}: {f.detail}{' (' + f.npub + ')' if f.npub else ''}" for f in report.findings]
    _emit(report.as_dict(), as_json, "\n".join(human))
    if not report.clean:
        raise typer.Exit(1)


@ops_app.command("reconcile")
def reconcile_command(
    npub: str = typer.Argument(None, help="the wallet to reconcile; omit with --all"),
    all_wallets: bool = typer.Option(False, "--all", help="every wallet"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report discrepancies, correct nothing"),
    include_spent: bool = typer.Option(False, "--include-spent", help="also check proofs recorded spent"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare proofs with the mint's checkstate in batches and correct what is safe to correct."""
    if bool(npub) == all_wallets:
        raise typer.BadParameter("give one NPUB or --all")
    update, done = _progress("reconcile")
    try:
        report = _run(
            lambda svc: reconcile(svc, npub=npub, dry_run=dry_run, include_spent=include_spent, progress=update)
        )
    finally:
        done()
    human = (
        f"{'dry run: ' if dry_run else ''}{report.wallets} wallets, {report.checked} proofs checked; "
        f"discrepancies {dict(report.discrepancies) or 'none'}; actions {dict(report.actions) or 'none'}"
    )
    _emit(report.as_dict(), as_json, human)


@ops_app.command("mark-spent")
def mark_spent_command(
    y: list[str] = typer.Option(..., "--y", help="Y of a proof (repeat for several); never a secret"),
    force: bool = typer.Option(False, "--force", help="mark even if the mint does not report it spent"),
    reason: str = typer.Option(None, help="why; required with --force, stored in the audit log"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Mark proofs spent, only where the mint confirms they are spent."""
    results = _run(lambda svc: corrections.mark_spent(svc, y, force=force, reason=reason, operator=getpass.getuser()))
    _emit([asdict(r) for r in results], as_json, "\n".join(f"{r.Y[:20]}... {r.action}: {r.reason}" for r in results))
    if any(r.action == "refused" for r in results):
        raise typer.Exit(1)


@ops_app.command("resume-melts")
def resume_melts_command(
    reason: str = typer.Option("investigated", help="recorded in the audit log"), as_json: bool = JSON_OPTION
) -> None:
    """Clear the melt breaker so that new melts are accepted again."""
    was_set = _run(lambda svc: breaker.resume(svc, by=getpass.getuser(), reason=reason))
    _emit({"resumed": was_set}, as_json, "melts resumed" if was_set else "melts were not halted")


@ops_app.command("cleanup")
def cleanup_command(
    failed_older_than: str = typer.Option("30d", help="age of failed and expired operations to delete"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count only"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete old failed and expired operations that moved no money."""
    age = parse_duration(failed_older_than)
    result = _run(lambda svc: maintenance.cleanup_failed(svc, age, dry_run=dry_run))
    verb = "would delete" if dry_run else "deleted"
    removable = result.matched - result.kept_with_fees
    _emit(
        result.as_dict(),
        as_json,
        f"{result.matched} old failed or expired operations: {removable} {verb}, "
        f"{result.kept_with_fees} kept because they paid fees",
    )


@ops_app.command("archive-audit")
def archive_audit_command(
    older_than: str = typer.Option("30d", help="age of audit entries to move to audit_log_archive"),
    dry_run: bool = typer.Option(False, "--dry-run", help="count only"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Move old audit entries into audit_log_archive (moved, not deleted)."""
    age = parse_duration(older_than)
    update, done = _progress("archive-audit")
    try:
        moved = _run(lambda svc: maintenance.archive_audit(svc, age, dry_run=dry_run, progress=update))
    finally:
        done()
    _emit(
        {"moved": 0 if dry_run else moved, "matched": moved, "dryRun": dry_run},
        as_json,
        f"{'would move' if dry_run else 'moved'} {moved} audit entries to audit_log_archive",
    )


@ops_app.command("db-stats")
def db_stats_command(as_json: bool = JSON_OPTION) -> None:
    """Row counts, sizes and index usage of the ledger tables."""
    stats = _run(maintenance.db_stats)
    human = [f"{stats['engine']}" + (f", {stats['databaseBytes']} bytes" if "databaseBytes" in stats else "")]
    human += [
        f"  {name}: {info['rows']} rows" + (f", {info['bytes']} bytes" if "bytes" in info else "")
        for name, info in stats["tables"].items()
    ]
    _emit(stats, as_json, "\n".join(human))


@ops_app.command("restore")
def restore_command(
    npub: str = typer.Argument(..., help="the wallet to restore"),
    seed_file: Path = typer.Option(None, help="file with the backed-up seed in hex; default: the stored seed"),
    dry_run: bool = typer.Option(False, "--dry-run", help="scan and report, store nothing"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recover a wallet's unspent proofs from its NUT-13 seed (NUT-09 restore)."""
    seed = _read_seed(seed_file) if seed_file else None
    report = _run(lambda svc: restore_wallet(svc, npub, seed=seed, dry_run=dry_run))
    human = (
        f"{'dry run: ' if dry_run else ''}scanned {report.scanned} counters in {report.keysets} keysets; "
        f"{report.signed} signed, {report.unspent} unspent, {report.already_known} already in the ledger; "
        f"restored {report.restored_amount} sat"
    )
    _emit(report.as_dict(), as_json, human)


def _read_seed(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path} must contain the seed as hex: {exc.__class__.__name__}") from exc
