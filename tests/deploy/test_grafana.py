"""The Grafana dashboard: valid, covers the runbook's KPIs, and queries only exported metrics."""

from __future__ import annotations

import json
from typing import Any

from .conftest import DEPLOY, missing_from, recorded_names, selectors

DASHBOARD = DEPLOY / "grafana" / "nctool.json"


def _panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return [p for p in panels if p["type"] != "row"]


def _expressions() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel.get("targets", [])]


def test_dashboard_panels_have_queries():
    assert _panels()
    assert all(panel.get("targets") for panel in _panels())


def test_dashboard_panel_ids_are_unique():
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


async def test_dashboard_queries_exported_metrics(exposition):
    assert missing_from(exposition, _expressions()) == []


def test_dashboard_recording_rules_are_defined():
    used = {name for expr in _expressions() for name, _ in selectors(expr) if ":" in name}
    assert used
    assert used <= recorded_names()


# The runbook's KPIs: success rate, p95 by stage, discrepancy rate, critical errors, mint
# latency and availability, pending operations.
RUNBOOK_KPI_METRICS = [
    "melt_success_total",
    "melt_stage_duration_seconds_bucket",
    "proof_discrepancies_total",
    "melt_critical_errors_total",
    "mint_request_duration_seconds_bucket",
    "mint_up",
    "pending_operations",
]


def test_dashboard_shows_runbook_kpis():
    queried = {name for expr in _expressions() for name, _ in selectors(expr)}
    assert [metric for metric in RUNBOOK_KPI_METRICS if metric not in queried] == []
