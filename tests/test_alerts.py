"""The alerts collector against a real Prometheus (rules + backfilled ALERTS history) and Alertmanager."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
import requests

from ctxgrab.api import resolve_window
from ctxgrab.collectors import CollectRequest
from ctxgrab.collectors.alerts import collect, history_from_series, matches, merge_active
from ctxgrab.config import config_from_dict
from ctxgrab.evidence import Status
from ctxgrab.render import environment
from prom_fixtures import (  # noqa: F401 - pytest fixtures
    alertmanager_url,
    prometheus_url,
    scenario,
    victoriametrics_url,
)

AT = "2026-03-02T12:00:00Z"
LABELS = {"service": "payments", "namespace": "prod"}


def request_for(sources: dict[str, Any], timeout_s: float = 5) -> CollectRequest:
    cfg = config_from_dict({
        "defaults": {"since": "12h", "at": AT, "timeout_s": timeout_s},
        "sources": sources,
        "services": {"payments": {"labels": LABELS}},
    })
    now, window, baseline = resolve_window(cfg)
    return CollectRequest("payments", window, baseline, now, cfg.base_dir, cfg, timeout_s=timeout_s)


def run(request: CollectRequest, **params: Any):
    return anyio.run(collect, request, params)


def wait_for(predicate, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def prom_rules_evaluated(prometheus_url: str) -> str:
    def ready() -> bool:
        alerts = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
        states = {a["labels"]["alertname"]: a["state"] for a in alerts}
        return states.get("PaymentsAlwaysFiring") == "firing" and states.get("PaymentsSlowPending") == "pending"

    wait_for(ready, "Prometheus to evaluate its alert rules")
    return prometheus_url


@pytest.fixture(scope="module")
def am_loaded(alertmanager_url: str) -> str:
    now = datetime.now(timezone.utc)
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    alerts = [
        {"labels": {"alertname": "HeapAlmostFull", "severity": "critical", **LABELS},
         "annotations": {"summary": "heap used above 90% of max for 10 minutes"},
         "startsAt": iso(now - timedelta(minutes=12)), "endsAt": iso(now + timedelta(hours=1))},
        {"labels": {"alertname": "PaymentsNoisy", "severity": "info", **LABELS},
         "startsAt": iso(now - timedelta(minutes=3)), "endsAt": iso(now + timedelta(hours=1))},
        {"labels": {"alertname": "LedgerDown", "severity": "critical", "service": "ledger", "namespace": "prod"},
         "startsAt": iso(now - timedelta(minutes=5)), "endsAt": iso(now + timedelta(hours=1))},
    ]
    r = requests.post(f"{alertmanager_url}/api/v2/alerts", json=alerts, timeout=5)
    assert r.status_code == 200, r.text
    silence = {"matchers": [{"name": "alertname", "value": "PaymentsNoisy", "isRegex": False}],
               "startsAt": iso(now - timedelta(minutes=1)), "endsAt": iso(now + timedelta(hours=1)),
               "createdBy": "tests", "comment": "known noise"}
    requests.post(f"{alertmanager_url}/api/v2/silences", json=silence, timeout=5).raise_for_status()

    def visible() -> bool:
        got = requests.get(f"{alertmanager_url}/api/v2/alerts", timeout=2).json()
        return {a["labels"]["alertname"] for a in got} >= {"HeapAlmostFull", "PaymentsNoisy", "LedgerDown"}

    wait_for(visible, "Alertmanager to list the posted alerts")
    return alertmanager_url


@pytest.mark.integration
def test_active_alerts_from_prometheus_and_alertmanager(prom_rules_evaluated: str, am_loaded: str) -> None:
    req = request_for({"prom": {"type": "prometheus", "url": prom_rules_evaluated},
                       "am": {"type": "alertmanager", "url": am_loaded}})
    ev = run(req, source="prom", alertmanagers=["am"])
    assert ev.ok, ev.reason
    active = {a["alertname"]: a for a in ev.data["active"]}
    assert set(active) == {"PaymentsAlwaysFiring", "PaymentsSlowPending", "HeapAlmostFull", "PaymentsNoisy"}
    assert active["PaymentsAlwaysFiring"]["state"] == "firing"
    assert active["PaymentsAlwaysFiring"]["origin"] == ["prometheus"]
    assert active["PaymentsAlwaysFiring"]["summary"] == "5xx ratio above 5% for 5 minutes"
    assert active["PaymentsSlowPending"]["state"] == "pending"
    assert active["HeapAlmostFull"]["origin"] == ["alertmanager"] and not active["HeapAlmostFull"]["silenced"]
    assert active["PaymentsNoisy"]["silenced"] is True
    # firing before pending
    states = [a["state"] for a in ev.data["active"]]
    assert states.index("pending") > max(i for i, s in enumerate(states) if s == "firing")
    text = environment().get_template("sections/alerts.md.j2").render(ev=ev)
    assert "**HeapAlmostFull** firing (critical) since" in text
    assert "**PaymentsNoisy** firing (info)" in text and "silenced" in text
    assert "LedgerDown" not in text and "OtherServiceFiring" not in text


@pytest.mark.integration
def test_alert_history_from_the_alerts_series(prometheus_url: str, scenario) -> None:
    ev = run(request_for({"prom": {"type": "prometheus", "url": prometheus_url}}), source="prom")
    assert ev.ok, ev.reason
    (row,) = ev.data["history"]
    assert row["alertname"] == "PaymentsHighErrorRate" and row["severity"] == "critical"
    firing = [t for t, v in scenario.saved["error_ratio"] if v > 0.05]
    (episode,) = row["episodes"]
    assert episode["start"] == firing[0] and episode["end"] == firing[-1] == scenario.end_s
    assert episode["ongoing"] is True
    text = environment().get_template("sections/alerts.md.j2").render(ev=ev)
    start = datetime.fromtimestamp(firing[0], tz=timezone.utc).strftime("%H:%M")
    assert f"**PaymentsHighErrorRate** (critical): 1 time, 1 h in all — {start}–still firing" in text


@pytest.mark.integration
def test_victoriametrics_history_works_without_an_alerts_api(victoriametrics_url: str) -> None:
    ev = run(request_for({"vm": {"type": "victoriametrics", "url": victoriametrics_url}}), source="vm")
    assert ev.ok, ev.reason
    assert [h["alertname"] for h in ev.data["history"]] == ["PaymentsHighErrorRate"]
    assert any("vmalert" in w for w in ev.warnings)


@pytest.mark.integration
def test_alertmanager_down_is_a_warning_when_prometheus_answers(prometheus_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    req = request_for({"prom": {"type": "prometheus", "url": prometheus_url},
                       "am": {"type": "alertmanager", "url": f"http://127.0.0.1:{port}"}})
    ev = run(req, source="prom", alertmanagers=["am"])
    assert ev.ok
    assert any("Alertmanager unreachable" in w and "connection refused" in w for w in ev.warnings)


def test_every_source_down_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    req = request_for({"am": {"type": "alertmanager", "url": f"http://127.0.0.1:{port}"}}, timeout_s=2)
    started = time.monotonic()
    ev = run(req, alertmanagers=["am"])
    assert ev.status is Status.error and "connection refused" in ev.reason
    assert time.monotonic() - started < 3


def test_no_source_is_skipped() -> None:
    ev = run(request_for({}), alertmanagers=[])
    assert ev.status is Status.skipped


def test_matching_and_merging_are_pure() -> None:
    assert matches({"service": "payments", "namespace": "prod", "x": "1"}, LABELS)
    assert not matches({"service": "payments"}, LABELS)  # every service label must be carried
    prom = [{"labels": {"alertname": "A", **LABELS}, "state": "pending", "activeAt": "2026-03-02T11:00:00Z",
             "value": "1e+00"}]
    am = [{"labels": {"alertname": "A", **LABELS}, "startsAt": "2026-03-02T11:00:00Z",
           "status": {"state": "suppressed", "silencedBy": ["x"], "inhibitedBy": []}, "receivers": [{"name": "pd"}]}]
    (row,) = merge_active(prom, am, LABELS)
    assert row["origin"] == ["prometheus", "alertmanager"] and row["state"] == "pending"
    assert row["silenced"] and row["receivers"] == ["pd"] and row["value"] == 1.0
    hist = history_from_series(
        [{"labels": {"alertname": "B", "alertstate": "firing"}, "points": [(0, 1), (60, 1), (600, 1)]},
         {"labels": {"alertname": "C", "alertstate": "pending"}, "points": [(0, 1)]}], 60, until_s=3600)
    assert [h["alertname"] for h in hist] == ["B"] and len(hist[0]["episodes"]) == 2
    assert hist[0]["firing_s"] == 60.0
