"""``ctxgrab serve`` under hostile input: bodies it cannot take, impossible times, slow and greedy clients.

The webhook endpoint faces the internet. Bodies are signed like PagerDuty signs them
(``tests/fake_pagerduty.py``): a correctly signed body can still be hostile. The
slow-client tests start a real ``ctxgrab serve`` (``python -m ctxgrab.server``) on
loopback and talk to it with raw sockets, bounded in count and time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.testclient import TestClient

import ctxgrab
from ctxgrab.server import JobQueue, JobSpec, ServerConfig, create_app
from ctxgrab.server.metrics import Metrics
from ctxgrab.server.worker import Worker, library_prompt_builder
from fake_pagerduty import delivery_headers, incident_event

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo" / "ctxgrab.yaml"
SECRET = "whsec-hostile"


def _cfg(**kw) -> ServerConfig:
    return ServerConfig(webhook_secrets=[SECRET], services={"PSVC9KX": "payments"}, **kw)


async def _prompt(service: str, at: datetime) -> str:
    return f"# {service} at {at.isoformat()}\n"


def _post_raw(client: TestClient, raw: bytes, webhook_id: str = "wh-1"):
    return client.post("/webhooks/pagerduty", content=raw, headers=delivery_headers(raw, [SECRET], webhook_id))


# -- bodies a correctly signed delivery can carry ---------------------------------------------------
@pytest.mark.parametrize("raw, why", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # was 500 (RecursionError): PagerDuty retries 48 h
    (b'{"event": {"event_type": "incident.triggered", "n": ' + b"9" * 5000 + b"}}", "not valid JSON"),
    (b"\x1f\x8b\x08\x00" + bytes(range(256)), "not valid JSON"),
], ids=["100k-deep", "5000-digit-int", "binary"])
def test_a_signed_body_it_cannot_take_is_400_with_one_line(tmp_path: Path, raw: bytes, why: str):
    app = create_app(_cfg(max_body_bytes=262144), queue_path=tmp_path / "q.db", build_prompt=_prompt,
                     start_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = _post_raw(client, raw)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert why in error and "\n" not in error and len(error) < 300


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"])
def test_an_incident_time_no_window_can_end_at_is_400_not_a_job(tmp_path: Path, created_at: str):
    app = create_app(_cfg(), queue_path=tmp_path / "q.db", build_prompt=_prompt, start_worker=False)
    raw = json.dumps(incident_event("incident.triggered", "QYEAR1", created_at=created_at)).encode()
    with TestClient(app, raise_server_exceptions=False) as client:
        r = _post_raw(client, raw)
    assert r.status_code == 400 and "out of range" in r.json()["error"]
    assert JobQueue(tmp_path / "q.db").get("QYEAR1") is None


def test_a_job_for_year_1_fails_for_good_instead_of_retrying_for_ever(tmp_path: Path):
    """A job queued before the webhook check (or by another writer): the real pipeline on the demo config."""
    q = JobQueue(tmp_path / "q.db")
    q.accept("w1", JobSpec("QOLD", "payments", "0001-01-01T00:00:00+00:00"))
    w = Worker(q, _cfg(job_retry_base_s=0.01), build_prompt=library_prompt_builder(str(DEMO)), metrics=Metrics())
    anyio.run(w.run_once)
    job = q.get("QOLD")
    assert job.state == "failed" and "out of range" in job.last_error


def test_an_overflow_in_the_collection_is_permanent(tmp_path: Path):
    async def overflowing(service: str, at: datetime) -> str:
        raise OverflowError("date value out of range")

    q = JobQueue(tmp_path / "q.db")
    q.accept("w1", JobSpec("QOVF", "payments", "2026-03-04T09:15:02+00:00"))
    w = Worker(q, _cfg(job_retry_base_s=0.01), build_prompt=overflowing, metrics=Metrics())
    anyio.run(w.run_once)
    assert q.get("QOVF").state == "failed"


def test_too_many_header_fields_get_431(tmp_path: Path):
    app = create_app(_cfg(max_headers=16), queue_path=tmp_path / "q.db", build_prompt=_prompt, start_worker=False)
    with TestClient(app) as client:
        r = client.get("/healthz", headers={f"x-h{i}": "v" for i in range(40)})
        assert r.status_code == 431
        assert client.get("/healthz").status_code == 200


# -- a real server and slow clients on raw sockets ------------------------------------------------
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    cfg = tmp / "ctxgrab.yaml"
    cfg.write_text(
        "server:\n"
        f"  webhook_secrets: [{SECRET}]\n"
        "  services: {PSVC9KX: payments}\n"
        f"  queue_path: {tmp / 'q.sqlite3'}\n"
        "  prompt_builder: fake_pagerduty:synthetic_prompt\n"
        "  workers: 1\n"
        f"  header_timeout_s: {HEADER_TIMEOUT_S}\n"
        f"  body_timeout_s: {BODY_TIMEOUT_S}\n"
        "  keep_alive_s: 1\n"
        "  max_header_bytes: 16384\n"
        f"  max_connections: {MAX_CONNECTIONS}\n"
    )
    port = _free_port()
    env = dict(os.environ)
    src = Path(ctxgrab.__file__).resolve().parents[1]  # the ctxgrab this test imported
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(REPO / "tests"), env.get("PYTHONPATH", "")])
    log = tmp / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "ctxgrab.server", "--config", str(cfg), "--port", str(port),
                                 "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield {"port": port, "pid": proc.pid, "base": base, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


def _trickle_until_closed(socks: list[socket.socket], payload: bytes, limit_s: float) -> tuple[dict[int, float], dict[int, bytes]]:
    """Send ``payload`` one byte per socket per 0.1 s round until the server closes each; stop at ``limit_s``.

    Returns when each socket was seen closed (seconds from the start) and what the server wrote.
    """
    start = time.monotonic()
    closed: dict[int, float] = {}
    got: dict[int, bytes] = {i: b"" for i in range(len(socks))}
    pos = 0
    while len(closed) < len(socks) and time.monotonic() - start < limit_s:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        closed[i] = time.monotonic() - start
                        break
                    got[i] += chunk
            except BlockingIOError:
                pass
            except OSError:  # reset
                closed[i] = time.monotonic() - start
            if i not in closed and pos < len(payload):
                try:
                    s.send(payload[pos:pos + 1])
                except OSError:
                    closed[i] = time.monotonic() - start
        pos += 1
        time.sleep(0.1)
    for s in socks:
        s.close()
    return closed, got


def test_slow_request_heads_are_cut_off_at_the_head_deadline(server):
    """Clients sending their head a byte at a time (and one sending nothing) are answered 408 and closed."""
    head = b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: x\r\nX-Webhook-Id: " + b"a" * 400 + b"\r\n"
    socks = [_connect(server["port"]) for _ in range(10)]
    silent = _connect(server["port"])
    closed, got = _trickle_until_closed(socks, head, limit_s=HEADER_TIMEOUT_S + 4)
    silent_closed, silent_got = _trickle_until_closed([silent], b"", limit_s=1)
    assert len(closed) == len(socks), f"still open after {HEADER_TIMEOUT_S + 4} s: {len(socks) - len(closed)}"
    assert max(closed.values()) < HEADER_TIMEOUT_S + 2.5
    assert all(b" 408 " in got[i] for i in closed)
    assert silent_closed and b" 408 " in silent_got[0]


def test_a_slow_second_request_on_a_kept_alive_connection_is_cut_off_too(server):
    s = socket.create_connection(("127.0.0.1", server["port"]), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while b"ok\n" not in first:
        first += s.recv(4096)
    assert first.startswith(b"HTTP/1.1 200")
    s.setblocking(False)
    # the first byte of the next request cancels uvicorn's keep-alive timer; the head deadline takes over
    closed, got = _trickle_until_closed([s], b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 200,
                                        limit_s=HEADER_TIMEOUT_S + 4)
    assert closed and closed[0] < HEADER_TIMEOUT_S + 2.5 and b" 408 " in got[0]


def test_a_slow_body_gets_408_and_a_slow_body_on_any_route_is_closed(server):
    webhook = _connect(server["port"])
    webhook.send(b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5000\r\n\r\n")
    health = _connect(server["port"])  # answered at once (the route reads no body), then the body trickles on
    health.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    closed, got = _trickle_until_closed([webhook, health], b"{" + b" " * 4999, limit_s=BODY_TIMEOUT_S + 5)
    assert len(closed) == 2, f"open after {BODY_TIMEOUT_S + 5} s: {[i for i in range(2) if i not in closed]}"
    assert b" 408 " in got[0] and b"body not received within" in got[0]
    assert got[1].startswith(b"HTTP/1.1 200")
    assert max(closed.values()) < BODY_TIMEOUT_S + 3


def test_a_huge_header_is_refused_without_reading_it_into_memory(server):
    before = _rss_kib(server["pid"])
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, reply = 0, b""
        try:
            while sent < 8 * 2**20:  # stops early when the server closes
                s.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        try:
            reply = s.recv(4096)
        except OSError:
            pass
    assert sent < 8 * 2**20 or reply.startswith(b"HTTP/1.1 400"), "8 MiB of header accepted"
    assert not reply or reply.startswith(b"HTTP/1.1 400")
    assert _rss_kib(server["pid"]) - before < 8 * 1024  # KiB
    assert httpx.get(f"{server['base']}/healthz", timeout=5).status_code == 200


def test_held_connections_are_capped_and_the_server_keeps_answering(server):
    pid = server["pid"]
    baseline_fds = _open_fds(pid)
    socks = [_connect(server["port"]) for _ in range(3 * MAX_CONNECTIONS)]
    time.sleep(0.3)
    fds = _open_fds(pid)
    refused = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                refused += 1
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
    assert fds - baseline_fds <= MAX_CONNECTIONS + 2
    assert refused >= 2 * MAX_CONNECTIONS - 2
    for s in socks:
        s.close()
    # the held ones are gone by the head deadline; the server answers again
    deadline = time.monotonic() + HEADER_TIMEOUT_S + 3
    while True:
        try:
            if httpx.get(f"{server['base']}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not recover after the held connections"
        time.sleep(0.1)


@pytest.mark.parametrize("host, port, needle", [("127.0.0.1", 99999, "out of range"),
                                                ("256.1.1.1", 8080, "cannot listen there")])
def test_serve_refuses_an_address_it_cannot_listen_on_with_one_line(host: str, port: int, needle: str):
    from ctxgrab.commands.serve import run
    from ctxgrab.errors import ConfigError

    with pytest.raises(ConfigError, match=needle):  # was: uvicorn started and exited 0 on port 99999
        run(host, port, config=DEMO)
