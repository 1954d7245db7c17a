"""A fake Jaeger query service for tests, on loopback, following the documented HTTP API.

Jaeger cannot run on this machine, so this server follows the reference notes
(``shared/reference/jaeger-tempo.md``, from jaegertracing/jaeger
``cmd/query/app/query_parser.go``, ``http_handler.go`` and ``apiv3/http_gateway.go``):

- ``/api/services`` and ``/api/traces?service=&operation=&start=&end=&limit=``: ``start``/``end``
  in unix µs, ``service`` required (``{"errors":[{"code":400,"msg":"parameter 'service' is
  required"}]}``), the ``{"data", "total", "limit", "offset", "errors"}`` envelope, spans with
  µs ``startTime``/``duration``, ``references``, ``tags``, ``logs`` and services in ``processes``;
  OTLP spans translated as Jaeger does (``span.kind`` tag, ``error=true`` and
  ``otel.status_code=ERROR``, ``otel.status_description``, exception events as logs).
- with ``v3=True``: ``/api/v3/services`` and ``/api/v3/traces?query.service_name=&query.start_time_min=
  &query.start_time_max=&query.num_traces=`` (RFC 3339, both bounds required) answering OTLP JSON
  wrapped in ``{"result": ...}``.

It serves the spans it is given (OTLP ``ExportTraceServiceRequest`` dicts with hex ids, as
:mod:`otel_scenario` writes them). Faults: ``fail_with`` (status, body), ``non_json``,
``hang`` (answer only after ``stop()``), ``fail_every`` (every N-th search answers 500: partial).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def index_otlp(requests: list[dict[str, Any]]) -> dict[str, list[tuple[dict, dict]]]:
    """trace id -> [(resource attributes as a dict, span)] from OTLP request dicts."""
    out: dict[str, list[tuple[dict, dict]]] = {}
    for req in requests:
        for rs in req.get("resourceSpans", []):
            res = {a["key"]: next(iter(a["value"].values()), None) for a in rs.get("resource", {}).get("attributes", [])}
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    out.setdefault(sp["traceId"], []).append((res, sp))
    return out


def _value(v: dict[str, Any]) -> tuple[str, Any]:
    if "stringValue" in v:
        return "string", v["stringValue"]
    if "intValue" in v:
        return "int64", int(v["intValue"])
    if "boolValue" in v:
        return "bool", v["boolValue"]
    if "doubleValue" in v:
        return "float64", v["doubleValue"]
    return "string", json.dumps(v)


def to_jaeger(trace_id: str, spans: list[tuple[dict, dict]]) -> dict[str, Any]:
    """One trace in the Jaeger UI API's shape, translated from OTLP as Jaeger's OTLP receiver does."""
    processes: dict[str, dict] = {}
    pid_of: dict[str, str] = {}
    out = []
    for res, sp in spans:
        svc = res.get("service.name", "unknown_service")
        if svc not in pid_of:
            pid_of[svc] = f"p{len(pid_of) + 1}"
            processes[pid_of[svc]] = {"serviceName": svc, "tags": [
                {"key": k, "type": "string", "value": str(v)} for k, v in res.items() if k != "service.name"]}
        tags = []
        for a in sp.get("attributes", []):
            t, v = _value(a["value"])
            tags.append({"key": a["key"], "type": t, "value": v})
        tags.append({"key": "span.kind", "type": "string", "value": _KINDS.get(sp.get("kind", 0), "internal")})
        status = sp.get("status") or {}
        if status.get("code") == 2:
            tags += [{"key": "error", "type": "bool", "value": True},
                     {"key": "otel.status_code", "type": "string", "value": "ERROR"}]
            if status.get("message"):
                tags.append({"key": "otel.status_description", "type": "string", "value": status["message"]})
        logs = []
        for ev in sp.get("events", []):
            fields = [{"key": "event", "type": "string", "value": ev.get("name", "")}]
            for a in ev.get("attributes", []):
                t, v = _value(a["value"])
                fields.append({"key": a["key"], "type": t, "value": v})
            logs.append({"timestamp": int(ev["timeUnixNano"]) // 1000, "fields": fields})
        start = int(sp["startTimeUnixNano"]) // 1000
        refs = ([{"refType": "CHILD_OF", "traceID": trace_id, "spanID": sp["parentSpanId"]}]
                if sp.get("parentSpanId") else [])
        out.append({"traceID": trace_id, "spanID": sp["spanId"], "operationName": sp["name"], "references": refs,
                    "startTime": start, "duration": int(sp["endTimeUnixNano"]) // 1000 - start, "flags": 1,
                    "tags": tags, "logs": logs, "processID": pid_of[svc], "warnings": None})
    return {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}


class FakeServer:
    """The HTTP plumbing both trace fakes share."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._release = threading.Event()
        self.hang = False
        self.fail_with: tuple[int, str] | None = None
        self.non_json = False
        self.fail_every = 0
        self._count = 0
        self._lock = threading.Lock()

    def start(self):  # noqa: ANN201
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake._dispatch(self)

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

    def send(self, h: BaseHTTPRequestHandler, status: int, body: Any, ctype: str = "application/json") -> None:
        data = (json.dumps(body) if ctype == "application/json" else str(body)).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.requests.append({"path": url.path, "params": q, "headers": dict(h.headers.items())})
        if self.hang:
            self._release.wait(timeout=30)
            return self.send(h, 504, "timeout", "text/plain")
        if self.fail_with:
            return self.send(h, self.fail_with[0], self.fail_with[1], "text/plain")
        if self.non_json:
            return self.send(h, 200, "<html><body>Sign in to continue</body></html>", "text/html")
        if self.fail_every and self.counted(url.path):
            with self._lock:
                self._count += 1
                n = self._count
            if n % self.fail_every == 0:
                return self.send(h, 500, "internal error: storage unavailable", "text/plain")
        self.handle(h, url.path, q)

    def counted(self, path: str) -> bool:  # which requests fail_every applies to
        return True

    def handle(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:  # pragma: no cover
        raise NotImplementedError


@dataclass
class _Trace:
    id: str
    spans: list[tuple[dict, dict]]
    start_ns: int
    services: set[str] = field(default_factory=set)


class FakeJaeger(FakeServer):
    def __init__(self, otlp_requests: list[dict[str, Any]], v3: bool = False, tenant: str | None = None) -> None:
        super().__init__()
        self.v3 = v3
        self.tenant = tenant
        self.traces = []
        for tid, spans in index_otlp(otlp_requests).items():
            start = min(int(sp["startTimeUnixNano"]) for _, sp in spans)
            self.traces.append(_Trace(tid, spans, start, {r.get("service.name") for r, _ in spans}))
        self.traces.sort(key=lambda t: -t.start_ns)  # Jaeger lists the most recent first

    def counted(self, path: str) -> bool:
        return path in ("/api/traces", "/api/v3/traces")

    def _find(self, service: str, operation: str | None, lo_ns: int, hi_ns: int, limit: int,
              min_ns: int = 0) -> list[_Trace]:
        out = []
        for t in self.traces:
            if service not in t.services:
                continue
            if min_ns and max(int(sp["endTimeUnixNano"]) for _, sp in t.spans) - t.start_ns < min_ns:
                continue
            if not any(lo_ns <= int(sp["startTimeUnixNano"]) <= hi_ns and r.get("service.name") == service
                       and (operation is None or sp["name"] == operation) for r, sp in t.spans):
                continue
            out.append(t)
            if len(out) >= limit:
                break
        return out

    def handle(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        if self.tenant is not None and h.headers.get("X-Scope-OrgID") != self.tenant:
            return self.send(h, 401, "missing tenant header", "text/plain")
        services = sorted({s for t in self.traces for s in t.services})
        if path == "/api/services":
            return self.send(h, 200, {"data": services, "total": len(services), "limit": 0, "offset": 0,
                                      "errors": None})
        if path == "/api/traces":
            if not q.get("service"):
                return self.send(h, 400, {"data": None, "total": 0, "limit": 0, "offset": 0,
                                          "errors": [{"code": 400, "msg": "parameter 'service' is required"}]})
            try:
                start = int(q["start"]) * 1000 if "start" in q else 0
                end = int(q["end"]) * 1000 if "end" in q else 2**63
            except ValueError as e:
                return self.send(h, 400, {"data": None, "total": 0, "limit": 0, "offset": 0,
                                          "errors": [{"code": 400, "msg": f"unable to parse param 'start': {e}"}]})
            found = self._find(q["service"], q.get("operation"), start, end, int(q.get("limit", "100")),
                               _go_duration_ns(q.get("minDuration", "")))
            return self.send(h, 200, {"data": [to_jaeger(t.id, t.spans) for t in found], "total": 0, "limit": 0,
                                      "offset": 0, "errors": None})
        if self.v3 and path == "/api/v3/services":
            return self.send(h, 200, {"services": services})
        if self.v3 and path == "/api/v3/traces":
            if "query.start_time_min" not in q or "query.start_time_max" not in q:
                return self.send(h, 400, {"error": {"code": 3, "message": "start time min and max are required"}})
            lo, hi = (_rfc3339_ns(q["query.start_time_min"]), _rfc3339_ns(q["query.start_time_max"]))
            found = self._find(q.get("query.service_name", ""), q.get("query.operation_name"), lo, hi,
                               int(q.get("query.num_traces", "20")))
            return self.send(h, 200, {"result": {"resourceSpans": _otlp_of(found)}})
        self.send(h, 404, "404 page not found\n", "text/plain")


def _otlp_of(traces: list[_Trace]) -> list[dict[str, Any]]:
    """The traces as OTLP ``resourceSpans``, one per resource."""
    by_res: dict[str, tuple[dict, list[dict]]] = {}
    for t in traces:
        for res, sp in t.spans:
            key = json.dumps(res, sort_keys=True)
            by_res.setdefault(key, (res, []))[1].append(sp)
    return [{"resource": {"attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in res.items()]},
             "scopeSpans": [{"scope": {"name": "fake"}, "spans": spans}]} for res, spans in by_res.values()]


def _rfc3339_ns(text: str) -> int:
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    if not m:
        raise ValueError(text)
    base = datetime.fromisoformat(m.group(1) + "+00:00")
    frac = (m.group(2) or "0").ljust(9, "0")[:9]
    return int(base.timestamp()) * 10**9 + int(frac)


def _go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration for the units the UI sends (ms, s, m, h); empty is 0."""
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(num) * {"ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[unit]
    return int(total)
