"""A fake Grafana Loki for tests: ``/loki/api/v1/query_range`` as documented, on loopback.

Loki cannot run on this machine, so this server follows the reference notes
(``shared/reference/loki.md``): ns timestamps as strings, ``start`` inclusive and
``end`` exclusive, ``limit`` summed over streams (default 100, above 5000 a 400),
``direction`` (default backward) ordering entries within each stream, plain-text
errors, ``X-Scope-OrgID`` required when multi-tenant, and the 3-tuple value shape
of ``X-Loki-Response-Encoding-Flags: categorize-labels``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MAX_ENTRIES = 5000


@dataclass
class FakeLoki:
    streams: list[tuple[dict[str, str], list[tuple[int, str]]]] = field(default_factory=list)
    tenant: str | None = None  # required X-Scope-OrgID when set
    fail_with: tuple[int, str] | None = None  # (status, plain-text body) for every query
    throttle_first: int = 0  # answer this many queries with 429 first
    hang: bool = False  # block until stop() (a query that never answers in time)
    categorize: bool = False  # 3-tuple values with structured metadata
    requests: list[dict] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "FakeLoki":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # ------------------------------------------------------------------
    def _text(self, h: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append({"path": url.path, "params": q, "headers": dict(h.headers.items())})
        if url.path != "/loki/api/v1/query_range":
            return self._text(h, 404, "404 page not found\n")
        if self.hang:
            self._release.wait(timeout=30)
            return self._text(h, 504, "request timed out, decrease the duration of the request\n")
        if self.tenant is not None and h.headers.get("X-Scope-OrgID") != self.tenant:
            return self._text(h, 400, "no org id\n")
        if self.throttle_first > 0:
            self.throttle_first -= 1
            return self._text(h, 429, "too many outstanding requests\n")
        if self.fail_with:
            return self._text(h, *self.fail_with)
        query = q.get("query", "")
        if not re.match(r"^\{[^}]*[=~]", query):
            return self._text(h, 400, "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n")
        limit = int(q.get("limit", "100"))
        if limit > MAX_ENTRIES:
            return self._text(h, 400, f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                                      f"({limit} > {MAX_ENTRIES})\n")
        start, end = int(q["start"]), int(q["end"])
        backward = q.get("direction", "backward") == "backward"
        want = re.findall(r'(\w+)="([^"]*)"', query.split("}")[0])
        hits = []
        for si, (labels, values) in enumerate(self.streams):
            if all(labels.get(k) == v for k, v in want):
                hits += [(ts, line, si) for ts, line in values if start <= ts < end]
        hits.sort(key=lambda e: e[0], reverse=backward)
        hits = hits[:limit]
        result = []
        for si in sorted({e[2] for e in hits}):
            labels = self.streams[si][0]
            vals = sorted(((str(ts), line) for ts, line, s in hits if s == si), key=lambda v: int(v[0]),
                          reverse=backward)
            if self.categorize:
                vals = [[ts, line, {"structuredMetadata": {"trace_id": "abc"}}] for ts, line in vals]
            result.append({"stream": labels, "values": [list(v) for v in vals]})
        body = {"status": "success", "data": {"resultType": "streams", "result": result, "stats": {
            "summary": {"execTime": 0.01, "totalLinesProcessed": len(hits), "totalBytesProcessed": 1234}}}}
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
