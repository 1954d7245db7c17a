"""Traces from Jaeger and Tempo: the fakes serve the SDK scenario's spans through the documented APIs.

Jaeger and Tempo cannot run on this machine; tests/fake_jaeger.py and tests/fake_tempo.py follow
the reference notes. The same facts must come out as from the OTLP files (test_traces.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ctxgrab.aio import run
from ctxgrab.collectors import CollectRequest
from ctxgrab.collectors.traces import collect
from ctxgrab.config import config_from_dict
from ctxgrab.evidence import Status
from ctxgrab.timeutil import Window, parse_time

import otel_scenario
from fake_jaeger import FakeJaeger
from fake_tempo import FakeTempo
from test_traces import SC, WINDOW, assert_scenario_facts


@pytest.fixture(scope="module")
def otlp() -> list[dict]:
    return otel_scenario.otlp_requests(otel_scenario.run(SC))


def _collect(url: str, kind: str, entry: dict | None = None, timeout_s: float = 10.0, **source) -> object:
    cfg = config_from_dict({
        "sources": {"tr": {"type": kind, "url": url, "timeout_s": timeout_s, **source}},
        "services": {"orders": {"traces": [{"source": "tr", **(entry or {})}]}},
    })
    w = Window(parse_time(WINDOW[0]), parse_time(WINDOW[1]))
    req = CollectRequest(service="orders", window=w, baseline=w.before(), at=w.end, base_dir=Path.cwd(),
                         config=cfg, timeout_s=timeout_s)
    params = cfg.services["orders"].traces[0].model_dump(exclude_none=True)
    return run(lambda: collect(req, params))


@pytest.fixture
def jaeger(otlp):  # noqa: ANN001, ANN201
    fake = FakeJaeger(otlp).start()
    yield fake
    fake.stop()


@pytest.fixture
def tempo(otlp):  # noqa: ANN001, ANN201
    fake = FakeTempo(otlp, tenant="team-a").start()
    yield fake
    fake.stop()


# --- Jaeger ---------------------------------------------------------------------------------------------


def test_jaeger_query_api_gives_the_scenario_facts(jaeger: FakeJaeger) -> None:
    ev = _collect(jaeger.url, "jaeger", {"limit": 1200}, timeout_s=40)
    assert ev.status is Status.ok, ev.reason
    assert_scenario_facts(ev.data)
    sm = ev.data["sampling"]
    assert sm["api"] == "query API (/api/traces)" and sm["traces_matched"] is None
    assert sm["traces_in_window"] > 500 and "12 equal slices" in sm["how"]
    q = next(r for r in jaeger.requests if r["path"] == "/api/traces")["params"]
    assert q["service"] == "orders" and int(q["limit"]) == 100
    assert len(q["start"]) == 16 and len(q["end"]) == 16  # unix µs


def test_jaeger_v3_api_where_present(otlp: list[dict]) -> None:
    fake = FakeJaeger(otlp, v3=True).start()
    try:
        ev = _collect(fake.url, "jaeger", {"limit": 1200}, timeout_s=40)
    finally:
        fake.stop()
    assert ev.status is Status.ok, ev.reason
    assert ev.data["sampling"]["api"] == "v3 (OTLP)"
    assert not any(r["path"] == "/api/traces" for r in fake.requests)
    assert_scenario_facts(ev.data)


def test_jaeger_small_limit_is_a_stated_sample(jaeger: FakeJaeger) -> None:
    ev = _collect(jaeger.url, "jaeger", {"limit": 120})
    assert ev.status is Status.ok
    sm = ev.data["sampling"]
    assert sm["traces_in_window"] <= 120 and sm["full_slices"] == 24
    assert "24 slices came back full, so more traces matched" in sm["how"]
    assert ev.data["headline"]["slow"]["name"] == "ledger-service"  # a stratified sample still finds it


def test_jaeger_sends_tenant_and_basic_auth(otlp: list[dict]) -> None:
    fake = FakeJaeger(otlp, tenant="team-a").start()
    try:
        bad = _collect(fake.url, "jaeger", {"limit": 24})
        ok = _collect(fake.url, "jaeger", {"limit": 24}, org_id="team-a", username="u", password="p")
    finally:
        fake.stop()
    assert bad.status is Status.error and "401" in bad.reason
    assert ok.status is Status.ok
    assert fake.requests[-1]["headers"]["X-Scope-OrgID"] == "team-a"
    assert fake.requests[-1]["headers"]["Authorization"].startswith("Basic ")


# --- Tempo ----------------------------------------------------------------------------------------------


def test_tempo_search_and_v2_traces_give_the_scenario_facts(tempo: FakeTempo) -> None:
    ev = _collect(tempo.url, "tempo", {"limit": 1200}, timeout_s=40, org_id="team-a")
    assert ev.status is Status.ok, ev.reason
    assert "partial" not in ev.data["sampling"], ev.data["sampling"]["partial"]
    assert_scenario_facts(ev.data)
    sm = ev.data["sampling"]
    spans_in_window = ev.data["sampling"]["spans_in_window"]
    assert sm["spans_matched"] and sm["spans_matched"] >= spans_in_window * 0.5  # orders' spans of the window
    assert sm["query"] == '{ resource.service.name = "orders" }'
    search = next(r for r in tempo.requests if r["path"] == "/api/search")["params"]
    assert len(search["start"]) == 10 and int(search["limit"]) == 100  # unix seconds
    assert any(r["path"].startswith("/api/v2/traces/") for r in tempo.requests)


def test_tempo_without_v2_or_metrics_falls_back(otlp: list[dict]) -> None:
    fake = FakeTempo(otlp, v2=False, metrics=False).start()
    try:
        ev = _collect(fake.url, "tempo", {"limit": 1200}, timeout_s=40)
    finally:
        fake.stop()
    assert ev.status is Status.ok, ev.reason
    assert ev.data["sampling"]["spans_matched"] is None
    assert any(r["path"].startswith("/api/traces/") for r in fake.requests)  # batches, base64 ids
    assert_scenario_facts(ev.data)


def test_tempo_bad_traceql_is_the_reason(tempo: FakeTempo) -> None:
    ev = _collect(tempo.url, "tempo", {"query": "{ span.http.route = "}, org_id="team-a")
    assert ev.status is Status.error and "Tempo 400: invalid TraceQL query" in ev.reason


def test_tempo_partial_trace_status_is_stated(otlp: list[dict]) -> None:
    fake = FakeTempo(otlp, partial_status=True).start()
    try:
        ev = _collect(fake.url, "tempo", {"limit": 48})
    finally:
        fake.stop()
    assert ev.status is Status.ok and ev.data["sampling"]["partial_traces"] == ev.data["sampling"]["traces_found"]


# --- faults: each a stated gap within bounded time ------------------------------------------------------


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
def test_down_source_is_an_error_gap(kind: str) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    ev = _collect(f"http://127.0.0.1:{port}", kind)
    assert time.monotonic() - t0 < 5
    assert ev.status is Status.error and "unreachable" in ev.reason


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
def test_slow_source_is_a_timeout_gap_within_its_timeout(kind: str, otlp: list[dict]) -> None:
    fake = (FakeJaeger(otlp) if kind == "jaeger" else FakeTempo(otlp)).start()
    fake.hang = True
    t0 = time.monotonic()
    try:
        ev = _collect(fake.url, kind, timeout_s=1.0)
    finally:
        fake.stop()
    assert time.monotonic() - t0 < 3.0
    assert ev.status is Status.timeout and "did not answer in time" in ev.reason


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
def test_500_is_an_error_gap_with_the_servers_words(kind: str, otlp: list[dict]) -> None:
    fake = (FakeJaeger(otlp) if kind == "jaeger" else FakeTempo(otlp)).start()
    fake.fail_with = (500, "rpc error: code = Unavailable desc = storage down")
    try:
        ev = _collect(fake.url, kind)
    finally:
        fake.stop()
    assert ev.status is Status.error and "500: rpc error: code = Unavailable desc = storage down" in ev.reason


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
def test_non_json_is_an_error_gap(kind: str, otlp: list[dict]) -> None:
    fake = (FakeJaeger(otlp) if kind == "jaeger" else FakeTempo(otlp)).start()
    fake.non_json = True
    try:
        ev = _collect(fake.url, kind)
    finally:
        fake.stop()
    assert ev.status is Status.error and "not JSON" in ev.reason and "Sign in" in ev.reason


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
def test_some_requests_failing_is_a_partial_result_that_says_so(kind: str, otlp: list[dict]) -> None:
    fake = (FakeJaeger(otlp) if kind == "jaeger" else FakeTempo(otlp)).start()
    fake.fail_every = 4
    try:
        ev = _collect(fake.url, kind, {"limit": 240})
    finally:
        fake.stop()
    assert ev.status is Status.ok, ev.reason
    partial = ev.data["sampling"]["partial"]
    assert "requests gave nothing" in partial and "storage unavailable" in partial
    assert ev.warnings and ev.warnings[0].startswith("partial: ")
    from ctxgrab.commands.traces import render_markdown

    assert "**Partial:**" in render_markdown(ev.data)


def test_check_probes_jaeger_and_tempo(jaeger: FakeJaeger, tempo: FakeTempo, tmp_path: Path) -> None:
    from ctxgrab.check import probe_source

    cfg = config_from_dict({"sources": {"j": {"type": "jaeger", "url": jaeger.url},
                                        "t": {"type": "tempo", "url": tempo.url, "org_id": "team-a"}}})
    for name in ("j", "t"):
        ok, detail = probe_source(name, cfg.sources[name], cfg)
        assert ok, detail
    assert jaeger.requests[-1]["path"] == "/api/services"


def test_jaeger_min_duration_is_sent_and_stated(jaeger: FakeJaeger) -> None:
    ev = _collect(jaeger.url, "jaeger", {"limit": 1200, "min_duration": "1s"})
    assert ev.status is Status.ok, ev.reason
    q = next(r for r in jaeger.requests if r["path"] == "/api/traces")["params"]
    assert q["minDuration"] == "1s"
    assert "lasting at least 1s (so ratios describe slow traces only)" in ev.data["sampling"]["how"]
    ops = ev.data["operations"][0]
    assert ops["p50_ms"] >= 1000  # only slow traces came back
    assert ev.data["headline"]["slow"]["name"] == "ledger-service"


def test_a_service_missing_from_the_traces_is_said() -> None:
    from ctxgrab.analysis.traces import summarize
    from ctxgrab.analysis.traces import Span, KIND_SERVER

    data = summarize([Span.make("t", "s", "", "payments-api", "GET /", KIND_SERVER, 0, 10)], service="payments")
    assert data["service"] == "payments-api" and data["service_requested"] == "payments"
    from ctxgrab.commands.traces import render_markdown

    assert "No span of `payments` in these traces: summarised for `payments-api`" in render_markdown(data)


def test_tempo_traceql_metrics_count_all_matched_spans_and_errors(tempo: FakeTempo, otlp: list[dict]) -> None:
    ev = _collect(tempo.url, "tempo", {"limit": 48}, org_id="team-a")
    sm = ev.data["sampling"]
    w0, w1 = (int(parse_time(t).timestamp() * 1e9) for t in WINDOW)
    spans = [(r, sp) for req in otlp for r in req["resourceSpans"] for ss in r["scopeSpans"] for sp in ss["spans"]
             if any(a["key"] == "service.name" and a["value"]["stringValue"] == "orders"
                    for a in r["resource"]["attributes"]) and w0 <= int(sp["startTimeUnixNano"]) < w1]
    assert sm["spans_matched"] == len(spans)  # the whole population, though only 48 traces were read
    assert sm["spans_matched_errors"] == sum(1 for _, sp in spans if (sp.get("status") or {}).get("code") == 2)
    assert sm["traces_in_window"] <= 48
    from ctxgrab.commands.traces import render_markdown

    assert "of them errors" in render_markdown(ev.data)
