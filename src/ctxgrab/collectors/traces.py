"""Traces: OTLP JSON files, Jaeger or Tempo, summarised by :mod:`ctxgrab.analysis.traces`.

Params (one ``services.<name>.traces[]`` entry)::

    {"path": "/var/otel/traces*.json"}                       # OTLP JSON lines files
    {"source": "jaeger", "service": "orders", "operation": "POST /orders", "limit": 240}
    {"source": "tempo", "query": '{ resource.service.name = "orders" }', "limit": 240}

Files are what the OpenTelemetry Collector's file exporter writes: one
``ExportTraceServiceRequest`` per line, plain or ``.gz``, rotated sets included
(``traces.json.1``, ``traces-2026-03-02T10-00-00.000.json``). Every span is read
(up to ``max_spans``; more is a partial result that says so) and only traces
whose root starts inside the window or the baseline are summarised. Reading
stops at the collector's deadline with what it has, saying so.

Sources are sampled: :mod:`ctxgrab.collectors.jaeger` and
:mod:`ctxgrab.collectors.tempo` fetch up to ``limit`` traces per window, spread
over 12 equal slices of it so the onset of a change is inside the sample; the
payload's ``sampling`` says how many were read out of how many matched and how
they were chosen.

The evidence is of kind ``traces``; its payload is
:func:`ctxgrab.analysis.traces.summarize`'s (``docs/templates.md``) plus
``sampling`` and ``read``.
"""

from __future__ import annotations

import gc
import gzip
import json
import threading
import time
from contextlib import contextmanager
import zlib
from pathlib import Path
from typing import Any, Iterator

from ..analysis.traces import ReadStats, Span, spans_from_otlp, summarize
from ..evidence import Evidence, Status
from ..timeutil import Window
from .. import parsebudget
from . import CollectRequest

__all__ = ["collect", "read_otlp_files", "summarize_files", "window_ns", "KIND"]

KIND = "traces"
MAX_LINE_BYTES = 64 << 20  # a larger line is skipped (and counted): one request is never this big
SLACK_NS = 10 * 60 * 10**9  # spans this long before the window can still belong to a trace inside it


def window_ns(w: Window | None) -> tuple[int, int] | None:
    if w is None:
        return None
    return int(w.start.timestamp() * 1e9), int(w.end.timestamp() * 1e9)


def _lines(path: Path, stats: ReadStats) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:  # type: ignore[operator]
            for line in f:
                yield line
    except (OSError, EOFError, zlib.error) as e:  # truncated .gz, I/O error: keep what was read
        stats.problem(f"{path}: stopped reading: {e}")


def read_otlp_files(
    paths: list[Path],
    *,
    keep: tuple[int, int] | None = None,
    max_spans: int = 3_000_000,
    deadline: float | None = None,
) -> tuple[list[Span], ReadStats, dict[str, Any]]:
    """Spans from OTLP JSON lines files; ``keep`` (ns) drops spans starting outside it.

    Returns ``(spans, stats, partial)`` where ``partial`` says why reading stopped early
    (``{"reason": ...}``) or is empty.
    """
    stats = ReadStats()
    out: list[Span] = []
    partial: dict[str, Any] = {}
    lo, hi = (keep[0] - SLACK_NS, keep[1] + SLACK_NS) if keep else (None, None)
    loads = json.loads
    for path in paths:
        for n, line in enumerate(_lines(path, stats), 1):
            stats.lines += 1
            if deadline is not None and stats.lines % 256 == 0 and time.monotonic() > deadline:
                partial = {"reason": f"stopped at the deadline after {stats.lines:,} lines"}
                return out, stats, partial
            if len(line) > MAX_LINE_BYTES:
                stats.bad_lines += 1
                stats.problem(f"{path}:{n}: line of {len(line):,} bytes skipped")
                continue
            if not line.strip():
                continue
            try:
                payload = loads(line)
            except ValueError as e:
                stats.bad_lines += 1
                stats.problem(f"{path}:{n}: not JSON: {e}")
                continue
            before = stats.bad_spans
            for s in spans_from_otlp(payload, stats):
                if lo is not None and not (lo <= s.start < hi):  # type: ignore[operator]
                    continue
                out.append(s)
            if not isinstance(payload, dict) or ("resourceSpans" not in payload and "batches" not in payload):
                stats.bad_lines += stats.bad_spans == before
                stats.problem(f"{path}:{n}: not an ExportTraceServiceRequest (no resourceSpans)")
            if len(out) >= max_spans:
                partial = {"reason": f"stopped at max_spans ({max_spans:,}) after {stats.lines:,} lines of {path}"}
                return out, stats, partial
    return out, stats, partial


_gc_lock = threading.Lock()
_gc_holders = [0, False]  # readers inside _gc_paused, whether the collector was on before the first


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while any trace file is read (process-wide, counted)."""
    with _gc_lock:
        if _gc_holders[0] == 0:
            _gc_holders[1] = gc.isenabled()
            gc.disable()
        _gc_holders[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders[0] -= 1
            if _gc_holders[0] == 0 and _gc_holders[1]:
                gc.enable()


def summarize_files(paths: list[Path], service: str | None, window: Window | None, baseline: Window | None,
                    max_spans: int, deadline: float | None) -> dict[str, Any]:
    """Read and summarise trace files; blocking (the CLI and the collector share it)."""
    w, b = window_ns(window), window_ns(baseline)
    keep = (min(b[0], w[0]), w[1]) if (w and b) else w
    # Millions of small acyclic objects: the cyclic collector's full passes over them cost more
    # than the reading itself at 1M spans (benchmarks/bench_traces.py); nothing here makes cycles.
    with _gc_paused():
        spans, stats, partial = read_otlp_files(paths, keep=keep, max_spans=max_spans, deadline=deadline)
        sampling = {"how": "every span in the files" + (" up to where reading stopped" if partial else ""),
                    "traces_matched": None, "source": "files"}
        data = summarize(spans, service=service, window=w, baseline=b, sampling=sampling)
    data["read"] = {"files": [str(p) for p in paths], "lines": stats.lines, "bad_lines": stats.bad_lines,
                    "bad_spans": stats.bad_spans, "problems": stats.problems, "partial": partial.get("reason")}
    return data


def evidence_from(base: dict[str, Any], data: dict[str, Any], warnings: list[str]) -> Evidence:
    """``ok`` when the window has traces, ``empty`` (with the payload) when it has none."""
    if not data["sampling"].get("traces_in_window"):
        return Evidence(**base, status=Status.empty, data=data, warnings=warnings,
                        reason=f"no traces start inside the window ({data['sampling']['spans_read']:,} spans read)")
    return Evidence(**base, data=data, warnings=warnings)


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    if params.get("source"):
        src = (getattr(request.config, "sources", None) or {}).get(params["source"])
        kind = getattr(src, "type", None)
        if kind == "jaeger":
            from .jaeger import collect as jaeger

            return await jaeger(request, params)
        if kind == "tempo":
            from .tempo import collect as tempo

            return await tempo(request, params)
        return Evidence.failed(KIND, f"traces:{params['source']}", params.get("title") or "Traces",
                               f"no jaeger or tempo source named {params['source']!r} in the config")
    from ..logread import expand_paths

    pattern = request.resolve(params["path"])
    title = params.get("title") or f"Traces ({params['path']})"
    base = {"kind": KIND, "name": f"traces:{params['path']}", "title": title, "source": str(pattern)}
    paths = expand_paths(pattern)
    if not paths:
        return Evidence.failed(**base, reason=f"no trace files match {pattern}", status=Status.empty)
    # Leave a second of the collector's time to summarise what was read.
    deadline = time.monotonic() + max(1.0, request.timeout_s - 1.0)
    # Under the run's parse budget like every file parser: the reader stops itself a second before
    # the collector's time (a partial result); the budget's kill and memory cap are the backstop.
    try:
        data = await parsebudget.arun(summarize_files, paths, params.get("service") or request.service,
                                      request.window, request.baseline, int(params.get("max_spans") or 3_000_000),
                                      deadline, what=f"trace analysis of {pattern}")
    except parsebudget.ParseBudgetExceeded as e:
        return Evidence.failed(**base, reason=str(e), status=Status.timeout if e.limit == "deadline" else Status.error)
    data["read"]["files"] = [str(p.relative_to(request.base_dir)) if p.is_relative_to(request.base_dir) else str(p)
                             for p in paths]
    warnings = []
    rd = data["read"]
    if rd["partial"]:
        warnings.append(f"partial: {rd['partial']}; the figures cover the spans read")
    if rd["bad_lines"] or rd["bad_spans"]:
        warnings.append(f"{rd['bad_lines']:,} lines and {rd['bad_spans']:,} spans could not be read"
                        + (f"; first: {rd['problems'][0]}" if rd["problems"] else ""))
    return evidence_from(base, data, warnings)


# --- what the Jaeger and Tempo collectors share --------------------------------------------------------------

SLICES = 12  # each window is fetched as this many equal slices, so the sample spans all of it
CONCURRENCY = 4  # requests in flight per source


def slices(w: Window, n: int = SLICES) -> list[tuple[int, int]]:
    """``n`` equal (start_ns, end_ns) slices of ``w``."""
    s, e = window_ns(w)  # type: ignore[misc]
    step = (e - s) / n
    return [(int(s + i * step), int(s + (i + 1) * step)) for i in range(n)]


def http_client(src: Any, timeout_s: float) -> Any:
    import httpx

    from ..sources import auth_headers, basic_auth, verify_option

    creds = basic_auth(src)
    return httpx.AsyncClient(base_url=src.url.rstrip("/"), headers=auth_headers(src),
                             auth=httpx.BasicAuth(*creds) if creds else None, verify=verify_option(src),
                             timeout=httpx.Timeout(timeout_s))


async def get_json(client: Any, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET and decode JSON; :class:`SourceError`/:class:`SourceTimeout` that name ``what`` otherwise.

    A 404 raises :class:`NotFound` (an endpoint or a trace that is not there).
    """
    import httpx

    from ..errors import SourceError, SourceTimeout

    try:
        resp = await client.get(path, params=params)
    except httpx.TimeoutException as e:
        raise SourceTimeout(f"{what} did not answer in time ({type(e).__name__})") from None
    except httpx.HTTPError as e:
        raise SourceError(f"{what} unreachable: {e or type(e).__name__}") from None
    if resp.status_code == 404:
        raise NotFound(f"{what} 404 for {path}")
    if resp.status_code == 504:
        raise SourceTimeout(f"{what} 504: {_first_line(resp.text)}")
    if resp.status_code >= 400:
        raise SourceError(f"{what} {resp.status_code}: {_first_line(resp.text)}")
    try:
        return resp.json()
    except ValueError:
        raise SourceError(f"{what} answered {resp.status_code} with a body that is not JSON: "
                          f"{resp.text[:120]!r}") from None


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "(empty body)"


class NotFound(Exception):
    """A 404: the endpoint (an older server) or the trace is not there."""


async def run_limited(jobs: list[Any], budget_s: float) -> tuple[list[Any], list[str], int]:
    """Run coroutine factories with CONCURRENCY in flight within ``budget_s``.

    Returns ``(results, problems, not_run)``: the results of the jobs that finished
    (in job order, failures left out), one line per failure, and how many jobs the
    budget left unfinished.
    """
    import anyio

    from ..errors import SourceError

    results: list[Any] = [None] * len(jobs)
    done = [False] * len(jobs)
    problems: list[str] = []
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(i: int) -> None:
        async with limiter:
            try:
                results[i] = await jobs[i]()
            except (SourceError, NotFound) as e:
                problems.append(str(e))
            done[i] = True

    with anyio.move_on_after(max(0.1, budget_s)):
        async with anyio.create_task_group() as tg:
            for i in range(len(jobs)):
                tg.start_soon(one, i)
    not_run = done.count(False)
    return [r for r, d in zip(results, done) if d and r is not None], problems, not_run


def source_evidence(base: dict[str, Any], spans: list[Span], service: str, request: CollectRequest,
                    sampling: dict[str, Any], problems: list[str], not_run: int, requests: int) -> Evidence:
    """Summarise what a source gave; a gap when nothing came back, partial (with warnings) when some failed."""
    failed = len(problems) + not_run
    if failed and failed >= requests:
        first = problems[0] if problems else (f"{sampling.get('source', 'the source')} did not answer in time: "
                                              f"no request finished within {request.timeout_s:.1f} s")
        status = Status.timeout if (not problems or "did not answer" in first or " 504" in first) else Status.error
        return Evidence.failed(base["kind"], base["name"], base["title"], first, status=status,
                               source=base.get("source"))
    sampling = dict(sampling)
    if failed:
        sampling["partial"] = (f"{failed} of {requests} requests gave nothing"
                               + (f" ({not_run} not finished in time)" if not_run else "")
                               + (f"; first: {problems[0]}" if problems else ""))
    data = summarize(spans, service=service, window=window_ns(request.window), baseline=window_ns(request.baseline),
                     sampling=sampling)
    warnings = [f"partial: {sampling['partial']}"] if failed else []
    return evidence_from(base, data, warnings)
