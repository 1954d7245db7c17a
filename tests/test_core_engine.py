"""The engine: concurrency, per-collector timeouts, the global deadline, failures as gaps."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ctxgrab
from ctxgrab.engine import Planned, collect_all
from ctxgrab.errors import ConfigError
from ctxgrab.evidence import Status
from ctxgrab.testing import failing_collector, hanging_collector, make_request, static_collector


def _run(planned, overrides, deadline_s=5.0, timeout_s=5.0, provider=None):
    req = make_request({"services": {"svc": {}}}, "svc", timeout_s=timeout_s)
    return anyio.run(lambda: collect_all(req, planned, deadline_s=deadline_s, overrides=overrides,
                                         tracer_provider=provider))


def test_raising_hanging_and_missing_become_gaps_while_the_rest_renders() -> None:
    planned = [
        Planned("good", "good", "Good source"),
        Planned("boom", "boom", "Exploding source"),
        Planned("hang", "hang", "Hanging source", timeout_s=0.3),
        Planned("nope", "nope", "Unregistered source"),
    ]
    overrides = {
        "good": static_collector("good", {"x": 1}),
        "boom": failing_collector(RuntimeError("connection refused by 10.0.0.7:9090")),
        "hang": hanging_collector(),
    }
    started = time.monotonic()
    evs = _run(planned, overrides)
    elapsed = time.monotonic() - started
    by = {e.name: e for e in evs}
    assert [e.name for e in evs] == ["good", "boom", "hang", "nope"]  # plan order, not finish order
    assert by["good"].status is Status.ok and by["good"].data == {"x": 1}
    assert by["boom"].status is Status.error
    assert by["boom"].reason == "RuntimeError: connection refused by 10.0.0.7:9090"
    assert by["hang"].status is Status.timeout and "0.3 s" in by["hang"].reason
    assert by["nope"].status is Status.error and "unknown collector 'nope'" in by["nope"].reason
    assert elapsed < 3.0  # the hang was cut at its own 0.3 s timeout, not the 5 s deadline


def test_global_deadline_bounds_the_run() -> None:
    planned = [Planned("hang", f"hang{i}", f"Hang {i}", timeout_s=60) for i in range(5)]
    started = time.monotonic()
    evs = _run(planned, {"hang": hanging_collector()}, deadline_s=0.5, timeout_s=60)
    assert time.monotonic() - started < 2.5
    assert all(e.status is Status.timeout for e in evs)


def test_collectors_run_concurrently() -> None:
    async def slow(request, params):
        await anyio.sleep(0.4)
        return await static_collector("slow")(request, params)

    planned = [Planned("slow", f"s{i}", f"S{i}") for i in range(6)]
    started = time.monotonic()
    evs = _run(planned, {"slow": slow})
    # six 0.4 s collectors in sequence would take 2.4 s
    assert time.monotonic() - started < 1.6
    assert all(e.ok for e in evs)


def test_blocking_work_in_a_thread_is_abandoned_at_the_deadline() -> None:
    from ctxgrab.collectors import run_blocking

    async def blocking(request, params):
        await run_blocking(time.sleep, 3)
        return await static_collector("blocking")(request, params)

    started = time.monotonic()
    evs = _run([Planned("blocking", "b", "Blocking", timeout_s=0.3)], {"blocking": blocking})
    assert time.monotonic() - started < 2.0
    assert evs[0].status is Status.timeout


def test_a_collector_returning_the_wrong_type_is_an_error() -> None:
    async def bad(request, params):
        return {"not": "evidence"}

    evs = _run([Planned("bad", "bad", "Bad")], {"bad": bad})
    assert evs[0].status is Status.error and "not Evidence" in evs[0].reason


def test_evidence_is_redacted_before_anyone_sees_it() -> None:
    ev = static_collector("leaky", {"line": "login ok password=hunter2hunter2 user=alice"})
    evs = _run([Planned("leaky", "leaky", "Leaky")], {"leaky": ev})
    assert "hunter2hunter2" not in str(evs[0].data)
    assert "[REDACTED:" in evs[0].data["line"]


def test_spans_for_the_run_and_each_collector(demo_config: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = ctxgrab.incident("payments", config=demo_config, tracer_provider=provider)
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("ctxgrab incident") == 1
    collector_spans = [s for s in spans if s.name.startswith("collect ")]
    assert len(collector_spans) == len(result.evidence)
    run = next(s for s in spans if s.name == "ctxgrab incident")
    for s in collector_spans:
        assert s.parent is not None and s.parent.span_id == run.context.span_id
        assert s.attributes["ctxgrab.status"] in {"ok", "empty", "error", "timeout", "skipped"}
        assert s.attributes["ctxgrab.duration_ms"] >= 0


def test_missing_input_file_is_a_stated_gap_and_the_prompt_still_renders(tmp_path: Path, demo_config: Path) -> None:
    text = demo_config.read_text().replace("path: deploys.yaml", "path: no-such-deploys.yaml")
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(text)
    for sub in ("metrics", "logs"):
        (tmp_path / sub).symlink_to(demo_config.parent / sub)
    for f in ("application.properties", "jvm.options"):
        (tmp_path / f).symlink_to(demo_config.parent / f)
    result = ctxgrab.incident("payments", config=cfg)
    dep = next(e for e in result.evidence if e.kind == "deploys")
    assert dep.status is Status.error and "no-such-deploys.yaml" in dep.reason
    assert "## Gaps in the evidence" in result.markdown
    assert "Deployments: error — `deploy history file not found" in result.markdown
    assert "JVM heap used" in result.markdown  # the rest still renders


def test_incident_inside_a_running_loop_points_to_aincident(demo_config: Path) -> None:
    async def inner():
        ctxgrab.incident("payments", config=demo_config)

    with pytest.raises(RuntimeError, match="aincident"):
        anyio.run(inner)


def test_bad_window_options_are_config_errors(demo_config: Path) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        ctxgrab.incident("payments", since="soon", config=demo_config)
    with pytest.raises(ConfigError, match="--to needs --from"):
        ctxgrab.incident("payments", end="2026-03-02T12:00:00Z", config=demo_config)


def test_progress_callbacks_see_the_plan_and_every_evidence(demo_config: Path) -> None:
    planned: list[int] = []
    seen: list[str] = []
    result = ctxgrab.incident("payments", config=demo_config, on_plan=planned.append,
                              on_evidence=lambda ev: seen.append(ev.name))
    assert planned == [len(result.evidence)]
    assert sorted(seen) == sorted(ev.name for ev in result.evidence)
