"""Metrics are counted where things happen, with bounded labels and Prometheus names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from nctool.observability import metrics
from nctool.ops.mintcheck import probe_mint

from .conftest import run_command

SRC = Path(__file__).resolve().parents[2] / "src" / "nctool"


async def test_paid_melt_counts_attempt(paid_melt):
    assert paid_melt.response.status_code == 200
    assert paid_melt.delta("melt_attempts_total", amount_range="1-100") == 1


async def test_paid_melt_counts_success(paid_melt):
    change = "with_change" if paid_melt.body["changeAmount"] else "no_change"
    assert paid_melt.delta("melt_success_total", change=change) == 1


async def test_paid_melt_counts_no_failure(paid_melt):
    assert paid_melt.delta("melt_failures_total") == 0


async def test_paid_melt_observes_duration(paid_melt):
    assert paid_melt.delta("melt_operation_duration_seconds_count") == 1


async def test_paid_melt_observes_each_stage(paid_melt):
    for stage in ("selection", "preflight", "mint", "db_update"):
        assert paid_melt.delta("melt_stage_duration_seconds_count", stage=stage) == 1, stage


async def test_paid_melt_times_mint_request(paid_melt):
    assert paid_melt.delta("mint_request_duration_seconds_count", endpoint="melt", outcome="success") == 1


async def test_paid_melt_times_settle_transaction(paid_melt):
    assert paid_melt.delta("db_transaction_duration_seconds_count", name="melt_settle") == 1


async def test_insufficient_balance_counts_low_failure(low_balance_melt):
    assert low_balance_melt.response.status_code == 402
    assert low_balance_melt.delta("melt_failures_total", error_code="INSUFFICIENT_BALANCE", severity="LOW") == 1


async def test_insufficient_balance_counts_no_success(low_balance_melt):
    assert low_balance_melt.delta("melt_success_total") == 0


async def test_failed_payment_counts_medium_failure(failed_payment):
    code = failed_payment.body["code"]
    assert failed_payment.response.status_code == 502
    assert failed_payment.delta("melt_failures_total", error_code=code, severity="MEDIUM") == 1


async def test_preflight_block_counts_block(blocked_melt):
    assert blocked_melt.response.status_code == 409
    assert blocked_melt.delta("proof_reconciliation_blocked_total") == 1


async def test_preflight_block_counts_discrepancy(blocked_melt):
    assert blocked_melt.delta("proof_discrepancies_total", type="DB_UNSPENT_MINT_SPENT", severity="HIGH") == 1


async def test_preflight_block_counts_high_failure(blocked_melt):
    delta = blocked_melt.delta("melt_failures_total", error_code="HIGH_SEVERITY_DISCREPANCIES", severity="HIGH")
    assert delta == 1


async def test_critical_failure_counts_critical_error(critical_melt):
    assert critical_melt.response.status_code == 500
    delta = critical_melt.delta("melt_critical_errors_total", error_code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS")
    assert delta >= 1


async def test_critical_failure_counts_rollback(critical_melt):
    assert critical_melt.delta("db_transaction_rollbacks_total", name="melt_settle") >= 1


async def test_mint_down_counts_unreachable_request(mint_down_melt):
    assert mint_down_melt.response.status_code == 502
    delta = mint_down_melt.delta("mint_request_duration_seconds_count", endpoint="melt_quote", outcome="unreachable")
    assert delta == 1


async def test_mint_down_counts_failure(mint_down_melt):
    delta = mint_down_melt.delta("melt_failures_total", error_code="MINT_UNREACHABLE", severity="MEDIUM")
    assert delta == 1


async def test_mint_down_sets_mint_up_to_zero(down_service):
    probe = await probe_mint(down_service.services)
    # Read without an await in between, so no other service's mint request can set the gauge first.
    assert metrics.gauge_value(metrics.MINT_UP) == 0
    assert probe.ok is False


async def test_http_request_counted_by_route_template(stack, npub):
    await stack.api.create(npub)
    route = "/api/wallet/*/balance"
    before = metrics.sample_sum(metrics.HTTP_REQUESTS, "_total", route=route, status="200")
    await stack.api.balance(npub)
    assert metrics.sample_sum(metrics.HTTP_REQUESTS, "_total", route=route, status="200") == before + 1


async def test_unknown_path_counted_as_unmatched(stack):
    before = metrics.sample_sum(metrics.HTTP_REQUESTS, "_total", route="unmatched", status="404")
    await stack.api.call("GET", "/no/such/path")
    assert metrics.sample_sum(metrics.HTTP_REQUESTS, "_total", route="unmatched", status="404") == before + 1


async def test_no_series_carries_a_user(paid_melt, stack):
    text = (await stack.api.call("GET", "/metrics")).text
    assert [line for line in text.splitlines() if not line.startswith("#") and "npub" in line] == []
    for name, labels, _ in paid_melt.after.samples:
        assert not {"npub_hash", "wallet", "wallet_id"} & set(labels), name


def _nctool_metrics() -> list[MetricWrapperBase]:
    return [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]


def test_metrics_follow_prometheus_naming():
    for metric in _nctool_metrics():
        family = metric.collect()[0]
        if family.type == "counter":
            assert {s.name for s in family.samples} <= {f"{family.name}_total", f"{family.name}_created"}, family.name
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_sats")), family.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", family.name), family.name


def test_slo_thresholds_are_bucket_edges():
    for threshold in (0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0):
        assert threshold in metrics.SLO_BUCKETS, threshold


async def test_known_label_sets_export_zero_at_start():
    script = (
        "from prometheus_client import generate_latest\n"
        "from nctool.observability import metrics\n"
        "metrics.init_label_sets()\n"
        "print(generate_latest().decode())\n"
    )
    result = await run_command([sys.executable, "-c", script])
    text = result.stdout
    assert result.returncode == 0, result.stderr
    expected = [
        'melt_attempts_total{amount_range="1-100"} 0.0',
        'melt_success_total{change="no_change"} 0.0',
        'melt_failures_total{error_code="INSUFFICIENT_BALANCE",severity="LOW"} 0.0',
        'melt_critical_errors_total{error_code="CRITICAL_DB_FAILURE_AFTER_MINT_SUCCESS"} 0.0',
        'proof_discrepancies_total{severity="HIGH",type="DB_UNSPENT_MINT_SPENT"} 0.0',
        'db_transaction_rollbacks_total{name="melt_settle"} 0.0',
        'mint_request_duration_seconds_count{endpoint="melt",outcome="timeout"} 0.0',
        'melt_stage_duration_seconds_count{stage="db_update"} 0.0',
        'stuck_operations{kind="melt"} 0.0',
        "melts_halted 0.0",
    ]
    for line in expected:
        assert line in text


def test_every_transaction_name_is_created_at_start():
    used = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r"\.(?:transaction|run)\(\s*\"([a-z_]+)\"", path.read_text()))
    assert sorted(used - set(metrics.DB_TRANSACTION_NAMES)) == []


def test_histogram_quantile_interpolates_inside_bucket():
    buckets = [(1.0, 0.0), (2.0, 10.0), (float("inf"), 10.0)]
    assert metrics._quantile_from_buckets(0.5, buckets) == 1.5


def test_histogram_quantile_without_observations_is_none():
    assert metrics._quantile_from_buckets(0.95, [(1.0, 0.0), (float("inf"), 0.0)]) is None
