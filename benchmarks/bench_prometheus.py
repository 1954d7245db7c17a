"""Whole-incident metric collection against a real Prometheus: concurrent wall time vs single queries.

Loads the `payments` demo scenario (24 h at 1 min, Micrometer naming) replicated over
``--instances`` pods into a fresh Prometheus (promtool backfill), then, in one run:

1. the concurrent collection: every instance of the jvm + http + process packs over a
   12 h window (naming probes, window and baseline ``query_range``), through the engine,
   exactly as ``ctxgrab incident`` runs it; wall time of ``collect_all``;
2. the same queries one at a time through the same client (probes, then each window and
   baseline query): the slowest single query, and the sum of all of them.

Goal: concurrent wall time ≤ 1.2 × the slowest single query. Medians over ``--rounds``.

    python benchmarks/bench_prometheus.py [--instances 20] [--rounds 7]

Needs ``prometheus`` and ``promtool`` on PATH.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import requests

REPO = Path(__file__).resolve().parents[1]


def _build():
    spec = importlib.util.spec_from_file_location("demo_build", REPO / "fixtures/demo/openmetrics/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prometheus(folder: Path, instances: int) -> tuple[subprocess.Popen, str]:
    build = _build()
    saved, labels = build.load_saved()
    fam: dict = {}
    for i in range(instances):
        for name, rows in build.families(saved, {**labels, "instance": f"payments-{i:02d}:8080"}, "micrometer").items():
            fam.setdefault(name, []).extend(rows)
    om = folder / "bench.om"
    om.write_text(build.to_openmetrics(fam))
    data = folder / "data"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=240h",
                    str(om), str(data)], check=True, capture_output=True, timeout=600)
    om.unlink()
    (folder / "prometheus.yml").write_text("global: {}\n")
    port = _port()
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    raise SystemExit("prometheus did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--verbose", action="store_true", help="print the slowest queries and collectors")
    args = ap.parse_args()
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not on PATH")

    from ctxgrab.api import resolve_window
    from ctxgrab.collectors import CollectRequest
    from ctxgrab.collectors.metrics import PromClient
    from ctxgrab.config import config_from_dict
    from ctxgrab.engine import collect_all, plan
    from ctxgrab.packs import fill, load_pack

    with tempfile.TemporaryDirectory(prefix="ctxgrab-bench-prom-") as tmp:
        t0 = time.monotonic()
        proc, url = start_prometheus(Path(tmp), args.instances)
        load_s = time.monotonic() - t0
        try:
            labels = {"service": "payments", "namespace": "prod"}
            cfg = config_from_dict({
                "defaults": {"since": "12h", "at": "2026-03-02T12:00:00Z", "timeout_s": 30, "deadline_s": 60},
                "sources": {"prom": {"type": "prometheus", "url": url}},
                "services": {"payments": {"labels": labels, "packs": ["jvm", "http", "process"]}},
            })
            now, window, baseline = resolve_window(cfg)
            planned = plan(cfg, "payments")

            def request() -> CollectRequest:
                return CollectRequest("payments", window, baseline, now, cfg.base_dir, cfg, timeout_s=30)

            # every request the collection makes, for the one-at-a-time measurement
            client = PromClient(cfg.sources["prom"], 30)
            queries: list[tuple[str, str, float, float]] = []
            for pack_name in ("jvm", "http", "process"):
                pack = load_pack(pack_name)
                for sel in pack.probe.values():
                    queries.append(("series", fill(sel, labels), window.start.timestamp(), window.end.timestamp()))
                for m in pack.metrics:
                    # as the collector does: the adjacent baseline and the window in one query
                    q = fill(m.query_for("micrometer"), labels)
                    item = ("query_range", q, baseline.start.timestamp(), window.end.timestamp())
                    if item not in queries:  # identical queries (p50/p99 bucket rates) are shared in a run
                        queries.append(item)

            def one(kind: str, q: str, lo: float, hi: float) -> float:
                started = time.perf_counter()
                if kind == "series":
                    client.series(q, lo, hi, time.monotonic() + 30)
                else:
                    client.query_range(q, lo, hi, 60, time.monotonic() + 30)
                return time.perf_counter() - started

            for kind, q, lo, hi in queries:  # warm the server's caches and the page cache once
                one(kind, q, lo, hi)
            walls, slowest, sums, statuses = [], [], [], set()
            server_cpu, client_cpu, seq_server_cpu, seq_client_cpu = [], [], [], []
            for _ in range(args.rounds):
                cpu0, own0 = _cpu_s(proc.pid), time.process_time()
                started = time.perf_counter()
                evs = anyio.run(lambda: collect_all(request(), planned, deadline_s=60))
                walls.append(time.perf_counter() - started)
                server_cpu.append(_cpu_s(proc.pid) - cpu0)
                client_cpu.append(time.process_time() - own0)
                statuses |= {(e.name, e.status.value) for e in evs}
                cpu0, own0 = _cpu_s(proc.pid), time.process_time()
                times = [one(*q) for q in queries]
                seq_server_cpu.append(_cpu_s(proc.pid) - cpu0)
                seq_client_cpu.append(time.process_time() - own0)
                slowest.append(max(times))
                sums.append(sum(times))
                last_times, last_evs = times, evs
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    bad = sorted(n for n, s in statuses if s not in ("ok", "skipped"))
    optional = sorted(n for n, s in statuses if s == "skipped")
    wall, top, total = statistics.median(walls), statistics.median(slowest), statistics.median(sums)
    print(f"scenario: payments demo × {args.instances} instances, 24 h at 1 min, loaded in {load_s:.1f} s")
    print(f"collection: {len(planned)} metric instances, {len(queries)} HTTP requests "
          f"({sum(1 for q in queries if q[0] == 'series')} naming probes; window and previous-window baseline "
          "in one 24 h query_range each, step 60 s), "
          f"median of {args.rounds} rounds")
    print(f"concurrent collection wall time : {wall * 1000:8.1f} ms")
    print(f"slowest single query            : {top * 1000:8.1f} ms")
    print(f"sum of all queries (sequential) : {total * 1000:8.1f} ms")
    print(f"wall / slowest = {wall / top:.2f}  (goal ≤ 1.2)   sum / wall = {total / wall:.1f}×")
    print(f"CPU per concurrent collection: Prometheus {statistics.median(server_cpu) * 1000:.0f} ms, "
          f"ctxgrab {statistics.median(client_cpu) * 1000:.0f} ms; sequential pass: Prometheus "
          f"{statistics.median(seq_server_cpu) * 1000:.0f} ms, ctxgrab HTTP+JSON {statistics.median(seq_client_cpu) * 1000:.0f} ms; "
          f"{os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.verbose:
        for (kind, q, lo, hi), t in sorted(zip(queries, last_times), key=lambda x: -x[1])[:12]:
            print(f"  {t * 1000:7.1f} ms  {kind:11s} {q[:90]}")
        for e in sorted(last_evs, key=lambda e: -e.duration_ms)[:6]:
            print(f"  collector {e.name}: {e.duration_ms:.1f} ms")
    if optional:
        print(f"optional metrics the scenario does not expose (skipped): {', '.join(optional)}")
    if bad:
        print(f"not ok: {', '.join(bad)}", file=sys.stderr)


if __name__ == "__main__":
    main()
