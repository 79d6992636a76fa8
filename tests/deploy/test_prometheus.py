"""Alert and recording rules: valid, unit-tested with promtool, and written on metrics nctool exports."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .conftest import DEPLOY, PROMETHEUS, CommandResult, missing_from, rule_fields, rule_files, run_command

DOCS = DEPLOY.parent / "docs"

RUNBOOK_ALERTS = [
    "CriticalMeltFailures",
    "DatabaseTransactionFailures",
    "ProofStateReconciliationFailures",
    "MeltSuccessRateDrop",
    "HighMeltOperationDuration",
    "ProofStateDiscrepancies",
    "BalanceInconsistencies",
]
BURN_RATE_ALERTS = [
    f"Melt{slo}BudgetBurn{speed}" for slo in ("Success", "Latency") for speed in ("Fast", "Slow", "Ticket")
]
SERVICE_ALERTS = ["MintDown", "MeltsHalted", "OperationsStuck", "JobStale"]


async def _promtool(*args: str, cwd: Path = PROMETHEUS, stdin: str = "") -> CommandResult:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found; `make promtool` installs it (Debian package prometheus)"
    return await run_command([promtool, *args], cwd=cwd, stdin=stdin)


def _alert_names() -> set[str]:
    return {name for path in rule_files() for name in rule_fields(path, "alert")}


async def test_rule_files_pass_promtool_check():
    result = await _promtool("check", "rules", *[p.name for p in rule_files()])
    assert result.returncode == 0, result.stdout + result.stderr


async def test_rule_unit_tests_pass():
    tests = sorted(p.name for p in (PROMETHEUS / "tests").glob("*.yml"))
    result = await _promtool("test", "rules", *tests, cwd=PROMETHEUS / "tests")
    assert tests
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_are_defined():
    required = RUNBOOK_ALERTS + BURN_RATE_ALERTS + SERVICE_ALERTS
    assert [alert for alert in required if alert not in _alert_names()] == []


def test_every_alert_has_unit_test():
    tests = "".join(p.read_text() for p in (PROMETHEUS / "tests").glob("*.yml"))
    assert sorted(alert for alert in _alert_names() if f"alertname: {alert}\n" not in tests) == []


async def test_example_scrape_config_passes_promtool_check(tmp_path: Path):
    config = (PROMETHEUS / "scrape" / "nctool-scrape.yml").read_text()
    local = config.replace("/etc/prometheus/nctool/", f"{PROMETHEUS}/")
    (tmp_path / "prometheus.yml").write_text(local)
    result = await _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_rules_select_exported_metrics(exposition):
    expressions = [expr for path in rule_files() for expr in rule_fields(path, "expr")]
    assert missing_from(exposition, expressions) == []


async def test_latency_slo_bucket_is_exported(exposition):
    assert 'melt_operation_duration_seconds_bucket{le="3.0"}' in exposition


async def test_exposition_passes_promtool_check_metrics(exposition):
    result = await _promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0, result.stdout + result.stderr


def _anchors(markdown: str) -> set[str]:
    """Return the GitHub anchors of the document's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_alert_runbook_links_resolve():
    anchors = _anchors((DOCS / "observability.md").read_text())
    links = {link for path in rule_files() for link in rule_fields(path, "runbook")}
    assert links
    assert sorted(link for link in links if link.split("#", 1)[1] not in anchors) == []
