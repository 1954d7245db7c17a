"""Real Prometheus, VictoriaMetrics and Alertmanager for the metrics and alerts tests, plus a fault server.

Import the fixtures into a test module (``from prom_fixtures import *``). Session-scoped:
each server starts once, is waited for (readiness endpoint polled, no fixed sleeps) and
is stopped at the end.

The loaded scenario is the `payments` demo (``fixtures/demo/metrics``) turned into raw
exporter metrics by ``fixtures/demo/openmetrics/build.py``: service ``payments`` in
Micrometer naming and service ``payments-otel`` in OpenTelemetry naming, in the same
server. ``Scenario.saved`` holds the derived series the numbers are checked against.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "fixtures" / "demo" / "openmetrics" / "build.py"
OTEL_SERVICE = "payments-otel"
READY_TIMEOUT_S = 30.0

__all__ = [
    "Scenario",
    "scenario",
    "prometheus_url",
    "victoriametrics_url",
    "alertmanager_url",
    "fault_server",
    "FaultServer",
    "binary",
    "backfilled_prometheus",
    "load_build",
]


def load_build() -> Any:
    spec = importlib.util.spec_from_file_location("demo_openmetrics_build", BUILD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def binary(*names: str) -> str:
    """The first of ``names`` on PATH; skip locally, fail under CTXGRAB_REQUIRE_INTEGRATION=1."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    reason = f"{' / '.join(names)} not found on PATH (Debian packages prometheus, prometheus-alertmanager, victoria-metrics)"
    if os.environ.get("CTXGRAB_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"{reason} (CTXGRAB_REQUIRE_INTEGRATION=1: .ci/run must install it)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it exits or never gets ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before it was ready:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        try:
            proc.wait(timeout=0.05)  # waits on the process, returns early only if it dies
        except subprocess.TimeoutExpired:
            pass
    _stop(proc)
    pytest.fail(f"{what} not ready within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Scenario:
    """The loaded data: the demo's derived series by metric id, its labels, the window end."""

    saved: dict[str, list[tuple[float, float]]]
    labels: dict[str, str]
    otel_labels: dict[str, str]
    end_s: float
    openmetrics: Path
    import_text: str


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    build = load_build()
    saved, labels = build.load_saved()
    otel_labels = {**labels, "service": OTEL_SERVICE}
    fam = build.families(saved, labels, "micrometer")
    for name, rows in build.families(saved, otel_labels, "otel").items():
        fam.setdefault(name, []).extend(rows)
    folder = tmp_path_factory.mktemp("scenario")
    om = folder / "scenario.om"
    om.write_text(build.to_openmetrics(fam))
    end_s = max(t for series in saved.values() for t, _ in series)
    return Scenario(saved, labels, otel_labels, end_s, om, build.to_import_text(fam))


RULES = """groups:
- name: payments
  interval: 1s
  rules:
  - alert: PaymentsAlwaysFiring
    expr: vector(1)
    labels: {service: payments, namespace: prod, severity: critical}
    annotations: {summary: "5xx ratio above 5% for 5 minutes"}
  - alert: PaymentsSlowPending
    expr: vector(1)
    for: 1h
    labels: {service: payments, namespace: prod, severity: warning}
  - alert: OtherServiceFiring
    expr: vector(1)
    labels: {service: ledger, namespace: prod, severity: critical}
"""


@contextmanager
def backfilled_prometheus(openmetrics: Path, folder: Path, config: str = "global: {}\n",
                          rules: str | None = None) -> Iterator[str]:
    """A real Prometheus on a free loopback port holding ``openmetrics`` (promtool backfill); its URL.

    Waits for readiness by polling ``/-/ready`` and stops the server on exit.
    """
    prometheus, promtool = binary("prometheus"), binary("promtool")
    data = folder / "data"
    data.mkdir()
    out = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=240h",
         str(openmetrics), str(data)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, f"promtool failed: {out.stderr[-2000:]}"
    if rules is not None:
        (folder / "rules.yml").write_text(rules)
    (folder / "prometheus.yml").write_text(config)
    port = _free_port()
    log = folder / "prometheus.log"
    with log.open("w") as log_f:
        proc = subprocess.Popen(
            [prometheus, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log_f, stderr=subprocess.STDOUT, cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/-/ready", proc, log, "prometheus")
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def prometheus_url(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus holding the scenario (backfilled with promtool) and three always-on alert rules."""
    with backfilled_prometheus(scenario.openmetrics, tmp_path_factory.mktemp("prometheus"),
                               "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n", RULES) as url:
        yield url


@pytest.fixture(scope="session")
def victoriametrics_url(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node VictoriaMetrics with the same data, imported through /api/v1/import/prometheus."""
    vm = binary("victoria-metrics")
    folder = tmp_path_factory.mktemp("victoriametrics")
    port = _free_port()
    log = folder / "vm.log"
    with log.open("w") as log_f:
        proc = subprocess.Popen(
            [vm, f"-storageDataPath={folder / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
             "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=WARN"],
            stdout=log_f, stderr=subprocess.STDOUT, cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/health", proc, log, "victoria-metrics")
        r = requests.post(f"{url}/api/v1/import/prometheus", data=scenario.import_text.encode(), timeout=60)
        assert r.status_code in (200, 204), r.text
        requests.get(f"{url}/internal/force_flush", timeout=30).raise_for_status()
        yield url
    finally:
        _stop(proc)


AM_CONFIG = """route:
  receiver: blackhole
  group_wait: 1s
receivers:
- name: blackhole
"""


@pytest.fixture(scope="session")
def alertmanager_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    am = binary("prometheus-alertmanager", "alertmanager")
    folder = tmp_path_factory.mktemp("alertmanager")
    (folder / "am.yml").write_text(AM_CONFIG)
    port = _free_port()
    log = folder / "am.log"
    with log.open("w") as log_f:
        proc = subprocess.Popen(
            [am, f"--config.file={folder / 'am.yml'}", f"--storage.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log_f, stderr=subprocess.STDOUT, cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/-/ready", proc, log, "alertmanager")
        yield url
    finally:
        _stop(proc)


# --------------------------------------------------------------------------- fault server (a fake)


class FaultServer:
    """A fake Prometheus HTTP API whose base path picks a fault: ``<url>/<fault>/api/v1/...``.

    Faults: ``ok``, ``warnings``, ``http500`` (proxy HTML), ``html200`` (login page),
    ``bad_data`` (status error 400), ``timeout_error`` (status error 503 errorType timeout),
    ``empty``, ``nan``, ``all_nan``, ``slow`` (answers after ``slow_s``), ``auth`` (ok only with
    the expected bearer token and tenant), ``flaky`` (503 once, then ok), ``slow_series`` (the
    series lookup answers after ``slow_s``, queries at once with no series). Requests are
    recorded in ``requests`` as ``(path, params, headers)``.
    """

    def __init__(self, series_points: list[list[Any]], slow_s: float = 5.0) -> None:
        self.points = series_points
        self.slow_s = slow_s
        self.release = threading.Event()
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.flaky_seen = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                server.requests.append((parts.path, params, dict(self.headers)))
                fault, _, api = parts.path.strip("/").partition("/")
                server.answer(self, fault, api, params)

            do_POST = do_GET  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _send(self, h: BaseHTTPRequestHandler, code: int, body: Any, ctype: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)

    def _matrix(self, values: list[list[Any]], warnings: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"service": "payments"}, "values": values}]}}
        if warnings:
            out["warnings"] = warnings
        return out

    def answer(self, h: BaseHTTPRequestHandler, fault: str, api: str, params: dict[str, list[str]]) -> None:
        if api == "api/v1/series":
            if fault == "slow_series":
                self.release.wait(self.slow_s)
            return self._send(h, 200, {"status": "success", "data": []})
        if fault == "slow_series":
            return self._send(h, 200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
        if fault == "ok":
            return self._send(h, 200, self._matrix(self.points))
        if fault == "warnings":
            return self._send(h, 200, self._matrix(self.points, ["partial response: store eu-1 unreachable"]))
        if fault == "http500":
            return self._send(h, 500, b"<html><body><h1>500 Internal Server Error</h1>nginx</body></html>", "text/html")
        if fault == "html200":
            return self._send(h, 200, b"<!doctype html><title>Sign in</title><form>...</form>", "text/html")
        if fault == "bad_data":
            return self._send(h, 400, {"status": "error", "errorType": "bad_data",
                                       "error": "invalid parameter \"query\": 1:5: parse error: unexpected"})
        if fault == "timeout_error":
            return self._send(h, 503, {"status": "error", "errorType": "timeout",
                                       "error": "query timed out in expression evaluation"})
        if fault == "empty":
            return self._send(h, 200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
        if fault == "nan":
            vals = [[t, "NaN" if i % 4 == 0 else ("+Inf" if i % 9 == 0 else v)] for i, (t, v) in enumerate(self.points)]
            return self._send(h, 200, self._matrix(vals))
        if fault == "all_nan":
            return self._send(h, 200, self._matrix([[t, "NaN"] for t, _ in self.points]))
        if fault == "slow":
            self.release.wait(self.slow_s)
            return self._send(h, 200, self._matrix(self.points))
        if fault == "auth":
            ok = (h.headers.get("Authorization") == "Bearer s3cret-token"
                  and h.headers.get("X-Scope-OrgID") == "tenant-a")
            return self._send(h, 200, self._matrix(self.points)) if ok else self._send(h, 401, b"unauthorized", "text/plain")
        if fault == "flaky":
            self.flaky_seen += 1
            if self.flaky_seen == 1:
                return self._send(h, 503, b"upstream connect error", "text/plain")
            return self._send(h, 200, self._matrix(self.points))
        return self._send(h, 404, b"404 page not found", "text/plain")

    def __enter__(self) -> "FaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def fault_server(scenario: Scenario) -> Iterator[FaultServer]:
    """A fresh fake Prometheus API per test, serving the scenario's heap series."""
    pts = [[t, repr(v)] for t, v in scenario.saved["heap_used"]]
    with FaultServer(pts) as server:
        yield server
