"""ctxgrab check: the config is valid, and each source answers with the credentials the collectors use."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class _ReadyEndpoint(BaseHTTPRequestHandler):
    """A stand-in for an authenticating proxy in front of Prometheus: /-/ready needs the token and tenant."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen.append(dict(self.headers))
        ok = (self.path == "/prom/-/ready" and self.headers.get("Authorization") == "Bearer s3cret"
              and self.headers.get("X-Scope-OrgID") == "team-a")
        body = b"Prometheus Server is Ready.\n" if ok else b"unauthorized\n"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReadyEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_check(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctxgrab.cli", "check", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=60)


def test_check_sends_the_sources_credentials_and_never_prints_them(endpoint: str, tmp_path: Path) -> None:
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(f"sources:\n  prom: {{type: prometheus, url: '{endpoint}/prom', bearer_token: s3cret, "
                   "org_id: team-a}\nservices:\n  payments: {}\n")
    r = run_check(cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "source prom (prometheus): ok" in r.stdout and "HTTP 200" in r.stdout
    assert "s3cret" not in r.stdout + r.stderr
    cfg.write_text(cfg.read_text().replace("s3cret", "wrong"))
    r = run_check(cfg)
    assert r.returncode == 1 and "FAILED" in r.stdout and "HTTP 401" in r.stdout
    # credentials in the URL are used, never printed
    url = endpoint.replace("http://", "http://ops:pw-in-url@") + "/prom"
    cfg.write_text(f"sources:\n  prom: {{type: prometheus, url: '{url}'}}\nservices:\n  payments: {{}}\n")
    r = run_check(cfg)
    assert "HTTP 401" in r.stdout and "pw-in-url" not in r.stdout + r.stderr
    assert _ReadyEndpoint.seen[-1]["Authorization"].startswith("Basic ")


def test_check_reports_missing_inputs_and_bad_config(tmp_path: Path, demo_config: Path) -> None:
    r = run_check(demo_config)
    assert r.returncode == 0, r.stdout
    assert "valid, 1 service(s)" in r.stdout
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text("services:\n  payments:\n    gc_logs: [nope/gc*.log]\n")
    r = run_check(cfg)
    assert r.returncode == 1 and "nope/gc*.log: NO FILES" in r.stdout
    cfg.write_text("services:\n  payments:\n    pakcs: []\n")
    r = run_check(cfg)
    assert r.returncode == 2 and "unknown key" in r.stderr
