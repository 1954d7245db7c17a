"""Every Evidence states the span it covers; the prompt says when it misses the window or the onset.

The GC log is a real OpenJDK 17 unified log (tests/java/logs, made by tests/java/GcLoad.java:
3 s of a JVM's life); the heap dump is the demo's, made by a real JVM; log records are the demo's.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ctxgrab
from ctxgrab.api import load_evidence, render_result
from ctxgrab.evidence import Coverage, Evidence, coverage_of
from ctxgrab.signals import coverage_notes
from ctxgrab.timeutil import Window

REPO = Path(__file__).resolve().parents[1]
AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
WINDOW = Window.ending(AT, timedelta(hours=3))


def test_collectors_can_state_coverage_simply() -> None:
    cov = Coverage.of([1772445600.0, "2026-03-02T11:00:00Z", None, datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc)],
                      what="spans")
    assert (cov.first.isoformat(), cov.last.isoformat(), cov.what) == (
        "2026-03-02T10:00:00+00:00", "2026-03-02T11:00:00+00:00", "spans")
    assert Coverage.of([]) is None
    ev = Evidence(kind="traces", name="t", title="Traces", coverage=cov)
    assert Evidence.model_validate(json.loads(ev.model_dump_json())).coverage == cov


def test_short_gc_log_in_a_long_window_says_how_little_it_covers() -> None:
    gc = Evidence(kind="gc", name="gc", title="JVM GC log", data={
        "span": {"start": "2026-03-02T10:40:00Z", "end": "2026-03-02T10:42:00Z"}})
    (note,) = coverage_notes([gc], WINDOW, [{"name": "error_spike", "facts": {"since_ts": AT.timestamp() - 7200}}])
    assert note == ("JVM GC log: GC events from 2026-03-02 10:40 UTC to 2026-03-02 10:42 UTC; covers 2 min of the "
                    "3 h window, misses the onset at 10:00 UTC")


def test_heap_dump_taken_months_after_the_window_shows_its_header_time() -> None:
    later = datetime(2026, 11, 29, 1, 13, tzinfo=timezone.utc)
    heap = Evidence(kind="heap", name="heap", title="Heap dump", data={"timestamp_ms": later.timestamp() * 1000})
    (note,) = coverage_notes([heap], WINDOW, [])
    assert note.startswith("Heap dump: the dump at 2026-11-29 01:13 UTC, 271 d") and "after the window ends" in note


def test_log_records_ending_before_the_window_are_stated() -> None:
    logs = Evidence(kind="logs", name="app", title="app log", data={"patterns": [
        {"template": "x", "count": 3, "first_seen": "2026-03-01T20:00:00Z", "last_seen": "2026-03-01T23:00:00Z"}]})
    (note,) = coverage_notes([logs], WINDOW, [])
    assert "log records from 2026-03-01 20:00 UTC to 2026-03-01 23:00 UTC, 10 h before the window begins" in note


def test_demo_states_no_gap_and_shows_the_dump_time() -> None:
    r = ctxgrab.incident("payments", config=REPO / "fixtures" / "demo" / "ctxgrab.yaml")
    assert "Coverage:" not in r.markdown  # every source covers the 12 h window and the onset
    assert "taken 2026-03-02 09:00 UTC (the time in its header)" in r.markdown
    heap = next(ev for ev in r.evidence if ev.kind == "heap")
    assert coverage_of(heap).first == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_demo_at_one_hour_says_what_misses_the_onset() -> None:
    r = ctxgrab.incident("payments", config=REPO / "fixtures" / "demo" / "ctxgrab.yaml", since="1h")
    assert "Heap dump: the dump at 2026-03-02 09:00 UTC, 2 h before the window begins" in r.markdown


def test_saved_schema_1_evidence_still_renders_with_coverage() -> None:
    kwargs = load_evidence(REPO / "tests" / "data" / "evidence_v1.json")
    assert all(e.coverage is None for e in kwargs["evidence"])  # written before coverage existed
    assert any(coverage_of(e) is not None for e in kwargs["evidence"])  # read from the payloads instead
    out = render_result(**kwargs)
    assert out.markdown.startswith("# Incident context")
