"""A fake Grafana Tempo for tests, on loopback, following the documented HTTP API.

Tempo cannot run on this machine, so this server follows the reference notes
(``shared/reference/jaeger-tempo.md``, from grafana/tempo ``docs/sources/tempo/api_docs``):

- ``/api/search?q=<TraceQL>&start=&end=&limit=`` (unix seconds; ``limit`` default 20): the first
  traces found (storage order, not sorted), as ``{"traces": [{"traceID" (hex), "rootServiceName",
  "rootTraceName", "startTimeUnixNano" (string), "durationMs", "spanSets": [...]}], "metrics": {...}}``.
  Only the TraceQL this project sends is understood (``{ resource.service.name = "X" }``); anything
  else answers 400 with a parse error, as Tempo does for queries it cannot parse.
- ``/api/v2/traces/{id}``: ``{"trace": {"resourceSpans": [...]}, "status": "complete"}`` (ids base64,
  as Tempo's protobuf JSON writes bytes); ``/api/traces/{id}``: ``{"batches": [...]}``; a missing trace
  is a 404. ``v2=False`` makes the server an older Tempo without the v2 endpoint.
- ``/api/metrics/query_range`` (``metrics=True``): ``{q} | count_over_time()`` answered with
  ``{"series": [{"labels": [], "samples": [{"timestampMs", "value"}]}]}``.
- tenants: ``X-Scope-OrgID`` required when ``tenant`` is set (401 otherwise); ``/ready`` answers ``ready``.

Faults (from :class:`fake_jaeger.FakeServer`): ``fail_with``, ``non_json``, ``hang``,
``fail_every`` (every N-th trace fetch answers 500: a partial result), ``partial_status``
(v2 answers ``status: partial``).
"""

from __future__ import annotations

import base64
import copy
import re
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_jaeger import FakeServer, index_otlp

_QUERY = re.compile(r'^\{\s*resource\.service\.name\s*=\s*"([^"]*)"\s*(&&\s*status\s*=\s*error\s*)?\}(.*)$')


def _b64(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId")
                    and isinstance(v, str) and v else _b64(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_b64(v) for v in obj]
    return obj


class FakeTempo(FakeServer):
    def __init__(self, otlp_requests: list[dict[str, Any]], v2: bool = True, metrics: bool = True,
                 tenant: str | None = None, partial_status: bool = False) -> None:
        super().__init__()
        self.v2, self.metrics, self.tenant, self.partial_status = v2, metrics, tenant, partial_status
        self.index = index_otlp(otlp_requests)
        self.order = list(self.index)  # storage order: Tempo's search returns the first found

    def counted(self, path: str) -> bool:
        return path.startswith("/api/v2/traces/") or path.startswith("/api/traces/")

    def _root(self, tid: str) -> tuple[dict, dict]:
        return min(self.index[tid], key=lambda rs: int(rs[1]["startTimeUnixNano"]))

    def _service(self, q: dict[str, str]) -> str | None:
        m = _QUERY.match(q.get("q", "").strip())
        if not m or m.group(3).strip() not in ("", "| count_over_time()"):
            return None
        return m.group(1) + ("\x00error" if m.group(2) else "")

    def _batches(self, tid: str) -> list[dict[str, Any]]:
        by_res: dict[str, tuple[dict, list]] = {}
        for res, sp in self.index[tid]:
            by_res.setdefault(repr(sorted(res.items())), (res, []))[1].append(copy.deepcopy(sp))
        return _b64([{"resource": {"attributes": [{"key": k, "value": {"stringValue": str(v)}}
                                                  for k, v in res.items()]},
                      "scopeSpans": [{"scope": {"name": "tempo-fake"}, "spans": spans}]}
                     for res, spans in by_res.values()])

    def handle(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        if path == "/ready":  # no tenant needed
            return self.send(h, 200, "ready", "text/plain")
        if self.tenant is not None and h.headers.get("X-Scope-OrgID") != self.tenant:
            return self.send(h, 401, "no org id", "text/plain")
        if path == "/api/search":
            svc = self._service(q)
            if svc is None or "\x00" in svc:
                return self.send(h, 400, f"invalid TraceQL query: parse error at line 1, col 1: {q.get('q', '')!r}",
                                 "text/plain")
            lo = int(q.get("start", "0")) * 10**9
            hi = int(q.get("end", str(2**62 // 10**9))) * 10**9
            limit = int(q.get("limit", "20"))
            found = []
            for tid in self.order:
                res, root = self._root(tid)
                start = int(root["startTimeUnixNano"])
                if not (lo <= start < hi) or not any(r.get("service.name") == svc for r, _ in self.index[tid]):
                    continue
                end = max(int(sp["endTimeUnixNano"]) for _, sp in self.index[tid])
                found.append({"traceID": tid, "rootServiceName": res.get("service.name"),
                              "rootTraceName": root["name"], "startTimeUnixNano": str(start),
                              "durationMs": (end - start) // 10**6,
                              "spanSets": [{"spans": [{"spanID": root["spanId"], "startTimeUnixNano": str(start),
                                                       "durationNanos": str(end - start), "attributes": []}],
                                            "matched": 1}]})
                if len(found) >= limit:
                    break
            return self.send(h, 200, {"traces": found, "metrics": {"inspectedBytes": "123456", "totalBlocks": 1}})
        m = re.fullmatch(r"/api/(v2/)?traces/([0-9a-fA-F]+)", path)
        if m and (self.v2 or not m.group(1)):
            tid = m.group(2).lower().rjust(32, "0")
            if tid not in self.index:
                return self.send(h, 404, "trace not found", "text/plain")
            batches = self._batches(tid)
            if m.group(1):
                return self.send(h, 200, {"trace": {"resourceSpans": batches},
                                          "status": "partial" if self.partial_status else "complete",
                                          "message": "", "metrics": {"inspectedBytes": "1000"}})
            return self.send(h, 200, {"batches": batches})
        if path == "/api/metrics/query_range" and self.metrics:
            svc = self._service(q)
            if svc is None:
                return self.send(h, 400, "invalid TraceQL query", "text/plain")
            lo, hi = int(q["start"]) * 10**9, int(q["end"]) * 10**9
            svc, _, errors_only = svc.partition("\x00")
            n = sum(1 for spans in self.index.values() for r, sp in spans
                    if r.get("service.name") == svc and lo <= int(sp["startTimeUnixNano"]) < hi
                    and (not errors_only or (sp.get("status") or {}).get("code") == 2))
            return self.send(h, 200, {"series": [{"labels": [], "samples": [
                {"timestampMs": str(hi // 10**6), "value": n}]}]})
        self.send(h, 404, "404 page not found", "text/plain")
