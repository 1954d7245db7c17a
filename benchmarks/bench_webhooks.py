"""Webhook acknowledgement speed of ``ctxgrab serve`` under load, while collections run.

Starts the fake PagerDuty (``tests/fake_pagerduty.py``) and ``ctxgrab serve`` as
separate processes on loopback, then sends signed Webhooks V3 deliveries at a fixed
rate (open loop: each delivery leaves at its scheduled time, whether or not earlier
ones were answered). One delivery in four is an ``incident.triggered`` for a new
incident, so collections run during the whole measurement; the rest are
acknowledgements, resolves and re-deliveries. Reports acknowledgements per second
and p50/p99/max acknowledgement latency, then the same load against a bare
Starlette app that answers 202 without doing anything (the floor on this machine),
measured side by side in the same run. A closed-loop burst (32 connections, each sending
its next delivery when the last is answered, 5 s) gives the maximum acks/s and the
server process's CPU per acknowledgement during it (its collection processes not
included): on a shared machine the ceiling follows the load, the CPU per ack much less.

Collections: ``--builder demo`` runs ctxgrab's real pipeline on the demo scenario
(``fixtures/demo/ctxgrab.yaml``); ``--builder synthetic`` a 150 ms stand-in.

    python benchmarks/bench_webhooks.py --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from fake_pagerduty import delivery_headers, incident_event  # noqa: E402

SECRET = "whsec-bench"
TOKEN = "pd-bench-token"
BOT = "ctxgrab-bot@example.com"
DEMO_AT = "2026-03-02T12:00:00Z"


async def demo_prompt(service: str, at: datetime) -> str:
    """Builder used by the server process: ctxgrab's pipeline on the demo scenario."""
    import ctxgrab

    result = await ctxgrab.aincident(service, at=at, config=os.environ["BENCH_DEMO_CONFIG"])
    return result.markdown


def bare_app():
    """The floor: a Starlette app that reads the body and answers 202."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hook(request):
        await request.body()
        return JSONResponse({"status": "queued"}, status_code=202)

    async def ready(request):
        return JSONResponse({})

    return Starlette(routes=[Route("/webhooks/pagerduty", hook, methods=["POST"]), Route("/readyz", ready)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks"),
                                         env.get("PYTHONPATH", "")])
    env.update(BENCH_WH_SECRET=SECRET, BENCH_PD_TOKEN=TOKEN, BENCH_DEMO_CONFIG=str(REPO / "fixtures/demo/ctxgrab.yaml"),
               FAKE_COLLECT_MS="150")
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"not ready: {url}")


def _deliveries(n: int, run: str) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for i in range(n):
        inc = f"Q{run}{i // 4:05d}"
        kind = i % 4
        if kind == 0:
            ev = incident_event("incident.triggered", inc, created_at=DEMO_AT, event_id=f"E{run}{i}")
        elif kind == 1:
            ev = incident_event("incident.acknowledged", inc, created_at=DEMO_AT, event_id=f"E{run}{i}")
        elif kind == 2:
            ev = incident_event("incident.resolved", inc, created_at=DEMO_AT, event_id=f"E{run}{i}")
        else:  # a re-delivery of the trigger: same body, same X-Webhook-Id
            out.append(out[i - 3])
            continue
        raw = json.dumps(ev).encode()
        out.append((raw, delivery_headers(raw, [SECRET], f"wh-{run}-{i}")))
    return out


class _Conn:
    """One HTTP/1.1 keep-alive connection on asyncio streams.

    The load generator must stay cheap per request at any backlog: httpx's pool
    re-scans every connection for every queued request, which turns a short server
    hiccup into seconds of client-side CPU and would be measured as server latency.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> "_Conn":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
        self.writer.write(head.encode("latin-1") + b"\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Idle connections in a LIFO; a request with none idle opens another (up to ``limit``)."""

    def __init__(self, host: str, port: int, limit: int = 256) -> None:
        self.host, self.port = host, port
        self.idle: list[_Conn] = []
        self.opened = 0
        self.limit = limit
        self.freed = asyncio.Condition()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.freed:
            while not self.idle and self.opened >= self.limit:
                await self.freed.wait()
            conn = self.idle.pop() if self.idle else None
            if conn is None:
                self.opened += 1
        if conn is None:
            conn = await _Conn.open(self.host, self.port)
        elif conn.reader.at_eof():
            conn.close()  # the server closed it while idle (keep-alive timeout)
            conn = await _Conn.open(self.host, self.port)
        try:
            status = await conn.post(path, body, headers)
        except BaseException:
            conn.close()
            async with self.freed:
                self.opened -= 1
                self.freed.notify()
            raise
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()
        return status

    def close(self) -> None:
        for c in self.idle:
            c.close()


async def _open_loop(port: int, rate: float, seconds: float, run: str) -> dict:
    n = int(rate * seconds)
    items = _deliveries(n, run)
    lat_ms: list[float] = []
    lag_ms: list[float] = []
    errors = 0
    pool = _Pool("127.0.0.1", port)
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        nonlocal errors
        raw, headers = items[i]
        t_sched = start + i / rate
        lag_ms.append((time.perf_counter() - t_sched) * 1000)
        try:
            ok = await pool.post("/webhooks/pagerduty", raw, headers) == 202
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            ok = False
        # latency from the scheduled send time: a stalled server cannot hide its backlog
        lat_ms.append((time.perf_counter() - t_sched) * 1000)
        errors += not ok

    tasks = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    pool.close()
    lat_ms.sort()
    return {"sent": n, "errors": errors, "acks_per_s": (n - errors) / wall,
            "p50_ms": lat_ms[n // 2], "p99_ms": lat_ms[min(n - 1, int(n * 0.99))], "max_ms": lat_ms[-1],
            "send_lag_p99_ms": sorted(lag_ms)[min(n - 1, int(n * 0.99))]}


class ClosedLoop(NamedTuple):
    acked: int  # responses 202
    other: int  # responses with another status
    seconds: float

    @property
    def acks_per_s(self) -> float:
        return self.acked / self.seconds


async def _closed_loop(port: int, seconds: float, concurrency: int, run: str, n_items: int = 40000) -> ClosedLoop:
    """``concurrency`` connections, each sending its next delivery as soon as the last is answered."""
    items = _deliveries(n_items, run)
    stop = time.perf_counter() + seconds

    async def loop(k: int) -> tuple[int, int]:
        # Each connection counts its own answers, summed at the end: a shared ``done += await …``
        # reads the total before the await and writes it back after, losing every increment
        # made by the other connections meanwhile (all of a group commit's answers counted as one).
        acked = other = 0
        conn = await _Conn.open("127.0.0.1", port)
        i = k
        try:
            while time.perf_counter() < stop:
                raw, headers = items[i % len(items)]  # wraps around: re-deliveries are answered 202 too
                status = await conn.post("/webhooks/pagerduty", raw, headers)
                acked += status == 202
                other += status != 202
                i += concurrency
        finally:
            conn.close()
        return acked, other

    t0 = time.perf_counter()
    counts = await asyncio.gather(*(loop(k) for k in range(concurrency)))
    return ClosedLoop(sum(a for a, _ in counts), sum(o for _, o in counts), time.perf_counter() - t0)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (all its threads; not its collection processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _start_postgres():
    """A real PostgreSQL for the queue, with its durability settings at their defaults."""
    import pg_server
    import psycopg

    bindir = pg_server.find_bindir()
    if bindir is None:
        raise SystemExit("--queue postgresql needs PostgreSQL's server binaries (Debian package postgresql)")
    cluster = pg_server.PgCluster(bindir)
    data = cluster.root / "queue"
    cluster.run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", timeout=120)
    port = pg_server.free_port()
    cluster.run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(cluster.root / "pg.log"), "-o",
                f"-p {port} -k {cluster.root} -c listen_addresses=127.0.0.1 -c max_connections=50", "-W", "start")
    cluster.started.append(data)
    admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
    cluster.wait_ready(admin)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ctxgrab")
    return cluster, f"postgresql://postgres@127.0.0.1:{port}/ctxgrab"


def _empty_postgres_queue(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('ctxgrab_jobs')").fetchone()[0]
        if exists:
            conn.execute("TRUNCATE ctxgrab_jobs, ctxgrab_deliveries, ctxgrab_prompts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200.0, help="deliveries per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--builder", choices=["demo", "synthetic"], default="demo")
    ap.add_argument("--workers", type=int, default=2, help="server.workers (collections at once)")
    ap.add_argument("--queue-sync", choices=["full", "normal"], default="full", help="server.queue_sync")
    ap.add_argument("--repeat", type=int, default=1, help="alternate bare/ctxgrab runs this many times")
    ap.add_argument("--queue", choices=["sqlite", "postgresql"], default="sqlite",
                    help="postgresql: a real PostgreSQL started for the run (fsync on), as `server.queue`")
    args = ap.parse_args()
    env = _env()
    tmp = Path(tempfile.mkdtemp(prefix="ctxgrab-bench-"))
    pg_cluster, queue_line = None, "  queue_path: queue.sqlite3\n"
    if args.queue == "postgresql":
        pg_cluster, dsn = _start_postgres()
        queue_line = f"  queue: {dsn}\n"
    fake = subprocess.Popen([sys.executable, str(REPO / "tests/fake_pagerduty.py"), "--token", TOKEN],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pd_url = fake.stdout.readline().strip()
    builder = "bench_webhooks:demo_prompt" if args.builder == "demo" else "fake_pagerduty:synthetic_prompt"
    cfg = tmp / "ctxgrab.yaml"
    cfg.write_text(
        "server:\n  webhook_secrets: ['${BENCH_WH_SECRET}']\n  api_token: ${BENCH_PD_TOKEN}\n"
        f"  from_email: {BOT}\n  api_base_url: {pd_url}\n{queue_line}"
        f"  services: {{PSVC9KX: payments}}\n  prompt_builder: {builder}\n  workers: {args.workers}\n"
        "  public_base_url: http://127.0.0.1\n  prompt_token: bench\n"
        f"  queue_sync: {args.queue_sync}\n"
    )
    results: dict[str, dict] = {}
    rows: list[tuple[str, dict]] = []
    try:
        for name in ("bare", "ctxgrab") * args.repeat:
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            if name == "ctxgrab":
                for f in tmp.glob("queue.sqlite3*"):
                    f.unlink()  # each run starts with an empty queue
                if pg_cluster is not None:
                    _empty_postgres_queue(dsn)
                cmd = [sys.executable, "-m", "ctxgrab.server", "--config", str(cfg), "--port", str(port),
                       "--log-level", "warning"]
            else:
                cmd = [sys.executable, "-m", "uvicorn", "bench_webhooks:bare_app", "--factory", "--port", str(port),
                       "--log-level", "warning", "--no-access-log"]
            proc = subprocess.Popen(cmd, env=env, cwd=tmp)
            try:
                _wait_ready(f"{base}/readyz", proc)
                load1 = os.getloadavg()[0]  # other work on the machine, before this run adds its own
                print(f"[{name}] open loop at {args.rate:g}/s for {args.seconds:g} s", file=sys.stderr, flush=True)
                res = asyncio.run(_open_loop(port, args.rate, args.seconds, f"{name}{len(rows)}"))
                if name == "ctxgrab":
                    res["collections_done"] = _metric(base, "ctxgrab_jobs_done_total")
                    res["collections_waiting"] = _metric(base, 'ctxgrab_jobs{state="queued"}')
                    res["jobs_accepted"] = _metric(base, 'ctxgrab_webhooks_accepted_total{outcome="queued"}')
                print(f"[{name}] closed loop, 32 in flight, 5 s", file=sys.stderr, flush=True)
                cpu0 = _cpu_s(proc.pid)
                closed = asyncio.run(_closed_loop(port, 5.0, 32, f"{name}b{len(rows)}"))
                # the server's CPU per acknowledgement: what the ceiling is made of, and unlike the
                # ceiling itself it hardly moves with the machine's load
                res["cpu_us_per_ack"] = (_cpu_s(proc.pid) - cpu0) / max(closed.acked, 1) * 1e6
                res["max_acks_per_s"] = closed.acks_per_s
                res["closed_other"] = closed.other
                res["load1"] = load1
                rows.append((name, res))
                # the summary keeps each side's run with the median p99 (the lower one of two)
                same = sorted((r for n, r in rows if n == name), key=lambda r: r["p99_ms"])
                results[name] = same[(len(same) - 1) // 2]
            finally:
                _stop(proc)
    finally:
        fake.stdin.close()
        fake.wait(10)
        if pg_cluster is not None:
            pg_cluster.stop_all()
    print(f"machine: {os.cpu_count()} cores; rate {args.rate:g}/s for {args.seconds:g} s; builder {args.builder}; "
          f"server.workers {args.workers}; queue {args.queue}"
          + (f"; queue_sync {args.queue_sync}" if args.queue == "sqlite" else " (fsync on, synchronous_commit on)")
          + "; load = 1-minute load average as each run started")
    print(f"{'':10} {'acks/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'max acks/s':>11} {'CPU µs/ack':>11} {'non-202':>8} {'load':>5}")
    for name, r in rows:
        print(f"{name:10} {r['acks_per_s']:8.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.2f} "
              f"{r['errors']:7d} {r['max_acks_per_s']:11.0f} {r['cpu_us_per_ack']:11.0f} {r['closed_other']:8d} {r['load1']:5.1f}")
    c, b = results["ctxgrab"], results["bare"]
    print(f"ctxgrab/bare p99 ratio: {c['p99_ms'] / b['p99_ms']:.2f}; collections finished during the open-loop run: "
          f"{c['collections_done']:.0f} (jobs accepted {c['jobs_accepted']:.0f}, still waiting {c['collections_waiting']:.0f}); sender lag p99 {c['send_lag_p99_ms']:.1f} ms")
    print(f"goal p99 < 100 ms at 200/s: {'met' if c['p99_ms'] < 100 and args.rate >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
