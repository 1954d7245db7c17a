"""Grafana Tempo: TraceQL search over the window and the baseline, then each trace by id.

- ``/api/search?q=<TraceQL>&start=&end=&limit=`` (unix seconds) per slice: 12
  equal slices of each window with ``ceil(limit / 12)`` traces each. Tempo returns
  the first N it finds, not sorted, so the sample is "first found per slice".
- ``/api/v2/traces/{id}`` (OTLP JSON in ``trace``, with a partial/complete
  ``status``); ``/api/traces/{id}`` (``batches``, base64 ids) on servers without v2.
- ``/api/metrics/query_range`` with ``<TraceQL> | count_over_time()`` where
  present: how many spans the query matched in the window, so the prompt can say
  what share was read. A server without TraceQL metrics just leaves it unknown.

The query defaults to ``{ resource.service.name = "<service>" }``. Tenant
(``org_id`` → ``X-Scope-OrgID``), basic or bearer auth, TLS and the per-request
timeout come from the source. Down, slow, 500 and non-JSON answers are gaps with
Tempo's own words; failed trace fetches make a partial result that says so.
"""

from __future__ import annotations

import math
import time
from typing import Any

import anyio

from ..analysis.traces import ReadStats, Span, spans_from_otlp
from ..errors import SourceError
from ..evidence import Evidence, Status
from . import CollectRequest
from .traces import KIND, NotFound, SLICES, get_json, http_client, run_limited, slices, source_evidence, window_ns

__all__ = ["collect"]


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    name = params["source"]
    src = request.config.sources[name]
    service = params.get("service") or request.service
    query = params.get("query") or '{ resource.service.name = "%s" }' % service.replace('"', '\\"')
    title = params.get("title") or f"Traces (Tempo {name})"
    base = {"kind": KIND, "name": f"traces:{name}", "title": title, "source": f"{src.url} {query}"}
    timeout_s = float(src.timeout_s or request.timeout_s)
    limit = int(params.get("limit") or 240)
    per_slice = max(1, math.ceil(limit / SLICES))
    windows = [request.window] + ([request.baseline] if request.baseline is not None else [])
    budget = min(timeout_s, request.timeout_s) * 0.9  # inside the collector's own deadline
    started = time.monotonic()
    async with http_client(src, timeout_s) as client:

        def search(lo: int, hi: int):  # noqa: ANN202
            async def run() -> list[str]:
                body = await get_json(client, "Tempo", "/api/search", {
                    "q": query, "start": lo // 10**9, "end": max(lo // 10**9 + 1, hi // 10**9), "limit": per_slice})
                if not isinstance(body, dict) or not isinstance(body.get("traces", []), list):
                    raise SourceError("Tempo search answered JSON without a `traces` list")
                return [t["traceID"] for t in body.get("traces") or [] if isinstance(t, dict) and t.get("traceID")]
            return run

        jobs = [search(lo, hi) for w in windows for lo, hi in slices(w)]
        found, problems, not_run = await run_limited(jobs, budget * 0.4)
        if len(problems) + not_run >= len(jobs):
            first = problems[0] if problems else (f"Tempo did not answer in time: no search finished within "
                                                  f"{budget * 0.4:.1f} s")
            status = Status.timeout if ("did not answer" in first or not problems or " 504" in first) else Status.error
            return Evidence.failed(**base, reason=first, status=status)
        ids: list[str] = []
        full = 0
        for group in found:
            full += len(group) >= per_slice
            ids.extend(i for i in group if i not in ids)
        v2 = [True]
        partial_traces = [0]

        def fetch(tid: str):  # noqa: ANN202
            async def run() -> Any:
                if v2[0]:
                    try:
                        body = await get_json(client, "Tempo", f"/api/v2/traces/{tid}")
                    except NotFound:
                        v2[0] = False  # an older Tempo: v1 below (a missing trace is a 404 there too)
                    else:
                        if isinstance(body, dict) and str(body.get("status", "")).lower() == "partial":
                            partial_traces[0] += 1
                        return body
                return await get_json(client, "Tempo", f"/api/traces/{tid}")
            return run

        # Whatever the searches left, less a tenth for the TraceQL metrics queries.
        left = budget - (time.monotonic() - started) - budget * 0.1
        traces, t_problems, t_not_run = await run_limited([fetch(t) for t in ids], left)
        matched = matched_errors = None
        with anyio.move_on_after(max(0.1, budget - (time.monotonic() - started))):
            matched = await _matched(client, query, request)
            matched_errors = await _matched(client, _and_error(query), request) if matched else None
    stats = ReadStats()
    spans: list[Span] = []
    for body in traces:
        spans.extend(spans_from_otlp(body, stats))
    how = (f"the first {per_slice} traces Tempo found in each of {SLICES} equal slices of the window"
           + (" and of the baseline" if request.baseline is not None else "") + " (Tempo's search is not sorted)")
    if full:
        how += f"; {full} slices came back full, so more traces matched"
    sampling = {"source": "tempo", "query": query, "per_slice": per_slice, "slices": len(jobs),
                "traces_found": len(ids), "spans_matched": matched, "spans_matched_errors": matched_errors,
                "traces_matched": None, "how": how}
    if partial_traces[0]:
        sampling["partial_traces"] = partial_traces[0]
    problems = problems + t_problems
    return source_evidence(base, spans, service, request, sampling, problems, not_run + t_not_run,
                           len(jobs) + len(ids))


def _and_error(query: str) -> str:
    """``{ A }`` → ``{ A && status = error }`` for a single spanset filter; other queries are left alone."""
    q = query.strip()
    if q.startswith("{") and q.endswith("}") and q.count("{") == 1:
        inner = q[1:-1].strip()
        return "{ " + (f"{inner} && " if inner else "") + "status = error }"
    return q


async def _matched(client: Any, query: str, request: CollectRequest) -> int | None:
    """Spans the query matched in the window (TraceQL metrics), or None where Tempo cannot say."""
    w = window_ns(request.window)
    assert w is not None
    step = max(1, (w[1] - w[0]) // 10**9)
    try:
        body = await get_json(client, "Tempo", "/api/metrics/query_range", {
            "q": f"{query} | count_over_time()", "start": w[0] // 10**9, "end": w[1] // 10**9, "step": f"{step}s"})
    except (SourceError, NotFound):
        return None
    total = 0.0
    try:
        for series in body.get("series") or []:
            for sample in series.get("samples") or []:
                total += float(sample.get("value") or 0)
    except (AttributeError, TypeError, ValueError):
        return None
    return int(total)
