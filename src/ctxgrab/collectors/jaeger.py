"""Jaeger's query service: traces of the service in the window and the baseline.

The v3 API (``/api/v3/traces``, OTLP JSON, Jaeger v2 and recent 1.x) is used where
``/api/v3/services`` answers; otherwise the query service's HTTP API that the UI
uses (``/api/traces?service=&operation=&start=&end=&limit=``, times in µs, spans
with ``processes``). Each window is fetched as 12 equal slices with
``ceil(limit / 12)`` traces each, so the sample covers the whole window; Jaeger's
``total`` is not a count, so the number matched is not known, and a slice that
came back full is reported as "at least".

Auth, tenant (``X-Scope-OrgID``), TLS and the per-request timeout come from the
source (:mod:`ctxgrab.sources`). A source that is down, slow, answers 500 or not
JSON is a gap with Jaeger's own words; some slices failing is a partial result.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from ..analysis.traces import ReadStats, Span, spans_from_jaeger, spans_from_otlp
from ..errors import SourceError
from ..evidence import Evidence
from . import CollectRequest
from .traces import KIND, NotFound, SLICES, get_json, http_client, run_limited, slices, source_evidence

__all__ = ["collect"]


def _rfc3339(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    name = params["source"]
    src = request.config.sources[name]
    service = params.get("service") or request.service
    title = params.get("title") or f"Traces (Jaeger {name})"
    base = {"kind": KIND, "name": f"traces:{name}", "title": title, "source": f"{src.url} service={service}"}
    timeout_s = float(src.timeout_s or request.timeout_s)
    limit = int(params.get("limit") or 240)
    per_slice = max(1, math.ceil(limit / SLICES))
    operation = params.get("operation")
    min_duration = params.get("min_duration")
    windows = [request.window] + ([request.baseline] if request.baseline is not None else [])
    async with http_client(src, timeout_s) as client:
        try:
            await get_json(client, "Jaeger", "/api/v3/services")
            v3 = True
        except NotFound:
            v3 = False
        except SourceError as e:
            if "unreachable" in str(e) or "did not answer" in str(e):
                return Evidence.failed(**base, reason=str(e),
                                       status=_status(e))
            v3 = False  # an older query service may answer something else on an unknown path

        def job(lo: int, hi: int):  # noqa: ANN202
            async def run() -> tuple[list[Any], int, str]:
                if v3:
                    q = {"query.service_name": service, "query.start_time_min": _rfc3339(lo),
                         "query.start_time_max": _rfc3339(hi), "query.num_traces": per_slice}
                    if operation:
                        q["query.operation_name"] = operation
                    if min_duration:
                        q["query.duration_min"] = min_duration
                    body = await get_json(client, "Jaeger", "/api/v3/traces", q)
                    return [body], -1, "v3"
                q = {"service": service, "start": lo // 1000, "end": hi // 1000, "limit": per_slice}
                if operation:
                    q["operation"] = operation
                if min_duration:
                    q["minDuration"] = min_duration
                body = await get_json(client, "Jaeger", "/api/traces", q)
                if not isinstance(body, dict):
                    raise SourceError(f"Jaeger answered {type(body).__name__}, not a response envelope")
                if body.get("errors"):
                    err = body["errors"][0] if isinstance(body["errors"], list) else body["errors"]
                    msg = err.get("msg") if isinstance(err, dict) else str(err)
                    raise SourceError(f"Jaeger: {str(msg)[:200]}")
                data = body.get("data") or []
                return data, len(data), "v1"
            return run

        jobs = [job(lo, hi) for w in windows for lo, hi in slices(w)]
        results, problems, not_run = await run_limited(jobs, min(timeout_s, request.timeout_s) * 0.9)
    stats = ReadStats()
    spans: list[Span] = []
    seen: set[str] = set()
    full_slices = 0
    traces = 0
    for items, count, api in results:
        for item in items:
            got = list(spans_from_otlp(item, stats) if api == "v3" else spans_from_jaeger(item, stats))
            ids = {s.trace for s in got}
            fresh = ids - seen
            seen |= ids
            traces += len(fresh)
            spans.extend(s for s in got if s.trace in fresh)
        if api == "v3":
            n = len({s.trace for item in items for s in spans_from_otlp(item)})
            full_slices += n >= per_slice
        else:
            full_slices += count >= per_slice
    api = "v3 (OTLP)" if v3 else "query API (/api/traces)"
    sampling = {"source": "jaeger", "api": api, "per_slice": per_slice, "slices": len(jobs),
                "traces_matched": None, "full_slices": full_slices,
                "how": (f"up to {per_slice} traces from each of {SLICES} equal slices of the window"
                        + (" and of the baseline" if request.baseline is not None else "")
                        + (f" lasting at least {min_duration} (so ratios describe slow traces only)"
                           if min_duration else "")
                        + " (Jaeger's search order within a slice); Jaeger does not count the matches"
                        + (f"; {full_slices} slices came back full, so more traces matched" if full_slices else ""))}
    if stats.bad_spans:
        sampling["bad_spans"] = stats.bad_spans
    return source_evidence(base, spans, service, request, sampling, problems, not_run, len(jobs))


def _status(e: Exception):  # noqa: ANN202
    from ..evidence import Status

    return Status.timeout if "did not answer" in str(e) or " 504" in str(e) else Status.error
