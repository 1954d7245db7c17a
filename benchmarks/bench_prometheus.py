"""Whole-incident metric collection against a real Prometheus: concurrent wall time vs single queries.

Loads the `payments` demo scenario (24 h at 1 min, Micrometer naming) replicated over
``--instances`` pods into a fresh Prometheus (promtool backfill), then, in one run, for
each of ``--rounds`` rounds:

1. the concurrent collection: every collector the engine plans for the service (jvm +
   http + process packs over a 12 h window, and alerts), through ``collect_all`` exactly
   as ``ctxgrab incident`` runs it; its wall time, and every request it sent;
2. exactly those requests again, one at a time, through the same client and connection
   pool: the slowest single query, and the sum of all of them.

Pods differ (heap and threads 0.6-1.0 × the scenario's) and carry ``pod`` and ``instance``
labels, as on Kubernetes.

Goal: concurrent wall time ≤ 1.2 × its floor, the larger of (a) the slowest single query
alone and (b) the CPU Prometheus and ctxgrab spent on the collection divided by the cores
(what no scheduling can beat on this machine). Medians over the rounds. It also prints the
reply bytes per collection, where the wall time goes (when the slowest query left, how long
it was in flight beside the others, what came after its reply), the CPU both processes spent
per collection, the CPU other processes took from the machine meanwhile, and the prompt's
size (the per-pod lines must not grow with the fleet).

    python benchmarks/bench_prometheus.py [--instances 20] [--rounds 9] [--identity] [--verbose]
        [--keep-data DIR]   # reuse the backfilled TSDB (300 pods take minutes to load)

Needs ``prometheus`` and ``promtool`` on PATH (Linux: reads /proc for CPU times).
"""

from __future__ import annotations

import argparse
import contextvars
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


def _machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used so far (Linux /proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prometheus(folder: Path, instances: int, keep: Path | None = None) -> tuple[subprocess.Popen, str]:
    if keep is not None:  # the backfilled TSDB of an earlier run with the same --instances, or a new one kept there
        keep = keep / f"pods-{instances}"
        if not (keep / "data").is_dir():
            keep.mkdir(parents=True, exist_ok=True)
            _backfill(keep, instances)
        shutil.copytree(keep / "data", folder / "data")
    else:
        _backfill(folder, instances)
    return _serve(folder)


def _backfill(folder: Path, instances: int) -> None:
    build = _build()
    saved, labels = build.load_saved()
    fam: dict = {}
    for i in range(instances):
        # Pods differ in heap and threads (0.6-1.0 × the scenario's), so the worst pods are a real choice.
        k = 1.0 if instances == 1 else 0.6 + 0.4 * ((i * 37) % instances) / (instances - 1)
        pod = {m: ([(t, v * k) for t, v in rows] if m in ("heap_used", "heap_committed", "threads") else rows)
               for m, rows in saved.items()}
        pod_labels = {**labels, "pod": f"payments-{i:03d}", "instance": f"10.1.{i // 250}.{i % 250}:8080"}
        for name, rows in build.families(pod, pod_labels, "micrometer").items():
            fam.setdefault(name, []).extend(rows)
    om = folder / "bench.om"
    om.write_text(build.to_openmetrics(fam))
    data = folder / "data"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=240h",
                    str(om), str(data)], check=True, capture_output=True, timeout=600)
    om.unlink()


def _serve(folder: Path) -> tuple[subprocess.Popen, str]:
    data = folder / "data"
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


class Recorder:
    """Records every request the collection sends (path, params, send and reply times) by wrapping
    :meth:`AsyncPromClient._once`, so the one-at-a-time pass replays exactly the same requests."""

    def __init__(self) -> None:
        from ctxgrab.collectors import metrics

        self.metrics = metrics
        self.original = metrics.AsyncPromClient._once
        self.log: list[dict] = []

    def __enter__(self) -> "Recorder":
        import httpx

        original, log, current = self.original, self.log, _ROW
        self.http_get = get = httpx.AsyncClient.get

        async def once(client, path, params, timeout_s, api, envelope):
            row = {"path": path, "params": params, "api": api, "envelope": envelope, "sent": time.perf_counter()}
            log.append(row)
            token = current.set(row)
            try:
                return await original(client, path, params, timeout_s, api, envelope)
            finally:
                current.reset(token)
                row["done"] = time.perf_counter()

        async def http_get(self, *args, **kwargs):
            resp = await get(self, *args, **kwargs)
            row = current.get()
            if row is not None:  # bytes on the wire (gzip) and decoded
                row["wire_bytes"], row["body_bytes"] = resp.num_bytes_downloaded, len(resp.content)
            return resp

        self.metrics.AsyncPromClient._once = once
        httpx.AsyncClient.get = http_get
        return self

    def __exit__(self, *exc: object) -> None:
        import httpx

        self.metrics.AsyncPromClient._once = self.original
        httpx.AsyncClient.get = self.http_get


_ROW: "contextvars.ContextVar[dict | None]" = contextvars.ContextVar("bench_row", default=None)


def describe(row: dict) -> str:
    params = dict(row["params"] or {})
    what = params.get("query") or params.get("match[]") or row["path"]
    return f"{row['api']:11s} {what}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--keep-data", type=Path, default=None,
                    help="keep the backfilled TSDB under this folder and reuse it in later runs (a copy is served)")
    ap.add_argument("--verbose", action="store_true", help="print every request, concurrent and alone")
    ap.add_argument("--identity", action="store_true",
                    help="ask for uncompressed replies (source header Accept-Encoding: identity): "
                         "Prometheus spends no CPU on gzip")
    args = ap.parse_args()
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not on PATH")

    from ctxgrab.api import resolve_window
    from ctxgrab.collectors import CollectRequest
    from ctxgrab.collectors.metrics import live_client
    from ctxgrab.config import config_from_dict
    from ctxgrab.engine import collect_all, plan

    with tempfile.TemporaryDirectory(prefix="ctxgrab-bench-prom-") as tmp:
        t0 = time.monotonic()
        proc, url = start_prometheus(Path(tmp), args.instances, args.keep_data)
        load_s = time.monotonic() - t0
        try:
            labels = {"service": "payments", "namespace": "prod"}
            cfg = config_from_dict({
                "defaults": {"since": "12h", "at": "2026-03-02T12:00:00Z", "timeout_s": 30, "deadline_s": 60},
                "sources": {"prom": {"type": "prometheus", "url": url,
                                     "headers": {"Accept-Encoding": "identity"} if args.identity else {}}},
                "services": {"payments": {"labels": labels, "packs": ["jvm", "http", "process"]}},
            })
            now, window, baseline = resolve_window(cfg)
            planned = plan(cfg, "payments")

            def request() -> CollectRequest:
                return CollectRequest("payments", window, baseline, now, cfg.base_dir, cfg, timeout_s=30)

            async def concurrent() -> list:
                # the evidence leaves through a closure, not as the main task's result: Python 3.11's
                # asyncio.Runner formats that result (repr of every Evidence, ~12 ms) when it restores SIGINT
                box.append(await collect_all(request(), planned, deadline_s=60))
                return []

            async def one_at_a_time(rows: list[dict]) -> list[float]:
                """The recorded requests, each alone, through the same client (shared pool, keep-alive)."""
                times = []
                async with live_client(request(), "prom", cfg.sources["prom"], 30) as client:
                    for row in rows:
                        cpu0, own0, started = _cpu_s(proc.pid), time.process_time(), time.perf_counter()
                        await client._once(row["path"], row["params"], 30, row["api"], row["envelope"])
                        times.append(time.perf_counter() - started)
                        row["client_cpu"] = time.process_time() - own0
                        row["server_cpu"] = _cpu_s(proc.pid) - cpu0  # 10 ms ticks: averaged over rounds below
                return times

            box: list = []
            with Recorder() as rec:  # warm the server's caches, the page cache and the imports once
                anyio.run(concurrent)
            rows = [dict(r) for r in rec.log]
            anyio.run(one_at_a_time, rows)
            walls, slowest, sums, statuses = [], [], [], set()
            floors, free_floors, wire, body, biggest = [], [], [], [], []
            server_cpu, client_cpu, seq_server_cpu, seq_client_cpu, others_cpu = [], [], [], [], []
            heavy_sent, heavy_tail, seq_times_all, heavy_server_cpu, heavy_client_cpu = [], [], [], [], []
            for _ in range(args.rounds):
                box.clear()
                with Recorder() as rec:
                    cpu0, own0, all0 = _cpu_s(proc.pid), time.process_time(), _machine_busy_s()
                    started = time.perf_counter()
                    anyio.run(concurrent)
                    ended = time.perf_counter()
                    walls.append(ended - started)
                    server_cpu.append(_cpu_s(proc.pid) - cpu0)
                    client_cpu.append(time.process_time() - own0)
                    others_cpu.append(_machine_busy_s() - all0 - server_cpu[-1] - client_cpu[-1])
                evs = box[0]
                statuses |= {(e.name, e.status.value) for e in evs}
                heavy = max(rec.log, key=lambda r: r["done"] - r["sent"])
                heavy_sent.append(heavy["sent"] - started)
                heavy_tail.append(ended - heavy["done"])
                cpu0, own0 = _cpu_s(proc.pid), time.process_time()
                replay = [dict(r) for r in rec.log]
                times = anyio.run(one_at_a_time, replay)
                heavy_server_cpu.append(replay[times.index(max(times))]["server_cpu"])
                heavy_client_cpu.append(replay[times.index(max(times))]["client_cpu"])
                seq_server_cpu.append(_cpu_s(proc.pid) - cpu0)
                seq_client_cpu.append(time.process_time() - own0)
                slowest.append(max(times))
                sums.append(sum(times))
                floors.append(max(max(times), (server_cpu[-1] + client_cpu[-1]) / (os.cpu_count() or 1)))
                # the same floor on the cores other processes left free during this collection
                free = max(0.25, (os.cpu_count() or 1) - max(0.0, others_cpu[-1]) / walls[-1])
                free_floors.append(max(max(times), (server_cpu[-1] + client_cpu[-1]) / free))
                wire.append(sum(r.get("wire_bytes", 0) for r in rec.log))
                body.append(sum(r.get("body_bytes", 0) for r in rec.log))
                biggest.append(max(r.get("body_bytes", 0) for r in rec.log))
                seq_times_all.append(times)
                last_rows, last_times, last_evs, last_start = rec.log, times, evs, started
            import ctxgrab
            from ctxgrab.render.budget import count_tokens

            md = ctxgrab.incident("payments", config=cfg).markdown
            metric_lines = [line for line in md.splitlines() if line.startswith("- **") and "pods" in line]
            prompt_tokens, pod_tokens = count_tokens(md), count_tokens("\n".join(metric_lines))
            worst_line = next((line for line in metric_lines if "JVM heap used" in line), "")
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    med = statistics.median
    bad = sorted(n for n, s in statuses if s not in ("ok", "skipped"))
    optional = sorted(n for n, s in statuses if s == "skipped")
    wall, top, total = med(walls), med(slowest), med(sums)
    n_series = sum(1 for r in last_rows if r["api"] == "series")
    print(f"scenario: payments demo × {args.instances} instances, 24 h at 1 min, loaded in {load_s:.1f} s; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"collection: {len(planned)} collectors (jvm + http + process packs, alerts), {len(last_rows)} HTTP requests "
          f"({n_series} naming probes, {len(last_rows) - n_series} others; window and previous-window baseline in "
          f"one 24 h query_range per metric, two 12 h halves for the histogram buckets, step 60 s); median of {args.rounds} rounds")
    print(f"concurrent collection wall time : {wall * 1000:8.1f} ms")
    print(f"slowest single query (alone)    : {top * 1000:8.1f} ms")
    print(f"sum of all requests (one by one): {total * 1000:8.1f} ms")
    print(f"wall / slowest = {wall / top:.2f}   sum / wall = {total / wall:.1f}×")
    ratios = sorted(w / f for w, f in zip(walls, floors))
    print(f"floor = max(slowest single query alone, CPU of Prometheus + ctxgrab / {os.cpu_count()} cores): "
          f"{med(floors) * 1000:.1f} ms; wall / floor = {med(ratios):.2f} (goal ≤ 1.2; rounds "
          f"{ratios[0]:.2f}-{ratios[-1]:.2f})")
    free_ratios = sorted(w / f for w, f in zip(walls, free_floors))
    print(f"  the same floor on the cores other processes left free: wall / floor = {med(free_ratios):.2f} "
          f"(rounds {free_ratios[0]:.2f}-{free_ratios[-1]:.2f}; 1.00 = no core sat idle during the collection)")
    print(f"replies per collection: {med(body) / 1024:.0f} KiB decoded, {med(wire) / 1024:.0f} KiB on the wire; "
          f"largest {med(biggest) / 1024:.0f} KiB")
    print("where the wall time goes (concurrent run):")
    print(f"  slowest query sent after      : {med(heavy_sent) * 1000:8.1f} ms")
    print(f"  slowest query in flight       : {(wall - med(heavy_sent) - med(heavy_tail)) * 1000:8.1f} ms "
          f"(alone: {top * 1000:.1f} ms)")
    print(f"  after its reply (parse, quantiles, summaries, redaction): {med(heavy_tail) * 1000:.1f} ms")
    srv, cli, cores = med(server_cpu), med(client_cpu), os.cpu_count() or 1
    heavy_srv, heavy_cli = statistics.mean(heavy_server_cpu), med(heavy_client_cpu)
    heavy_cpu = heavy_srv + heavy_cli
    print(f"CPU per concurrent collection: Prometheus {srv * 1000:.0f} ms + ctxgrab {cli * 1000:.0f} ms "
          f"= {(srv + cli) * 1000:.0f} ms: ≥ {(srv + cli) / cores * 1000:.0f} ms of wall time even on "
          f"{cores} idle cores (1.2 × slowest = {1.2 * top * 1000:.0f} ms)")
    print(f"  the slowest query alone: Prometheus {heavy_srv * 1000:.0f} ms (mean, 10 ms ticks) + ctxgrab "
          f"{heavy_cli * 1000:.0f} ms of CPU; the rest of the collection {(srv + cli - heavy_cpu) * 1000:.0f} ms")
    print(f"  floor whatever the machine's load: wall / slowest ≥ CPU of the collection / ({cores} cores × CPU of "
          f"the slowest query) = {(srv + cli) / (cores * heavy_cpu):.2f}; 1.2 needs the collection's CPU "
          f"≤ {1.2 * cores:.1f} × the slowest query's")
    others = statistics.mean(others_cpu)
    print(f"  other processes on the machine used {max(0.0, others) * 1000:.0f} ms of CPU during the collection "
          f"(mean; {max(0.0, others) / wall:.1f} of the {cores} cores; 10 ms ticks)")
    print(f"CPU of the one-by-one pass: Prometheus {med(seq_server_cpu) * 1000:.0f} ms, ctxgrab HTTP+JSON "
          f"{med(seq_client_cpu) * 1000:.0f} ms")
    print(f"prompt: {prompt_tokens} tokens; the {len(metric_lines)} per-pod metric lines {pod_tokens} tokens")
    if args.verbose:
        print(f"  {worst_line[:400]}")
        alone = [med(col) for col in zip(*seq_times_all)]
        print("requests of the last round: sent after start / in flight concurrently / alone (median)")
        for row, t in sorted(zip(last_rows, alone), key=lambda x: -x[1]):
            print(f"  {(row['sent'] - last_start) * 1000:6.1f} ms  {(row['done'] - row['sent']) * 1000:7.1f} ms  "
                  f"{t * 1000:7.1f} ms  {describe(row)[:100]}")
        for e in sorted(last_evs, key=lambda e: -e.duration_ms)[:6]:
            print(f"  collector {e.name}: {e.duration_ms:.1f} ms")
    if optional:
        print(f"optional metrics the scenario does not expose (skipped): {', '.join(optional)}")
    if bad:
        print(f"not ok: {', '.join(bad)}", file=sys.stderr)


if __name__ == "__main__":
    main()
