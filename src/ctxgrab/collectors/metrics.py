"""Metric queries: one series set per pack entry or explicit ``metrics:`` entry.

Params (from the planner): ``id``, ``title``, ``query``, ``unit``, ``source``,
``limit_of``. With a ``prometheus_files`` source the response is read from
``<path>/<id>.json``: a ``query_range`` reply saved as ``curl`` saves it.

Payload (``data``)::

    {"id": "heap_used", "query": "...", "unit": "bytes", "limit_of": null,
     "series": [{"labels": {...}, "summary": {first, last, min, max, mean, p95,
                 trend_per_hour, r2, change_point, sparkline, ...},
                 "points": [[unix_s, value], ...]}],
     "series_total": 1}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..analysis.series import summarize
from ..errors import InputError
from ..evidence import Evidence, Status
from ..timeutil import Window
from . import CollectRequest, run_blocking

KIND = "metrics"
MAX_SERIES = 5  # keep the most relevant few; the payload says how many there were


def parse_query_range(payload: Any, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Series and warnings from a Prometheus ``query_range`` JSON reply."""
    if not isinstance(payload, dict) or "status" not in payload:
        raise InputError(f"{where}: not a Prometheus API reply (no 'status' field)")
    if payload["status"] != "success":
        raise InputError(
            f"{where}: Prometheus error {payload.get('errorType', '?')}: {payload.get('error', 'no message')}"
        )
    data = payload.get("data") or {}
    if data.get("resultType") not in ("matrix", "vector"):
        raise InputError(f"{where}: expected a matrix result, got {data.get('resultType')!r}")
    series = []
    for item in data.get("result") or []:
        raw = item.get("values") or ([item["value"]] if "value" in item else [])
        points = []
        for pair in raw:
            try:
                points.append((float(pair[0]), float(pair[1])))
            except (TypeError, ValueError, IndexError):
                raise InputError(f"{where}: malformed sample {pair!r}") from None
        series.append({"labels": item.get("metric") or {}, "points": points})
    return series, list(payload.get("warnings") or [])


def summarize_series(
    series: list[dict[str, Any]], window: Window, baseline: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Window-filtered summaries, most relevant (largest mean) first, capped at MAX_SERIES."""
    lo, hi = window.start.timestamp(), window.end.timestamp()
    base_by_labels = {json.dumps(s["labels"], sort_keys=True): s["points"] for s in baseline or []}
    out = []
    for s in series:
        pts = [(t, v) for t, v in s["points"] if lo <= t <= hi]
        if not pts:
            continue
        key = json.dumps(s["labels"], sort_keys=True)
        summary = summarize(pts, base_by_labels.get(key))
        out.append({"labels": s["labels"], "summary": summary, "points": [[t, v] for t, v in pts]})
    out.sort(key=lambda s: (-(abs(s["summary"].get("mean", 0.0))), json.dumps(s["labels"], sort_keys=True)))
    return out[:MAX_SERIES], len(out)


def _read_saved(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    mid = params["id"]
    title = params.get("title") or mid
    name = params.get("name") or mid
    source_name = params.get("source")
    base = {"kind": KIND, "name": name, "title": title}
    if not source_name:
        return Evidence.failed(
            **base,
            reason="no metrics source: set services.<name>.metrics_source or define exactly one metrics source",
            status=Status.skipped,
        )
    source = request.config.sources[source_name]
    data: dict[str, Any] = {
        "id": mid,
        "query": params.get("query", ""),
        "unit": params.get("unit"),
        "limit_of": params.get("limit_of"),
    }
    if source.type == "prometheus_files":
        folder = request.resolve(source.path or ".")
        path = folder / f"{mid}.json"
        if not path.is_file():
            return Evidence.failed(**base, reason=f"no saved response {path.name} in {folder}", status=Status.empty,
                                   source=str(path))
        payload = await run_blocking(_read_saved, path)
        series, warnings = parse_query_range(payload, str(path))
        baseline_series = None
        if request.baseline is not None:
            # A saved response may span the baseline too; use what it holds.
            baseline_series = [
                {"labels": s["labels"], "points": [(t, v) for t, v in s["points"]
                                                   if request.baseline.start.timestamp() <= t < request.baseline.end.timestamp()]}
                for s in series
            ]
        summaries, total = summarize_series(series, request.window, baseline_series)
        src = str(path)
    else:
        return Evidence.failed(
            **base,
            reason=f"source {source_name!r} has type {source.type!r}, which this version reads only from saved files",
            status=Status.skipped,
        )
    data["series"] = summaries
    data["series_total"] = total
    if not summaries:
        return Evidence(**base, status=Status.empty, reason="no samples inside the window", source=src, data=data,
                        warnings=warnings)
    return Evidence(**base, source=src, data=data, warnings=warnings)
