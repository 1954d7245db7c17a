"""What the guarded protocol of ``ctxgrab serve`` costs per request, against uvicorn's own protocols.

``ctxgrab serve`` runs uvicorn's httptools protocol with a head size limit, head/body
deadlines and a connection cap (``ctxgrab.server.protocol``); uvicorn's httptools protocol
reads a request head of any size and neither it nor uvicorn's h11 protocol has deadlines.
This measures only the HTTP layer: the same bare Starlette app (reads the body, answers
202) served by uvicorn with ``http="httptools"`` (the reference), ``http="h11"`` (pure
Python; what ``ctxgrab serve`` ran before) and ``ctxgrab.server.protocol.protocol_class``
("guarded"), alternated in one run. A closed loop of ``--concurrency`` keep-alive
connections posts 1 KiB bodies for ``--seconds`` per round. Besides requests per second
it reports the server process's CPU per request, which the machine's load moves much less.

    python benchmarks/bench_serve_protocol.py --seconds 5 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SERVER = r"""
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from ctxgrab.server import ServerConfig
from ctxgrab.server.protocol import protocol_class

async def hook(request):
    await request.body()
    return JSONResponse({"status": "queued"}, status_code=202)

app = Starlette(routes=[Route("/webhooks/pagerduty", hook, methods=["POST"])])
cfg = ServerConfig()
kind, port = sys.argv[1], int(sys.argv[2])
limits = dict(h11_max_incomplete_event_size=cfg.max_header_bytes, timeout_keep_alive=cfg.keep_alive_s,
              limit_concurrency=cfg.max_connections)
http = {"httptools": "httptools", "h11": "h11", "guarded": protocol_class(cfg)}[kind]
uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, http=http, **limits)
"""

BODY = b'{"event": {"event_type": "incident.acknowledged", "pad": "' + b"x" * 960 + b'"}}'
REQUEST = (b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
           b"X-Webhook-Id: wh-1\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(port: int, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(port: int, pid: int, seconds: float, concurrency: int) -> tuple[float, float, float, float]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started, cpu0 = time.perf_counter(), _cpu_s(pid)
    await asyncio.gather(*(_client(port, until, latencies) for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, _cpu_s(pid) - cpu0
    latencies.sort()
    return (len(latencies) / elapsed, statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000,
            cpu / len(latencies) * 1e6)


def _serve(kind: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", SERVER, kind, str(port)], env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--kinds", default="httptools,h11,guarded",
                    help="comma-separated: httptools, h11 (uvicorn's, same limits, no deadlines), guarded (ctxgrab's)")
    args = ap.parse_args()
    servers = {kind: _serve(kind) for kind in args.kinds.split(",")}
    results: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in servers}
    try:
        for _ in range(args.repeat):
            for kind, (proc, port) in servers.items():  # alternated, so all see the same machine
                results[kind].append(asyncio.run(_round(port, proc.pid, args.seconds, args.concurrency)))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.concurrency} connections, "
          f"{args.seconds:g} s x {args.repeat} rounds, 1 KiB bodies")
    print(f"{'protocol':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'server CPU µs/req':>19}")
    for kind, rows in results.items():
        for rps, p50, p99, cpu_us in rows:
            print(f"{kind:<14}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{cpu_us:>19.0f}")
    ref = next(iter(results))
    for kind in results:
        if kind != ref:
            rps = statistics.median(r[0] for r in results[kind]) / statistics.median(r[0] for r in results[ref])
            cpu = statistics.median(r[3] for r in results[kind]) / statistics.median(r[3] for r in results[ref])
            print(f"{kind} / {ref} (medians): throughput {rps:.2f}, server CPU per request {cpu:.2f}")


if __name__ == "__main__":
    main()
