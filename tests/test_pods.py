"""Per-pod quantities against a real Prometheus holding several pods: worst pod, spread, pod count; never a sum.

The data is raw Micrometer exporter metrics (names and labels as Micrometer's Prometheus
registry writes them: ``jvm_memory_used_bytes{area="heap",id="G1 Old Gen"}``, ``-1`` as the
max of G1's eden and survivor pools, ``http_server_requests_seconds_count``) for three pods
of one service, backfilled with ``promtool tsdb create-blocks-from openmetrics`` as
tests/prom_fixtures.py does for the demo. Pod ``payments-a`` leaks (old gen 0.4 → 1.8 GiB of
its own 2 GiB ``-Xmx``); the other two are flat. A fleet sum would show 6 GiB of heap max.
"""

from __future__ import annotations

from typing import Iterator

import pytest

import ctxgrab
from ctxgrab.config import config_from_dict
from ctxgrab.signals import derive
from prom_fixtures import backfilled_prometheus

pytestmark = pytest.mark.integration

GiB, MiB = 1024**3, 1024**2
END = 1772452800  # 2026-03-02T12:00:00Z
AT = "2026-03-02T12:00:00Z"
PODS = {"payments-a": "leak", "payments-b": "flat", "payments-c": "flat"}
STEP = 60
HOURS = 6


def _series(name: str, labels: dict[str, str], values: list[tuple[float, float]]) -> list[str]:
    lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return [f"{name}{{{lab}}} {v:.17g} {int(t)}" for t, v in values]


def openmetrics() -> str:
    times = [END - HOURS * 3600 + i * STEP for i in range(HOURS * 3600 // STEP + 1)]
    fam: dict[str, tuple[str, list[str]]] = {
        "jvm_memory_used_bytes": ("gauge", []), "jvm_memory_max_bytes": ("gauge", []),
        "jvm_threads_live_threads": ("gauge", []), "http_server_requests_seconds": ("counter", []),
    }
    for n, (pod, mode) in enumerate(sorted(PODS.items())):
        base = {"service": "payments", "namespace": "prod", "pod": pod, "instance": f"10.0.0.{n + 1}:8080"}
        old = [(t, (0.4 + 1.4 * i / (len(times) - 1)) * GiB if mode == "leak" else 0.6 * GiB + (i % 7) * MiB)
               for i, t in enumerate(times)]
        eden = [(t, (50 + (i * 37) % 200) * MiB) for i, t in enumerate(times)]
        rows = fam["jvm_memory_used_bytes"][1]
        rows += _series("jvm_memory_used_bytes", {**base, "area": "heap", "id": "G1 Old Gen"}, old)
        rows += _series("jvm_memory_used_bytes", {**base, "area": "heap", "id": "G1 Eden Space"}, eden)
        mx = fam["jvm_memory_max_bytes"][1]
        mx += _series("jvm_memory_max_bytes", {**base, "area": "heap", "id": "G1 Old Gen"}, [(t, 2 * GiB) for t in times])
        mx += _series("jvm_memory_max_bytes", {**base, "area": "heap", "id": "G1 Eden Space"}, [(t, -1) for t in times])
        fam["jvm_threads_live_threads"][1].extend(
            _series("jvm_threads_live_threads", base, [(t, 40.0 + 20 * n) for t in times]))
        # 100 requests/s on each pod: the fleet's rate is 300/s (a sum that means something).
        fam["http_server_requests_seconds"][1].extend(_series(
            "http_server_requests_seconds_count", {**base, "status": "200", "uri": "/pay"},
            [(t, 100.0 * (t - times[0])) for t in times]))
    out = []
    for name, (kind, rows) in fam.items():
        out.append(f"# TYPE {name} {kind}")
        out.extend(sorted(rows, key=lambda r: (r.split(" ")[0], float(r.split(" ")[-1]))))
    return "\n".join(out) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("pods")
    om = folder / "pods.om"
    om.write_text(openmetrics())
    with backfilled_prometheus(om, folder) as url:
        yield url


@pytest.fixture(scope="module")
def result(prom: str) -> ctxgrab.IncidentResult:
    cfg = config_from_dict({
        "defaults": {"since": "4h", "at": AT, "timeout_s": 10, "deadline_s": 20},
        "sources": {"live": {"type": "prometheus", "url": prom}},
        "services": {"payments": {"labels": {"service": "payments", "namespace": "prod"}, "packs": ["jvm", "http"]}},
    })
    return ctxgrab.incident("payments", config=cfg)


def _ev(result: ctxgrab.IncidentResult, mid: str):
    return next(ev for ev in result.evidence if ev.kind == "metrics" and ev.data.get("id") == mid)


def test_heap_is_reported_per_pod_worst_first(result) -> None:
    heap = _ev(result, "heap_used")
    assert heap.ok, heap.reason
    pods = heap.data["instances"]
    assert pods["count"] == 3 and pods["worst"]["pod"] == "payments-a"
    worst = heap.data["series"][0]
    assert worst["labels"]["pod"] == "payments-a"
    assert 1.7 * GiB < worst["summary"]["last"] < 2.0 * GiB  # old gen 1.8 GiB + eden, of one pod
    assert worst["summary"]["trend_per_hour"] > 0.2 * GiB  # the trend is the leaking pod's
    assert pods["last_min"] < 0.9 * GiB  # the flat pods: the spread is stated
    mx = _ev(result, "heap_max")
    assert {s["summary"]["last"] for s in mx.data["series"]} == {2 * GiB}  # -Xmx2g per pod, not 6 GiB summed


def test_prompt_shows_worst_pod_spread_and_count_and_the_fleet_rate(result) -> None:
    md = result.markdown
    assert "**JVM heap used**, worst of 3 pods (`instance=10.0.0.1:8080, pod=payments-a`)" in md
    assert "across the 3 pods" in md and "per pod, not summed" in md
    # the limit shown is the worst heap-used pod's own
    assert "**JVM heap max**, of the pod highest in JVM heap used among 3 pods (`instance=10.0.0.1:8080, pod=payments-a`)" in md
    assert "2.0 GiB" in md and "6.0 GiB" not in md
    rate = _ev(result, "request_rate").data["series"][0]["summary"]
    assert 295 < rate["last"] < 305  # 3 pods × 100/s: a sum that means something


def test_memory_signal_uses_the_worst_pod_and_its_own_limit(result) -> None:
    sig = next(s for s in derive(result.evidence, result.window) if s["name"] == "memory_leak")
    assert sig["facts"]["limit_bytes"] == 2 * GiB and sig["facts"]["worst_pod"]["pod"] == "payments-a"
    assert "of the 2.0 GiB max" in sig["summary"] and "worst of 3 pods" in sig["summary"]
