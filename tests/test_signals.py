"""Each signal rule on small hand-made evidence, at both sides of its threshold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ctxgrab.analysis.logpatterns import mine
from ctxgrab.analysis.series import summarize
from ctxgrab.evidence import Evidence
from ctxgrab.logread import LogRecord
from ctxgrab.signals import SATURATION_SHARE, SPIKE_RATIO, choose_kind, derive
from ctxgrab.timeutil import Window

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)
WINDOW = Window(T0, T0 + timedelta(hours=6))
GB = 1024**3


def metric(mid: str, values: list[float], unit: str = "ratio", limit_of: str | None = None) -> Evidence:
    pts = [(T0.timestamp() + i * 60, v) for i, v in enumerate(values)]
    return Evidence(kind="metrics", name=mid, title=mid, data={
        "id": mid, "unit": unit, "limit_of": limit_of,
        "series": [{"labels": {}, "summary": summarize(pts), "points": []}], "series_total": 1})


def names(evs: list[Evidence]) -> list[str]:
    return [s["name"] for s in derive(evs, WINDOW)]


@pytest.mark.parametrize("after,fires", [(0.002 * (SPIKE_RATIO + 0.5), True), (0.002 * (SPIKE_RATIO - 0.5), False)])
def test_error_spike_needs_the_ratio(after: float, fires: bool) -> None:
    # The absolute floor (1%) is met in both cases only when the ratio is; use a larger base.
    base = 0.01
    values = [base] * 200 + [base * after / 0.002] * 100
    assert ("error_spike" in names([metric("error_ratio", values)])) is fires


def test_error_spike_ignores_tiny_ratios() -> None:
    assert "error_spike" not in names([metric("error_ratio", [0.0001] * 200 + [0.0009] * 100)])


def test_error_spike_from_log_rates() -> None:
    t = T0 + timedelta(hours=1)
    window = [LogRecord("boom", t, "ERROR")] * 40 + [LogRecord("ok", t, "INFO")] * 10
    base = [LogRecord("boom", t - timedelta(hours=6), "ERROR")] * 5 + [LogRecord("ok", t, "INFO")] * 10
    result = mine(window, base)
    assert result.error_records == 40 and result.baseline_error_records == 5
    ev = Evidence(kind="logs", name="logs", title="logs", data={
        "patterns": [], "error_records": result.error_records,
        "baseline_error_records": result.baseline_error_records})
    sig = next(s for s in derive([ev], WINDOW) if s["name"] == "error_spike")
    assert sig["facts"] == {"source": "logs", "errors": 40, "baseline_errors": 5}
    ev.data["baseline_error_records"] = 20
    assert "error_spike" not in names([ev])


def test_latency_regression_needs_a_doubling() -> None:
    assert "latency_regression" in names([metric("latency_p99", [0.2] * 200 + [0.45] * 100, "seconds")])
    assert "latency_regression" not in names([metric("latency_p99", [0.2] * 200 + [0.35] * 100, "seconds")])


def test_saturation_at_ninety_percent_of_the_limit() -> None:
    limit = metric("pool_max", [30.0] * 100, "connections", limit_of="pool_active")
    hot = metric("pool_active", [10.0] * 50 + [30.0 * SATURATION_SHARE] * 50, "connections")
    cool = metric("pool_active", [10.0] * 50 + [30.0 * (SATURATION_SHARE - 0.1)] * 50, "connections")
    assert "saturation" in names([hot, limit])
    assert "saturation" not in names([cool, limit])


def test_memory_leak_from_heap_trend_needs_a_limit_and_a_clean_trend() -> None:
    rising = [2 * GB + i * 0.02 * GB for i in range(300)]  # reaches 8 GB max within the horizon
    used = metric("heap_used", rising, "bytes")
    limit = metric("heap_max", [8.0 * GB] * 300, "bytes", limit_of="heap_used")
    sig = next(s for s in derive([used, limit], WINDOW) if s["name"] == "memory_leak")
    assert sig["facts"]["hours_to_limit"] > 0
    assert "memory_leak" not in names([used])  # no known limit: no leak claim
    far = metric("heap_max", [400.0 * GB] * 300, "bytes", limit_of="heap_used")
    assert "memory_leak" not in names([used, far])  # full only in weeks


def test_memory_leak_from_the_gc_verdict_wins() -> None:
    gc = Evidence(kind="gc", name="gc", title="GC", data={
        "heap_max_bytes": 8 * GB,
        "verdict": {"leak_suspected": True},
        "live_set": {"first_bytes": 2 * GB, "last_bytes": 6 * GB, "slope_bytes_per_hour": 0.5 * GB, "r2": 0.97,
                     "span_hours": 8, "points": 97}})
    sig = derive([gc], WINDOW)[0]
    assert sig["name"] == "memory_leak" and sig["facts"]["source"] == "gc"
    assert sig["facts"]["hours_to_limit"] == pytest.approx(4.0)
    gc.data["verdict"]["leak_suspected"] = False
    assert "memory_leak" not in names([gc])


def test_kind_order_causes_before_symptoms() -> None:
    assert choose_kind([{"name": n} for n in ("error_spike", "memory_leak")])[0] == "memory_leak"
    assert choose_kind([{"name": n} for n in ("latency_regression", "saturation")])[0] == "saturation"
    assert choose_kind([{"name": "new_exception"}, {"name": "recent_deploy"}]) == ("error_spike", ["new_exception"])
    assert choose_kind([{"name": "recent_deploy"}]) == ("incident", [])


def test_error_spike_from_a_zero_baseline() -> None:
    sig = next(s for s in derive([metric("error_ratio", [0.0] * 200 + [0.15] * 100)], WINDOW)
               if s["name"] == "error_spike")
    assert "15.0% since" in sig["summary"] and "from zero" in sig["summary"]
    assert sig["facts"]["ratio"] is None and sig["facts"]["before"] == 0.0
    assert "error_spike" not in names([metric("error_ratio", [0.0] * 300)])


def test_spike_at_the_window_edge_fires_against_the_previous_window() -> None:
    """`--since 1h` on the demo: 5xx ×50.8 and p99 ×9 vs the previous window, and neither signal fired."""
    from pathlib import Path

    import ctxgrab

    demo = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "ctxgrab.yaml"
    r = ctxgrab.incident("payments", config=demo, since="1h")
    by = {s["name"]: s for s in r.signals}
    assert by["error_spike"]["facts"]["versus"] == "baseline"
    assert 45 < by["error_spike"]["facts"]["ratio"] < 55
    assert "vs 0.3% in the previous window (×51); it was already up when the window began" in by["error_spike"]["summary"]
    assert by["latency_regression"]["facts"]["after_s"] / by["latency_regression"]["facts"]["before_s"] > 8
    assert "in the previous window (×9.0)" in by["latency_regression"]["summary"]


def test_steady_error_ratio_does_not_fire_against_the_previous_window() -> None:
    steady = [0.004 + (i % 5) * 0.0002 for i in range(120)]
    ev = metric("error_ratio", steady, "ratio")
    ev.data["series"][0]["summary"].update(baseline_mean=0.0041, baseline_ratio=1.0)
    assert "error_spike" not in [s["name"] for s in derive([ev])]


def test_ten_minutes_of_gc_data_make_no_extrapolation() -> None:
    """10 min of GC events a second apart gave "+42.5 GB/h … full in 2 s"."""
    gc = Evidence(kind="gc", name="gc", title="GC log", data={
        "heap_max_bytes": 8 * GB,
        "verdict": {"leak_suspected": True},
        "live_set": {"first_bytes": 2 * GB, "last_bytes": 7.9 * GB, "slope_bytes_per_hour": 42.5 * GB, "r2": 0.9,
                     "span_hours": 10 / 60, "points": 600}})
    sig = next(s for s in derive([gc], WINDOW) if s["name"] == "memory_leak")
    assert "hours_to_limit" not in sig["facts"] and "/h" not in sig["summary"] and "full in" not in sig["summary"]
    assert "too short a span for a trend" in sig["summary"]


def test_heap_metric_over_minutes_is_not_a_leak_claim() -> None:
    pts = [2 * GB + i * 0.01 * GB for i in range(20)]  # 20 samples a minute apart, rising cleanly
    used = metric("heap_used", pts, "bytes")
    used.data["series"][0]["summary"] = summarize([(T0.timestamp() + i * 30, v) for i, v in enumerate(pts)])
    limit = metric("heap_max", [2.3 * GB] * 20, "bytes", limit_of="heap_used")
    assert "memory_leak" not in names([used, limit])
