"""Series analysis: pure functions over [(unix_s, value)]."""

from __future__ import annotations

import math
import random

import pytest

from ctxgrab.analysis.series import (
    MAX_POINTS,
    change_point,
    episodes,
    linear_trend,
    non_finite_count,
    percentile,
    pick_step,
    rank_series,
    sparkline,
    summarize,
)
from ctxgrab.collectors.metrics import baseline_label, parse_query_range, summarize_series
from ctxgrab.errors import InputError
from ctxgrab.timeutil import Window, parse_duration, parse_time

GB = 1024**3
T0 = 1_772_400_000.0
SUMMARY_KEYS = {"first", "last", "min", "max", "mean", "p95", "trend_per_hour", "r2", "change_point", "sparkline",
                "span_s"}


@pytest.mark.parametrize("window_s", [60, 3600, 12 * 3600, 7 * 86400, 90 * 86400, 400 * 86400, 10 * 365 * 86400])
def test_pick_step_stays_under_the_point_limit(window_s: int) -> None:
    for target in (100, 720, 5000, 50_000):
        step = pick_step(window_s, target)
        assert step >= 1 and window_s / step < MAX_POINTS


def test_pick_step_is_a_round_number_for_usual_windows() -> None:
    assert pick_step(12 * 3600) == 60
    assert pick_step(2 * 3600) == 10
    assert pick_step(7 * 86400) == 900


def test_summary_of_a_linear_leak() -> None:
    pts = [(T0 + i * 60, 2 * GB + (6 * GB) * i / 720) for i in range(721)]
    s = summarize(pts)
    assert SUMMARY_KEYS <= set(s)
    assert s["first"] == 2 * GB and s["last"] == 8 * GB
    assert s["trend_per_hour"] == pytest.approx(0.5 * GB)
    assert s["r2"] == pytest.approx(1.0)
    assert s["span_s"] == 12 * 3600
    assert s["p95"] == pytest.approx(2 * GB + 6 * GB * 0.95)


def test_change_point_finds_the_step() -> None:
    rng = random.Random(1)
    pts = [(T0 + i * 60, (0.003 if i < 600 else 0.15) * rng.uniform(0.9, 1.1)) for i in range(720)]
    cp = change_point(pts)
    assert cp["at"] == T0 + 600 * 60
    assert cp["before"] == pytest.approx(0.003, rel=0.05) and cp["after"] == pytest.approx(0.15, rel=0.05)
    assert cp["explained"] > 0.95


def test_flat_series_has_no_change_point() -> None:
    assert change_point([(T0 + i, 5.0) for i in range(100)]) is None
    assert linear_trend([(T0 + i * 3600, 5.0) for i in range(10)]) == (0.0, 0.0)


def test_nan_and_inf_are_dropped_and_counted() -> None:
    pts = [(T0, 1.0), (T0 + 60, math.nan), (T0 + 120, math.inf), (T0 + 180, 3.0)]
    s = summarize(pts)
    assert s["points"] == 2 and s["dropped_points"] == 2 and s["max"] == 3.0
    assert non_finite_count(pts) == 2
    assert summarize([(T0, math.nan)]) == {"points": 0, "dropped_points": 1}


def test_baseline_ratio() -> None:
    s = summarize([(T0 + i, 30.0) for i in range(10)], baseline=[(T0 - 100 + i, 10.0) for i in range(10)])
    assert s["baseline_mean"] == 10.0 and s["baseline_ratio"] == 3.0


def test_sparkline_and_percentile() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert len(sparkline(list(range(1000)), width=24)) == 24
    assert sparkline([]) == ""
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_rank_series_prefers_change_over_size_and_counts_the_rest() -> None:
    def item(name: str, values: list[float]) -> dict:
        return {"labels": {"pool": name}, "summary": summarize([(T0 + i * 60, v) for i, v in enumerate(values)])}

    big_flat = item("metaspace", [500.0] * 10)
    grew = item("old", [10.0 + i * 10 for i in range(10)])
    small_flat = item("code", [5.0] * 10)
    kept, total = rank_series([big_flat, small_flat, grew], keep=2)
    assert total == 3
    assert [k["labels"]["pool"] for k in kept] == ["old", "metaspace"]


def test_episodes_split_on_gaps_and_mark_the_ongoing_one() -> None:
    eps = episodes([0, 60, 120, 900, 960], 60, until_s=960)
    assert [(e["start"], e["end"], e["ongoing"]) for e in eps] == [(0, 120, False), (900, 960, True)]
    assert episodes([], 60) == []
    assert episodes([0, 60], 60, until_s=3600)[0]["ongoing"] is False


def test_parse_query_range_rejects_what_it_cannot_read() -> None:
    with pytest.raises(InputError, match="no 'status' field"):
        parse_query_range(["not", "an", "envelope"], "x.json")
    with pytest.raises(InputError, match="bad_data"):
        parse_query_range({"status": "error", "errorType": "bad_data", "error": "parse error"}, "x.json")
    with pytest.raises(InputError, match="malformed sample"):
        parse_query_range({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[T0, "1"], ["oops"]]}]}}, "x.json")
    with pytest.raises(InputError, match="expected a matrix"):
        parse_query_range({"status": "success", "data": {"resultType": "scalar", "result": [T0, "1"]}}, "x.json")
    series, warnings = parse_query_range({"status": "success", "warnings": ["partial"], "data": {
        "resultType": "matrix", "result": [{"metric": {"a": "1"}, "values": [[T0, "NaN"], [T0 + 60, "2"]]}]}}, "x")
    assert warnings == ["partial"] and math.isnan(series[0]["points"][0][1])


def test_summarize_series_caps_and_keeps_the_window() -> None:
    window = Window.ending(parse_time(T0 + 3600), parse_duration("1h"))
    series = [{"labels": {"i": str(i)}, "points": [(T0 + k * 60, float(i * k)) for k in range(-30, 61)]}
              for i in range(8)]
    kept, total = summarize_series(series, window)
    assert total == 8 and len(kept) == 5
    assert all(p[0] >= T0 for s in kept for p in s["points"])


def test_baseline_label() -> None:
    w = Window.ending(parse_time("2026-03-02T12:00:00Z"), parse_duration("12h"))
    assert baseline_label(w, w.before()) == "the previous window"
    assert baseline_label(w, w.shifted(parse_duration("1d"))) == "the same window 1 day earlier"
    assert baseline_label(w, w.shifted(parse_duration("2w"))) == "the same window 2 weeks earlier"
    assert baseline_label(w, w.shifted(parse_duration("3h"))) == "the same window 3 h earlier"
    assert baseline_label(w, None) is None
