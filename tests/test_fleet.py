"""A fleet of 300 pods against a real Prometheus: bounded replies, the right worst pods, shared queries.

The data is raw Micrometer exporter metrics, names and labels as Micrometer's Prometheus
registry writes them (``jvm_memory_used_bytes{area="heap",id="G1 Old Gen"}``, ``-1`` as the
max of G1's eden pool, ``http_server_requests_seconds_count{status="500"}``), for 300 pods of
one service, backfilled with ``promtool tsdb create-blocks-from openmetrics`` as
tests/prom_fixtures.py does. The values are made here so that the answer is known:

- pods 017, 123 and 250 leak (old gen up to 1.90, 1.85 and 1.80 GiB of a 2 GiB ``-Xmx``);
- 20 pods sit at 1.80 GiB (within 10 % of the worst, 1.95 GiB), the rest at 0.50-0.80 GiB;
- every pod serves 10 requests/s; pods 000-029 answer 20 % of theirs with HTTP 500;
- GC, CPU, file descriptors and RSS differ by pod (as Micrometer and client libraries name them).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import pytest
import requests

import ctxgrab
from ctxgrab.collectors import metrics
from ctxgrab.config import config_from_dict
from prom_fixtures import backfilled_prometheus

pytestmark = pytest.mark.integration

GiB, MiB = 1024**3, 1024**2
END = 1772452800  # 2026-03-02T12:00:00Z
AT = "2026-03-02T12:00:00Z"
STEP = 60
HOURS = 3
N = 300
LEAKS = {17: 1.90, 123: 1.85, 250: 1.80}  # pod -> old gen at the end, GiB
ALIKE = set(range(40, 60))  # 1.80 GiB: within 10 % of the worst (1.95 GiB)
EDEN = 0.05 * GiB


def pod(i: int) -> str:
    return f"payments-{i:03d}"


def old_gen(i: int, frac: float) -> float:
    if i in LEAKS:
        return (0.6 + (LEAKS[i] - 0.6) * frac) * GiB
    if i in ALIKE:
        return 1.80 * GiB - EDEN
    return (0.45 + 0.001 * i) * GiB


def openmetrics() -> str:
    times = [END - HOURS * 3600 + k * STEP for k in range(HOURS * 3600 // STEP + 1)]
    fam: dict[str, tuple[str, list[str]]] = {
        "jvm_memory_used_bytes": ("gauge", []), "jvm_memory_committed_bytes": ("gauge", []),
        "jvm_memory_max_bytes": ("gauge", []), "jvm_threads_live_threads": ("gauge", []),
        "http_server_requests_seconds": ("counter", []), "jvm_gc_pause_seconds": ("summary", []),
        "process_cpu_usage": ("gauge", []), "process_files_open_files": ("gauge", []),
        "process_files_max_files": ("gauge", []), "process_resident_memory_bytes": ("gauge", []),
    }

    def rows(name: str, labels: dict[str, str], values: list[tuple[float, float]]) -> list[str]:
        lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return [f"{name}{{{lab}}} {v:.17g} {int(t)}" for t, v in values]

    for i in range(N):
        base = {"service": "payments", "namespace": "prod", "pod": pod(i), "instance": f"10.1.{i // 250}.{i % 250}:8080"}
        old = {**base, "area": "heap", "id": "G1 Old Gen"}
        eden = {**base, "area": "heap", "id": "G1 Eden Space"}
        last = len(times) - 1
        fam["jvm_memory_used_bytes"][1].extend(rows("jvm_memory_used_bytes", old, [(t, old_gen(i, k / last)) for k, t in enumerate(times)]))
        fam["jvm_memory_used_bytes"][1].extend(rows("jvm_memory_used_bytes", eden, [(t, EDEN) for t in times]))
        fam["jvm_memory_committed_bytes"][1].extend(rows("jvm_memory_committed_bytes", old, [(t, 1.95 * GiB) for t in times]))
        fam["jvm_memory_committed_bytes"][1].extend(rows("jvm_memory_committed_bytes", eden, [(t, 0.05 * GiB + i * MiB) for t in times]))
        fam["jvm_memory_max_bytes"][1].extend(rows("jvm_memory_max_bytes", old, [(t, 2 * GiB) for t in times]))
        fam["jvm_memory_max_bytes"][1].extend(rows("jvm_memory_max_bytes", eden, [(t, -1) for t in times]))
        fam["jvm_threads_live_threads"][1].extend(rows("jvm_threads_live_threads", base, [(t, 40.0 + i % 50) for t in times]))
        gc = {**base, "gc": "G1 Young Generation", "action": "end of minor GC", "cause": "G1 Evacuation Pause"}
        paused = 0.01 + 0.0001 * i  # share of time paused; 20 ms per pause
        fam["jvm_gc_pause_seconds"][1].extend(rows("jvm_gc_pause_seconds_sum", gc, [(t, paused * (t - times[0])) for t in times]))
        fam["jvm_gc_pause_seconds"][1].extend(rows("jvm_gc_pause_seconds_count", gc, [(t, paused / 0.02 * (t - times[0])) for t in times]))
        for name, value in (("process_cpu_usage", 0.2 + (i % 10) * 0.05), ("process_files_open_files", 140.0 + i % 60),
                            ("process_files_max_files", 65536.0), ("process_resident_memory_bytes", (1 + 0.001 * i) * GiB)):
            fam[name][1].extend(rows(name, base, [(t, value) for t in times]))
        bad = 0.2 if i < 30 else 0.0
        ok = {**base, "method": "POST", "uri": "/payments", "status": "200", "outcome": "SUCCESS", "exception": "none"}
        fam["http_server_requests_seconds"][1].extend(rows(
            "http_server_requests_seconds_count", ok, [(t, 10 * (1 - bad) * (t - times[0])) for t in times]))
        if bad:
            err = {**ok, "status": "500", "outcome": "SERVER_ERROR", "exception": "IllegalStateException"}
            fam["http_server_requests_seconds"][1].extend(rows(
                "http_server_requests_seconds_count", err, [(t, 10 * bad * (t - times[0])) for t in times]))
    out = []
    for name, (kind, lines) in fam.items():
        out.append(f"# TYPE {name} {kind}")
        out.extend(sorted(lines, key=lambda r: (r.split(" ")[0], float(r.split(" ")[-1]))))
    return "\n".join(out) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fleet")
    om = folder / "fleet.om"
    om.write_text(openmetrics())
    with backfilled_prometheus(om, folder) as url:
        yield url


def run(url: str, at: str = AT, since: str = "2h") -> tuple[ctxgrab.IncidentResult, list[dict[str, Any]]]:
    """One incident, and every reply the collection got: api, query, number of series."""
    cfg = config_from_dict({
        "defaults": {"since": since, "at": at, "timeout_s": 20, "deadline_s": 40},
        "sources": {"live": {"type": "prometheus", "url": url}},
        "services": {"payments": {"labels": {"service": "payments", "namespace": "prod"},
                                  "packs": ["jvm", "http", "process"]}},
    })
    log: list[dict[str, Any]] = []
    original = metrics.AsyncPromClient._once

    async def once(client, path, params, timeout_s, api, envelope):  # type: ignore[no-untyped-def]
        reply = await original(client, path, params, timeout_s, api, envelope)
        result = (reply.data or {}).get("result") if isinstance(reply.data, dict) else None
        log.append({"api": api, "query": (params or {}).get("query", ""), "series": len(result or [])})
        return reply

    metrics.AsyncPromClient._once = once  # type: ignore[method-assign]
    try:
        return ctxgrab.incident("payments", config=cfg), log
    finally:
        metrics.AsyncPromClient._once = original  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def fleet(prom: str) -> tuple[ctxgrab.IncidentResult, list[dict[str, Any]]]:
    return run(prom)


def _ev(result: ctxgrab.IncidentResult, mid: str):
    return next(ev for ev in result.evidence if ev.kind == "metrics" and ev.data.get("id") == mid)


def test_replies_are_bounded_whatever_the_fleet_size(fleet) -> None:
    _, log = fleet
    assert not any(r["series"] >= N for r in log)  # never one series per pod
    # a ranking: 3 worst pods + 4 numbers per part (process: cpu, rss, fds, fd limit)
    assert all(r["series"] <= 4 * 7 for r in log if r["api"] == "query"), max(log, key=lambda r: r["series"])
    # a range query: each part's own 3 worst pods (the fd limit: the open fds' pods), no other pairs;
    # 12 is also the latency histogram's bucket count
    ranges = [r for r in log if r["api"] == "query_range"]
    assert all(r["series"] <= 12 for r in ranges), max(ranges, key=lambda r: r["series"])
    heap = next(r for r in ranges if "jvm_memory_committed_bytes" in r["query"])
    assert heap["series"] == 3 * 3  # used and max of the 3 worst by use, committed of the 3 worst by committed (297-299), not 6 × 3


def test_the_worst_pods_are_named_with_their_numbers(fleet) -> None:
    result, _ = fleet
    heap = _ev(result, "heap_used")
    assert heap.ok, heap.reason
    pods = heap.data["instances"]
    assert [s["labels"]["pod"] for s in heap.data["series"]] == [pod(17), pod(123), pod(250)]
    assert pods["count"] == N and heap.data["series_total"] == N
    assert pods["last_max"] == pytest.approx(1.90 * GiB + EDEN, rel=1e-9)
    assert [round(w["last"] / GiB, 4) for w in pods["worst_pods"]] == [1.95, 1.9, 1.85]
    assert pods["others_alike"] == len(ALIKE)  # 1.80 GiB ≥ 0.9 × 1.95 GiB; the two other leaks are shown
    lows = sorted(old_gen(i, 1.0) + EDEN for i in range(N))
    assert pods["last_min"] == pytest.approx(lows[0], rel=1e-9)
    assert pods["last_median"] == pytest.approx((lows[149] + lows[150]) / 2, rel=1e-9)
    worst = heap.data["series"][0]["summary"]
    assert worst["trend_per_hour"] > 0.3 * GiB  # the leaking pod's own trend


def test_prompt_names_worst_pods_and_how_many_others_alike(fleet) -> None:
    md = fleet[0].markdown
    line = next(line for line in md.splitlines() if line.startswith("- **JVM heap used**"))
    assert f"worst of {N} pods (`instance=10.1.0.17:8080, pod={pod(17)}`)" in line
    assert f"next worst `{pod(123)}` 1.9 GiB, `{pod(250)}` 1.9 GiB" in line
    assert f"{len(ALIKE)} other pods within 10% of the worst pod's 1.9 GiB" in line
    assert f"across the {N} pods" in line
    limit = next(line for line in md.splitlines() if line.startswith("- **JVM heap max**"))
    assert f"pod={pod(17)}" in limit and "2.0 GiB" in limit  # the worst pod's own -Xmx, never 600 GiB summed


def test_limit_beside_usage_is_the_same_pods(fleet) -> None:
    result, _ = fleet
    used = [s["labels"] for s in _ev(result, "heap_used").data["series"]]
    assert [s["labels"] for s in _ev(result, "heap_max").data["series"]] == used


def test_heap_family_and_request_classes_are_one_query_each(fleet) -> None:
    _, log = fleet
    ranges = [r["query"] for r in log if r["api"] == "query_range"]
    assert sum("jvm_memory_committed_bytes" in q for q in ranges) == 1  # used, committed, max together
    assert sum("http_server_requests_seconds_count" in q and "_bucket" not in q for q in ranges) == 1
    assert sum("jvm_gc_pause_seconds_count" in q for q in ranges) == 1  # GC time and count together
    rate = _ev(fleet[0], "request_rate").data["series"][0]["summary"]
    ratio = _ev(fleet[0], "error_ratio").data["series"][0]["summary"]
    assert rate["last"] == pytest.approx(N * 10, rel=1e-6)
    assert ratio["last"] == pytest.approx(30 * 2 / (N * 10), rel=1e-6)  # 30 pods × 2/s of 500s


def _query_range(url: str, query: str) -> dict[str, list[tuple[float, float]]]:
    r = requests.get(f"{url}/api/v1/query_range", params={"query": query, "start": END - 7200, "end": END,
                                                          "step": "60"}, timeout=30)
    r.raise_for_status()
    return {metrics._label_key(s["metric"]): [(float(t), float(v)) for t, v in s["values"]]
            for s in r.json()["data"]["result"]}


@pytest.mark.parametrize("pack_name", ["jvm", "http", "process"])
def test_shared_query_gives_the_numbers_of_the_separate_queries(prom: str, pack_name: str) -> None:
    from ctxgrab.packs import fill, load_pack

    pack = load_pack(pack_name)
    labels = {"service": "payments", "namespace": "prod"}
    checked = 0
    for m in pack.metrics:
        if m.shared is None:
            continue
        by = pack.queries[m.shared.query].by
        shared = _query_range(prom, fill(pack.queries[m.shared.query].query_for("micrometer"), labels))
        picked = metrics._pick([{"labels": __import__("json").loads(k), "points": v} for k, v in shared.items()],
                               m.shared, by)
        got = {metrics._label_key(s["labels"]): s["points"] for s in picked}
        want = _query_range(prom, fill(m.query_for("micrometer"), labels))
        assert set(got) == set(want), m.id
        if not want:  # an optional metric the fleet does not expose (metaspace, direct buffers)
            assert m.optional, m.id
            continue
        for key, points in want.items():
            assert [t for t, _ in got[key]] == [t for t, _ in points], (m.id, key)
            for (_, a), (_, b) in zip(got[key], points):
                assert a == pytest.approx(b, rel=1e-12) or (math.isnan(a) and math.isnan(b)), (m.id, key)
        checked += 1
    assert checked == {"jvm": 6, "http": 2, "process": 4}[pack_name]  # old gen after GC, metaspace, direct buffers: not exposed here


def test_window_after_the_fleet_stopped_ranks_on_the_last_values(prom: str) -> None:
    result, log = run(prom, at="2026-03-02T12:30:00Z", since="1h")  # no pod reports in the last 25 min
    heap = _ev(result, "heap_used")
    assert heap.ok, heap.reason
    assert [s["labels"]["pod"] for s in heap.data["series"]] == [pod(17), pod(123), pod(250)]
    # the last samples (12:00) stay visible for Prometheus's 5 min lookback
    assert heap.data["instances"]["ranked_at"] == END + 300
    assert "(ranked at 12:05 UTC, the last step of the window with values)" in result.markdown
    assert all(r["series"] < 40 for r in log)
