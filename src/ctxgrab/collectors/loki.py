"""Grafana Loki: log lines of the window (and baseline) through ``query_range``, mined into patterns.

Params (from a service's ``logs: [{source: NAME, query: ...}]`` entry)::

    {"source": "loki-prod", "query": "{app=\\"payments\\"} |= \\"ERROR\\"", "title": "...",
     "max_lines": 20000, "max_patterns": 15}

``source`` names a ``sources`` entry of type ``loki`` (``url``, ``headers``,
``org_id`` sent as ``X-Scope-OrgID``, ``bearer_token`` or ``username``/``password``,
``timeout_s``). Requests always carry explicit ``start``/``end`` in Unix
nanoseconds and ``direction=backward``; more lines than one request's
``limit`` (at most 5000, Loki's default ceiling) are fetched by moving ``end``
to the oldest timestamp seen + 1 ns and dropping lines already seen, until a
page is short or ``max_lines`` is reached (then ``truncated`` is true). A
page made only of lines already seen (more than ``limit`` lines inside one
nanosecond) also ends paging.
Errors come back as plain text and become the evidence's reason.

The evidence is of kind ``logs`` with the payload of
:mod:`ctxgrab.collectors.logfiles`, plus ``query``, ``pages`` and ``truncated``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx

from ..analysis.logpatterns import LogRecord, mine, normalize_level
from ..errors import body_excerpt, SourceError, SourceTimeout
from ..evidence import Evidence, Status
from ..analysis.logformat import LineFormat, infer_format
from ..logread import _json_record, parse_timestamp, split_header
from ..sources import auth_headers, basic_auth, verify_option
from ..timeutil import Window
from . import CollectRequest
from .logfiles import MAX_PATTERNS, build_payload

__all__ = ["collect", "query_lines", "LOKI_MAX_LIMIT"]

LOKI_MAX_LIMIT = 5000  # max_entries_limit_per_query default: asking for more is a 400, not a clamp
DEFAULT_MAX_LINES = 20_000
_LEVEL_LABELS = ("level", "detected_level", "severity", "lvl", "log_level")


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def _error_text(resp: httpx.Response) -> str:
    body = resp.text.strip().splitlines()
    return body[0][:300] if body else resp.reason_phrase


async def query_lines(
    client: httpx.AsyncClient,
    query: str,
    window: Window,
    *,
    max_lines: int = DEFAULT_MAX_LINES,
    page_limit: int = LOKI_MAX_LIMIT,
    retries: int = 1,
) -> tuple[list[tuple[int, str, dict[str, str]]], int, bool]:
    """``(entries, pages, truncated)``: (ns, line, labels) newest first, de-duplicated across pages.

    Raises :class:`SourceError` (status and Loki's plain-text message) or
    :class:`SourceTimeout`.
    """
    limit = max(1, min(page_limit, LOKI_MAX_LIMIT))
    start_ns, end_ns = _ns(window.start), _ns(window.end)
    seen: set[tuple[int, str, tuple]] = set()
    out: list[tuple[int, str, dict[str, str]]] = []
    pages = 0
    while True:
        want = min(limit, max_lines - len(out) + 1)
        params = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(want),
                  "direction": "backward"}
        resp = await _get(client, params, retries)
        pages += 1
        page = _parse_streams(resp)
        fresh = 0
        oldest = None
        for ts, line, labels in page:
            key = (ts, line, tuple(sorted(labels.items())))
            oldest = ts if oldest is None else min(oldest, ts)
            if key in seen:
                continue
            seen.add(key)
            out.append((ts, line, labels))
            fresh += 1
        if len(out) > max_lines:
            out.sort(key=lambda e: -e[0])
            return out[:max_lines], pages, True
        if len(page) < want or oldest is None or fresh == 0:
            break
        # end is exclusive: oldest + 1 keeps lines sharing the oldest ns; `seen` drops the repeats
        end_ns = oldest + 1
        if end_ns <= start_ns:
            break
    out.sort(key=lambda e: -e[0])
    return out, pages, False


async def _get(client: httpx.AsyncClient, params: dict[str, str], retries: int) -> httpx.Response:
    attempt = 0
    while True:
        try:
            resp = await client.get("/loki/api/v1/query_range", params=params)
        except httpx.TimeoutException as e:
            raise SourceTimeout(f"Loki did not answer in time ({type(e).__name__})") from None
        except httpx.HTTPError as e:
            raise SourceError(f"Loki unreachable: {e}") from None
        if resp.status_code == 429 and attempt < retries:  # queue full / rate limited: back off once
            attempt += 1
            await anyio.sleep(0.5 * attempt)
            continue
        if resp.status_code == 504:
            raise SourceTimeout(f"Loki 504: {_error_text(resp)}")
        if resp.status_code >= 400:
            raise SourceError(f"Loki {resp.status_code}: {_error_text(resp)}")
        return resp


def _parse_streams(resp: httpx.Response) -> list[tuple[int, str, dict[str, str]]]:
    try:
        body = resp.json()
    except ValueError:
        raise SourceError(f"Loki answered {resp.status_code} with a body that is not JSON: "
                          f"{body_excerpt(resp.content, 120)}") from None
    if body.get("status") != "success":
        raise SourceError(f"Loki answered status {body.get('status')!r}: {str(body.get('error'))[:200]}")
    data = body.get("data") or {}
    if data.get("resultType") != "streams":
        raise SourceError(f"Loki returned {data.get('resultType')!r}, not log lines: is the query a metric query?")
    out = []
    for stream in data.get("result") or []:
        labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
        for value in stream.get("values") or []:
            ts, line = int(value[0]), str(value[1])
            lab = labels
            if len(value) > 2 and isinstance(value[2], dict):  # categorize-labels: [ts, line, {metadata}]
                lab = dict(labels)
                for group in ("structuredMetadata", "parsed"):
                    lab.update({str(k): str(v) for k, v in (value[2].get(group) or {}).items()})
            out.append((ts, line, lab))
    return out


def stream_formats(entries: list[tuple[int, str, dict[str, str]]]) -> dict[tuple, LineFormat]:
    """The inferred line layout of each Loki stream (same labels), from a sample of its lines.

    A stream is one source's output, so its lines share a layout the way a file's do; the
    header (timestamp, level, thread, logger) is then split off exactly as for files.
    """
    sample: dict[tuple, list[str]] = {}
    for _, line, labels in entries:
        key = tuple(sorted(labels.items()))
        lines = sample.setdefault(key, [])
        if len(lines) < 400:
            lines.append(line.partition("\n")[0])
    return {k: infer_format(v) for k, v in sample.items()}


def to_record(ts_ns: int, line: str, labels: dict[str, str], fmt: LineFormat | None = None) -> LogRecord:
    """A Loki entry as a record: JSON lines are parsed, other lines split by the stream's layout
    (``fmt``); Loki's own timestamp is the record's time; a level label wins over the line's own."""
    t = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc).replace(
        microsecond=(ts_ns % 1_000_000_000) // 1000)
    first, _, rest = line.partition("\n")
    rec = None
    if first.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            rec = _json_record(obj, None)
            rec.time = t
    parsed = fmt.parse(first) if rec is None and fmt is not None and (fmt.layout or fmt.logfmt) else None
    if parsed is not None:
        rec = LogRecord(message=parsed[3], time=t, level=parsed[1], logger=parsed[2], trace=rest or None,
                        line_count=line.count("\n") + 1)
    if rec is None:
        _, end = parse_timestamp(first)
        level, logger, msg = split_header(first[end:])
        rec = LogRecord(message=msg, time=t, level=level, logger=logger, trace=rest or None,
                        line_count=line.count("\n") + 1)
    label_level = next((labels[k] for k in _LEVEL_LABELS if labels.get(k)), None)
    if label_level and label_level.lower() not in ("unknown", ""):
        rec.level = normalize_level(label_level)
    rec.source = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k in ("pod", "instance", "container"))
    return rec


def _client(src: Any, timeout_s: float) -> httpx.AsyncClient:
    creds = basic_auth(src)
    return httpx.AsyncClient(base_url=src.url.rstrip("/"), headers=auth_headers(src),
                             auth=httpx.BasicAuth(*creds) if creds else None, verify=verify_option(src),
                             timeout=httpx.Timeout(timeout_s))


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    name = params.get("source") or ""
    query = params.get("query") or ""
    title = params.get("title") or f"Logs ({name})"
    base = {"kind": "logs", "name": f"loki:{name}", "title": title}
    src = (getattr(request.config, "sources", None) or {}).get(name)
    if src is None or getattr(src, "type", None) != "loki" or not getattr(src, "url", None):
        return Evidence.failed(**base, reason=f"no loki source named {name!r} with a url in the config")
    if not query:
        return Evidence.failed(**base, reason="no LogQL query given (services.<name>.logs[].query)", source=src.url)
    base["source"] = f"{src.url} {query}"
    timeout_s = float(getattr(src, "timeout_s", None) or request.timeout_s)
    max_lines = int(params.get("max_lines") or DEFAULT_MAX_LINES)
    try:
        async with _client(src, timeout_s) as client:
            entries, pages, truncated = await query_lines(client, query, request.window, max_lines=max_lines)
            base_entries: list = []
            if request.baseline is not None:
                base_entries, more, _ = await query_lines(client, query, request.baseline, max_lines=max_lines)
                pages += more
    except SourceTimeout as e:
        return Evidence.failed(**base, reason=str(e), status=Status.timeout)
    except SourceError as e:
        return Evidence.failed(**base, reason=str(e))
    formats = stream_formats(entries + base_entries)

    def rec(e: tuple[int, str, dict[str, str]]) -> LogRecord:
        return to_record(*e, formats.get(tuple(sorted(e[2].items()))))

    records = [rec(e) for e in reversed(entries)]  # oldest first
    baseline = [rec(e) for e in reversed(base_entries)] if request.baseline is not None else None
    max_patterns = int(params.get("max_patterns") or MAX_PATTERNS)
    result = mine(records, baseline, max_patterns=max_patterns)
    data = build_payload(result, request.baseline, files=[], total_lines=len(entries) + len(base_entries),
                         skipped_lines=0, query=query, pages=pages, truncated=truncated)
    warnings = [f"stopped after {max_lines:,} lines (max_lines); counts are lower bounds"] if truncated else []
    if not records:
        return Evidence(**base, status=Status.empty, data=data, reason="Loki returned no lines for the window")
    return Evidence(**base, data=data, warnings=warnings)
