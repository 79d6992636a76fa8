"""POST /api/wallet/system/check-alerts: an alert for operations open past the threshold."""

from __future__ import annotations

from datetime import timedelta

from nctool.testing.lightning import make_npub

from .conftest import insert_operation, log_lines

PATH = "/api/wallet/system/check-alerts"


async def test_no_stuck_operations_sends_no_alert(idle_api):
    response = await idle_api.call("POST", PATH)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["alertSent"] is False
    assert "alert" not in body


async def test_stuck_operation_sends_alert(quiet_service, quiet_api):
    stuck = await insert_operation(quiet_service, make_npub(), state="melt_pending", age=timedelta(hours=2))
    body = (await quiet_api.call("POST", PATH)).json()
    alert = body["alert"]
    assert body["alertSent"] is True
    assert alert["type"] == "STUCK_OPERATIONS"
    assert alert["severity"] == "HIGH"
    assert alert["count"] == 1
    assert "nctool ops recover" in alert["action"]
    assert alert["message"]
    assert alert["timestamp"]
    assert [op["transactionId"] for op in alert["operations"]] == [stuck.id]


async def test_final_operations_are_not_stuck(quiet_service, quiet_api):
    for state in ("completed", "failed", "expired"):
        await insert_operation(quiet_service, make_npub(), state=state, age=timedelta(hours=5))
    body = (await quiet_api.call("POST", PATH)).json()
    assert body["alertSent"] is False


async def test_day_old_operation_is_critical(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), kind="mint", state="pending", age=timedelta(days=2))
    alert = (await quiet_api.call("POST", PATH)).json()["alert"]
    assert alert["severity"] == "CRITICAL"
    assert alert["countByKind"] == {"mint": 1}


async def test_threshold_minutes_sets_the_age(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), state="melt_sent", age=timedelta(minutes=30))
    default = (await quiet_api.call("POST", PATH)).json()
    shorter = (await quiet_api.call("POST", f"{PATH}?thresholdMinutes=10")).json()
    assert default["alertSent"] is False
    assert shorter["alertSent"] is True
    assert shorter["thresholdMinutes"] == 10


async def test_alert_is_logged(quiet_service, quiet_api, log_file):
    stuck = await insert_operation(quiet_service, make_npub(), state="swap_sent", age=timedelta(hours=3))
    await quiet_api.call("POST", PATH)
    line = [e for e in log_lines(log_file, "Stuck operations alert") if stuck.id in e["transactionIds"]][-1]
    assert line["count"] == 1
    assert line["level"] == "warning"


async def test_invalid_threshold_is_400(idle_api):
    for value in ("0", "-5", "abc", "1.5", "100000"):
        response = await idle_api.call("POST", f"{PATH}?thresholdMinutes={value}")
        body = response.json()
        assert response.status_code == 400, value
        assert body["code"] == "VALIDATION_ERROR", value
        assert "thresholdMinutes" in body["details"][0], value


async def test_metrics_export_stuck_gauge(quiet_service, quiet_api):
    await insert_operation(quiet_service, make_npub(), state="melt_sent", age=timedelta(hours=2))
    text = (await quiet_api.call("GET", "/metrics")).text
    assert 'stuck_operations{kind="melt"} 1.0' in text
