"""Log files: the records inside the window, mined into the patterns that matter.

Reading is :mod:`ctxgrab.logread` (binary-search seek to the window in sorted
files, rotated and ``.gz`` files, multi-line records, JSON lines, bad bytes
counted); mining is :mod:`ctxgrab.analysis.logpatterns` (ranked by severity ×
volume × growth over the baseline window, lifecycle chatter last).

Params: ``path`` (glob; rotated ``NAME.1``/``NAME.2.gz`` included), ``format``
(auto|text|json), ``title``, ``max_patterns`` (default 15), ``timezone`` (IANA
name for times written without a zone; default UTC).

Payload (``data``)::

    {"files": ["..."], "total_lines": int, "lines_in_window": int, "skipped_lines": int,
     "patterns": [{"id": str, "template": str, "count": int, "first_seen": iso, "last_seen": iso,
                   "level": str, "example": str, "new": bool, "baseline_count": int | None,
                   "exception": str | None, "frames": [str], "trace_summary": str | None,
                   "logger": str | None}],
     "patterns_total": int, "patterns_omitted": int, "error_records": int, "new_patterns": int,
     "baseline_records": int | None, "baseline_error_records": int | None, "baseline_empty": bool, "baseline": {"start": iso, "end": iso} | None,
     "read": {"invalid_utf8_lines": int, "nul_lines": int, "long_lines": int, "bad_json_lines": int,
              "seeks": int, "files_skipped": [str], "unsorted_files": [str], "untimed_files": [str], "problems": [str]}}

``total_lines`` counts the lines actually read (a seek skips the rest);
``lines_in_window`` counts records (a line with its stack trace is one). ``new``
means the pattern does not occur in the baseline window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..analysis.logformat import zone
from ..analysis.logpatterns import MiningResult, StreamingMiner
from ..evidence import Evidence, Status
from ..logread import ReadStats, expand_paths, iter_window
from ..timeutil import Window
from .. import parsebudget
from . import CollectRequest

__all__ = ["collect", "mine_files", "build_payload", "MAX_PATTERNS"]

KIND = "logs"
MAX_PATTERNS = 15


def build_payload(result: MiningResult, baseline: Window | None, **extra: Any) -> dict[str, Any]:
    """The ``logs`` evidence payload from a mining result (shared with the Loki collector)."""
    data: dict[str, Any] = {
        "patterns": [p.to_dict() for p in result.patterns],
        "patterns_total": result.patterns_total,
        "patterns_omitted": result.patterns_omitted,
        "lines_in_window": result.records,
        "error_records": result.error_records,
        "new_patterns": result.new_patterns,
        "baseline_records": result.baseline_records,
        "baseline_error_records": result.baseline_error_records,
        "baseline_empty": result.baseline_empty,
        "baseline": {"start": baseline.start.isoformat(), "end": baseline.end.isoformat()} if baseline else None,
    }
    data.update(extra)
    return data


def _read_summary(stats: ReadStats) -> dict[str, Any]:
    return {
        "invalid_utf8_lines": stats.invalid_utf8_lines,
        "nul_lines": stats.nul_lines,
        "long_lines": stats.long_lines,
        "bad_json_lines": stats.bad_json_lines,
        "seeks": stats.seeks,
        "files_skipped": stats.files_skipped,
        "unsorted_files": stats.unsorted_files,
        "untimed_files": stats.untimed_files,
        "problems": stats.problems,
    }


def mine_files(
    paths: list[Path], fmt: str, window: Window | None, baseline: Window | None, max_patterns: int | None,
    tz: Any = None,
) -> tuple[MiningResult, ReadStats]:
    """Stream the window (and baseline) from ``paths`` into the miner; blocking, memory bounded."""
    stats = ReadStats()
    miner = StreamingMiner()
    for rec, in_base in iter_window(paths, window, baseline, stats=stats, fmt=fmt, tz=tz or zone(None)):
        miner.add(rec, in_base)
    stats.records_in_window = miner.records
    return miner.result(max_patterns=max_patterns, has_baseline=baseline is not None), stats


def _warnings(stats: ReadStats) -> list[str]:
    out = []
    repaired = [(stats.invalid_utf8_lines, "with invalid UTF-8"), (stats.nul_lines, "with NUL bytes"),
                (stats.long_lines, "longer than 1 MB (truncated)"), (stats.bad_json_lines, "of invalid JSON")]
    for n, what in repaired:
        if n:
            out.append(f"{n:,} lines {what}" + (f"; first: {stats.problems[0]}" if stats.problems else ""))
    # what changes how the records were read: a file out of time order, a file without timestamps
    out.extend(p for p in stats.problems if "not in time order" in p or "no timestamps found" in p)
    return out


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    pattern = request.resolve(params["path"])
    title = params.get("title") or f"Logs {params['path']}"
    base = {"kind": KIND, "name": f"logs:{params['path']}", "title": title, "source": str(pattern)}
    paths = expand_paths(pattern)
    if not paths:
        return Evidence.failed(**base, reason=f"no log files match {pattern}")
    max_patterns = int(params.get("max_patterns") or MAX_PATTERNS)
    try:
        tz = zone(params.get("timezone"))
    except ValueError as e:
        return Evidence.failed(**base, reason=str(e))
    # Under the run's parse budget like every file parser: killed at the deadline, memory capped
    # (the reader streams, so the cap is never near; the deadline is what stops a 5 GB file).
    try:
        result, stats = await parsebudget.arun(
            mine_files, paths, params.get("format") or "auto", request.window, request.baseline, max_patterns, tz,
            what=f"log analysis of {', '.join(str(p) for p in paths[:3])}{' …' if len(paths) > 3 else ''}",
        )
    except parsebudget.ParseBudgetExceeded as e:
        return Evidence.failed(**base, reason=str(e), status=Status.timeout if e.limit == "deadline" else Status.error)
    files = [str(p.relative_to(request.base_dir)) if p.is_relative_to(request.base_dir) else str(p) for p in paths]
    data = build_payload(
        result, request.baseline, files=files, total_lines=stats.lines_read, skipped_lines=stats.skipped_lines,
        read=_read_summary(stats),
    )
    if not result.patterns:
        return Evidence(**base, status=Status.empty, data=data, warnings=_warnings(stats),
                        reason=f"no log records inside the window ({stats.lines_read:,} lines read)")
    return Evidence(**base, data=data, warnings=_warnings(stats))
