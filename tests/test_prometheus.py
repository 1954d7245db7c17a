"""The jvm, http and process packs against a real Prometheus and a real VictoriaMetrics.

Both servers hold the `payments` demo scenario as raw exporter metrics, once in
Micrometer naming (service ``payments``) and once in OpenTelemetry naming (service
``payments-otel``). The evidence must reproduce the scenario's numbers (the saved
``query_range`` replies the demo is built from) within rounding, and say which naming
the probe chose.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import ctxgrab
from ctxgrab.analysis.series import summarize
from ctxgrab.config import config_from_dict
from prom_fixtures import (  # noqa: F401 - pytest fixtures
    OTEL_SERVICE,
    Scenario,
    prometheus_url,
    scenario,
    victoriametrics_url,
)

pytestmark = pytest.mark.integration

GB = 1024**3
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "ctxgrab.yaml"
AT = "2026-03-02T12:00:00Z"


def live_config(url: str, source_type: str = "prometheus", baseline: str = "previous", **source: Any):
    services = {
        name: {"labels": {"service": name, "namespace": "prod"}, "packs": ["jvm", "http", "process"]}
        for name in ("payments", OTEL_SERVICE)
    }
    return config_from_dict({
        "defaults": {"since": "12h", "at": AT, "timeout_s": 10, "deadline_s": 20, "baseline": baseline},
        "sources": {"live": {"type": source_type, "url": url, **source}},
        "services": services,
    })


def by_id(result: ctxgrab.IncidentResult) -> dict[str, Any]:
    return {ev.data.get("id"): ev for ev in result.evidence if ev.kind == "metrics"}


def window_points(scn: Scenario, mid: str, hours: float = 12, offset_h: float = 0) -> list[tuple[float, float]]:
    """The scenario's points of a window; a baseline (offset) window excludes its end, which the next one owns."""
    hi = scn.end_s - offset_h * 3600
    lo = hi - hours * 3600
    return [(t, v) for t, v in scn.saved[mid] if lo <= t <= hi and (offset_h == 0 or t < hi)]


def close(got: float, want: float, rel: float) -> bool:
    return math.isclose(got, want, rel_tol=rel)


@pytest.fixture(scope="module", params=["prometheus", "victoriametrics"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    url = request.getfixturevalue("prometheus_url" if request.param == "prometheus" else "victoriametrics_url")
    return request.param, url


@pytest.fixture(scope="module")
def results(backend: tuple[str, str]) -> dict[str, ctxgrab.IncidentResult]:
    kind, url = backend
    cfg = live_config(url, kind)
    return {svc: ctxgrab.incident(svc, config=cfg) for svc in ("payments", OTEL_SERVICE)}


@pytest.mark.parametrize("service,naming,title", [("payments", "micrometer", "Micrometer"),
                                                   (OTEL_SERVICE, "otel", "OpenTelemetry")])
def test_probe_picks_the_naming_and_says_so(results, service, naming, title) -> None:
    evs = by_id(results[service])
    for mid in ("heap_used", "gc_pause", "threads", "request_rate", "error_ratio", "latency_p99", "cpu_usage"):
        ev = evs[mid]
        assert ev.ok, (mid, ev.reason)
        assert ev.data["naming"] == naming
        assert f"{title} naming" in ev.source
    assert "series match" in evs["heap_used"].data["naming_note"]


@pytest.mark.parametrize("service", ["payments", OTEL_SERVICE])
def test_gauges_match_the_scenario_exactly(results, scenario: Scenario, service: str) -> None:
    evs = by_id(results[service])
    for mid in ("heap_used", "heap_committed", "threads"):
        want = summarize(window_points(scenario, mid))
        got = evs[mid].data["series"][0]["summary"]
        for key in ("first", "last", "min", "max", "mean", "p95"):
            assert close(got[key], want[key], 1e-6), (mid, key, got[key], want[key])
        assert close(got["trend_per_hour"], want["trend_per_hour"], 1e-3)
    # heap max: Micrometer's -1 for the eden pool must be left out of the sum
    assert evs["heap_max"].data["series"][0]["summary"]["last"] == 8 * GB
    used = evs["heap_used"].data["series"][0]["summary"]
    assert 1.9 * GB < used["first"] < 2.1 * GB and 7.8 * GB < used["last"] < 8 * GB
    assert used["r2"] > 0.95


@pytest.mark.parametrize("service", ["payments", OTEL_SERVICE])
def test_rates_ratios_and_quantiles_match_within_rounding(results, scenario: Scenario, service: str) -> None:
    evs = by_id(results[service])
    # rate()[5m] averages five one-minute steps: means agree, single points are smoothed
    for mid, rel in (("request_rate", 0.01), ("gc_pause", 0.02)):
        want = summarize(window_points(scenario, mid))["mean"]
        got = evs[mid].data["series"][0]["summary"]["mean"]
        assert close(got, want, rel), (mid, got, want)
    err = evs["error_ratio"].data["series"][0]["summary"]["change_point"]
    assert close(err["before"], 0.003, 0.05) and close(err["after"], 0.152, 0.05), err
    p99 = evs["latency_p99"].data["series"][0]["summary"]["change_point"]
    assert close(p99["before"], 0.18, 0.05) and close(p99["after"], 1.6, 0.05), p99
    # the level shift is found where the scenario put it (11:00), to within the rate window
    assert abs(err["at"] - (scenario.end_s - 3600)) <= 360


def test_baseline_window_is_compared(results, scenario: Scenario) -> None:
    ev = by_id(results["payments"])["heap_used"]
    summary = ev.data["series"][0]["summary"]
    baseline = summarize(window_points(scenario, "heap_used", 12, offset_h=12))
    assert ev.data["baseline_label"] == "the previous window"
    assert close(summary["baseline_mean"], baseline["mean"], 1e-6)
    assert close(summary["baseline_ratio"], summary["mean"] / baseline["mean"], 1e-9)


@pytest.fixture(scope="module")
def saved_demo() -> ctxgrab.IncidentResult:
    """The demo from its saved replies, metrics only (no logs, deploys, settings)."""
    raw = yaml.safe_load(DEMO.read_text())
    raw["sources"]["saved"]["path"] = str(DEMO.parent / raw["sources"]["saved"]["path"])
    svc = raw["services"]["payments"]
    raw["services"]["payments"] = {"labels": svc["labels"], "packs": svc["packs"]}
    return ctxgrab.incident("payments", config=config_from_dict(raw))


def test_signals_and_prompt_read_like_the_saved_demo(results, saved_demo) -> None:
    live = results["payments"]
    assert [s["name"] for s in live.signals] == [s["name"] for s in saved_demo.signals]
    assert saved_demo.signals, "the saved demo should fire metric signals"
    md = live.markdown
    for ev in saved_demo.evidence:
        if ev.ok and ev.data.get("id") in ("heap_used", "heap_max", "threads"):
            # gauges render to the same sentence, number for number
            line = next(l for l in saved_demo.markdown.splitlines() if l.startswith(f"- **{ev.title}**"))
            assert line in md, line


def test_step_keeps_a_long_window_under_the_point_limit(backend) -> None:
    kind, url = backend
    cfg = live_config(url, kind)
    result = ctxgrab.incident("payments", config=cfg, since="90d")
    ev = by_id(result)["heap_used"]
    assert ev.ok, ev.reason
    assert 90 * 86400 / ev.data["step_s"] < 11_000


def test_shifted_baseline_is_queried_on_its_own(backend, scenario: Scenario) -> None:
    kind, url = backend
    cfg = live_config(url, kind, baseline="12h")
    result = ctxgrab.incident("payments", config=cfg, since="6h")
    ev = by_id(result)["threads"]
    assert ev.data["baseline_label"] == "the same window 12 h earlier"
    # window 06:00-12:00, baseline 18:00-24:00 the day before: not adjacent, so a query of its own
    want = summarize(window_points(scenario, "threads", 6, offset_h=12))
    assert close(ev.data["series"][0]["summary"]["baseline_mean"], want["mean"], 1e-6)


def test_path_prefix(victoriametrics_url: str) -> None:
    # VictoriaMetrics serves the same API under /prometheus, as Mimir does by default
    cfg = live_config(victoriametrics_url + "/prometheus", "victoriametrics")
    ev = by_id(ctxgrab.incident("payments", config=cfg))["heap_used"]
    assert ev.ok and "/prometheus" in ev.source


def test_quantiles_computed_from_shared_buckets_equal_promql(backend, results) -> None:
    """p50/p99 come from one bucket-rate query; they must equal the server's own histogram_quantile."""
    from ctxgrab.collectors.metrics import PromClient
    from ctxgrab.config import SourceConfig

    kind, url = backend
    client = PromClient(SourceConfig(type=kind, url=url), 10)
    for mid in ("latency_p99", "latency_p50"):
        ev = by_id(results["payments"])[mid]
        assert ev.data["query"].startswith("histogram_quantile(")
        pts = ev.data["series"][0]["points"]
        lo, hi = pts[0][0], pts[-1][0]
        reply = client.query_range(ev.data["query"], lo, hi, ev.data["step_s"], time.monotonic() + 10)
        server = {float(t): float(v) for t, v in reply.data["result"][0]["values"]}
        assert len(server) == len(pts)
        for t, v in pts:
            assert math.isclose(server[t], v, rel_tol=1e-9), (mid, t, server[t], v)


def test_live_demo_config_reproduces_the_saved_demo(prometheus_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """fixtures/demo/openmetrics/ctxgrab.yaml against the backfilled scenario: same signals, same gauge lines."""
    from ctxgrab.config import load_config

    monkeypatch.setenv("CTXGRAB_DEMO_PROMETHEUS", prometheus_url)
    live = ctxgrab.incident("payments", config=load_config(DEMO.parent / "openmetrics" / "ctxgrab.yaml"))
    saved = ctxgrab.incident("payments", config=DEMO)
    assert [s["name"] for s in live.signals] == [s["name"] for s in saved.signals]
    saved_lines = saved.markdown.splitlines()
    for title in ("JVM heap used", "JVM heap committed", "JVM heap max", "Live threads"):
        line = next(l for l in saved_lines if l.startswith(f"- **{title}**"))
        # The live config names the settings file from its own folder (../jvm.options).
        assert line in live.markdown.replace("in ../jvm.options", "in jvm.options"), line
    assert not [ev.name for ev in live.evidence if ev.status.value in ("error", "timeout")]


@pytest.fixture(scope="module")
def sent(prometheus_url: str) -> dict[str, list[tuple[str, str]]]:
    """Every request each service's collection sends to a real Prometheus: ``(api, query or match[])``."""
    from ctxgrab.collectors import metrics

    original = metrics.AsyncPromClient._once
    log: list[tuple[str, str]] = []

    async def once(client: Any, path: str, params: Any, timeout_s: float, api: str, envelope: bool) -> Any:
        p = params if isinstance(params, dict) else {}
        log.append((api, p.get("query") or p.get("match[]") or path))
        return await original(client, path, params, timeout_s, api, envelope)

    out: dict[str, list[tuple[str, str]]] = {}
    cfg = live_config(prometheus_url)
    metrics.AsyncPromClient._once = once  # type: ignore[method-assign]
    try:
        for svc in ("payments", OTEL_SERVICE):
            log.clear()
            result = ctxgrab.incident(svc, config=cfg)
            assert by_id(result)["heap_used"].ok
            out[svc] = list(log)
    finally:
        metrics.AsyncPromClient._once = original  # type: ignore[method-assign]
    return out


def test_first_naming_needs_one_probe_and_no_second_query(sent) -> None:
    got = sent["payments"]
    probes = [q for api, q in got if api == "series"]
    assert len(probes) == 3 and not any("jvm_memory_type" in q or "duration_seconds" in q for q in probes)
    queries = [q for api, q in got if api == "query_range"]
    # p50/p99 share one bucket query, asked for the window and for the baseline (two halves that
    # run at once: it is the slowest query); nothing else is asked twice
    buckets = [q for q in queries if q.startswith("sum by (le)")]
    assert len(buckets) == 2 and len(set(buckets)) == 1
    others = [q for q in queries if not q.startswith("sum by (le)")]
    assert len(others) == len(set(others))
    assert got[0][0] == "query_range" and got[0][1].startswith("sum by (le)")  # the slowest query goes out first
    assert not any("jvm_memory_type" in q or "duration_seconds" in q for q in queries)


def test_other_naming_is_probed_after_the_first_and_queried_again(sent) -> None:
    got = sent[OTEL_SERVICE]
    probes = [q for api, q in got if api == "series"]
    assert len(probes) == 6  # each pack: Micrometer (absent), then OpenTelemetry
    # the heap's per-pod ranking (one query for used, committed and max) in each naming
    heap_micrometer = next(i for i, (api, q) in enumerate(got)
                           if api == "query" and 'jvm_memory_used_bytes{area="heap",namespace="prod",service="payments-otel"}' in q)
    heap_otel = next(i for i, (api, q) in enumerate(got) if api == "query" and
                     'jvm_memory_used_bytes{jvm_memory_type="heap",namespace="prod",service="payments-otel"}' in q)
    # the speculative Micrometer query went out with the probe, and the OpenTelemetry one after it
    assert heap_micrometer < heap_otel
    assert heap_micrometer < got.index(("series", probes[1]))


def test_the_shared_connection_pool_is_closed_after_the_run(prometheus_url: str) -> None:
    import anyio

    from ctxgrab.api import resolve_window
    from ctxgrab.collectors import CollectRequest
    from ctxgrab.engine import collect_all, plan

    cfg = live_config(prometheus_url)
    now, window, baseline = resolve_window(cfg)
    request = CollectRequest("payments", window, baseline, now, cfg.base_dir, cfg, timeout_s=10)
    pools: list[Any] = []

    async def main() -> None:
        from ctxgrab.collectors import metrics

        original = metrics._new_http

        def record(*args: Any) -> Any:
            pools.append(original(*args))
            return pools[-1]

        metrics._new_http = record  # type: ignore[assignment]
        try:
            evs = await collect_all(request, plan(cfg, "payments"), deadline_s=20)
        finally:
            metrics._new_http = original  # type: ignore[assignment]
        assert all(e.status.value in ("ok", "skipped") for e in evs), [(e.name, e.reason) for e in evs]

    anyio.run(main)
    assert pools and all(p.is_closed for p in pools)
    assert len(pools) <= 2  # one pool for the run (a second only if every user had left before another came)
    assert request.extra["_prom_http"] == {}


def test_saved_bucket_reply_goes_through_the_same_quantile_analysis(prometheus_url, tmp_path: Path) -> None:
    """A saved reply of the pack's own bucket query read "Latency p99 `le=0.1`: 5.5 min"."""
    import requests

    from ctxgrab.packs import fill, load_pack

    live = ctxgrab.incident("payments", config=live_config(prometheus_url))
    want = by_id(live)["latency_p99"].data["series"][0]["summary"]
    q = fill(load_pack("http").metric("latency_p99").query, {"service": "payments", "namespace": "prod"})
    end = ctxgrab.api.parse_time(AT).timestamp()
    reply = requests.get(f"{prometheus_url}/api/v1/query_range",
                         params={"query": q, "start": end - 24 * 3600, "end": end, "step": 60}, timeout=10)
    assert reply.ok and any("le" in r["metric"] for r in reply.json()["data"]["result"])
    (tmp_path / "latency_p99.json").write_text(reply.text)
    saved = config_from_dict({
        "defaults": {"since": "12h", "at": AT},
        "sources": {"saved": {"type": "prometheus_files", "path": str(tmp_path)}},
        "services": {"payments": {"labels": {"service": "payments", "namespace": "prod"}, "packs": ["http"]}},
    })
    res = ctxgrab.incident("payments", config=saved)
    ev = by_id(res)["latency_p99"]
    assert ev.ok and ev.data["series_total"] == 1 and ev.data["series"][0]["labels"] == {}
    got = ev.data["series"][0]["summary"]
    for key in ("first", "last", "max", "p95"):
        assert close(got[key], want[key], 1e-6), (key, got[key], want[key])
    assert "`le=" not in res.markdown and "latency_regression" in [s["name"] for s in res.signals]
