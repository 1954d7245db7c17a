"""Log files: the lines inside the window, grouped into patterns with counts.

Params: ``path`` (glob; ``.gz`` and rotated files included), ``format``
(auto|text|json), ``title``.

Payload (``data``)::

    {"files": ["..."], "total_lines": int, "lines_in_window": int, "skipped_lines": int,
     "patterns": [{"id": str, "template": str, "count": int, "first_seen": iso, "last_seen": iso,
                   "level": str, "example": str, "new": bool}],
     "patterns_total": int}

``new`` means the pattern does not occur in the baseline window.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..evidence import Evidence, Status
from ..timeutil import Window
from . import CollectRequest, run_blocking

KIND = "logs"
MAX_PATTERNS = 15
_LEVELS = ("FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE")
_TS = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?\]?")
_LEVEL = re.compile(r"\b(FATAL|ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE)\b")
_MASKS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<UUID>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<HEX>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:ms|s|MB|GB|KB|%)?(?![\w.])"), "<NUM>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<STR>"),
]


def _parse_ts(line: str) -> datetime | None:
    m = _TS.match(line)
    if not m:
        return None
    frac = (m.group(3) or "0")[:6].ljust(6, "0")
    tz = m.group(4) or "Z"
    if tz == "Z":
        tz = "+00:00"
    elif ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    try:
        return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}{tz}").astimezone(timezone.utc)
    except ValueError:
        return None


def _open_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:  # type: ignore[operator]
        for raw in f:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\x00", "")


def _records(path: Path, fmt: str) -> Iterator[tuple[datetime | None, str, str]]:
    """(time, level, text) per record; continuation lines (stack traces) join their record."""
    current: list[Any] | None = None
    for line in _open_lines(path):
        if not line.strip():
            continue
        if fmt in ("json", "auto") and line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                if current:
                    yield tuple(current)  # type: ignore[misc]
                ts_raw = next((obj[k] for k in ("timestamp", "@timestamp", "time", "ts") if k in obj), None)
                ts = _parse_ts(str(ts_raw)) if ts_raw is not None else None
                level = str(next((obj[k] for k in ("level", "severity", "lvl") if k in obj), "")).upper()
                msg = str(next((obj[k] for k in ("message", "msg") if k in obj), line))
                exc = next((obj[k] for k in ("exception", "stack_trace", "exc_info") if k in obj), None)
                if exc:
                    msg = f"{msg}\n{exc}"
                current = [ts, level, msg]
                continue
        ts = _parse_ts(line)
        # A line without a timestamp continues the record before it (stack traces, wrapped messages).
        if ts is None and current is not None:
            current[2] += "\n" + line
            continue
        if current:
            yield tuple(current)  # type: ignore[misc]
        m = _LEVEL.search(line[:120])
        current = [ts, m.group(1).upper() if m else "", line]
    if current:
        yield tuple(current)  # type: ignore[misc]


def _message(text: str) -> str:
    """The part of a record that identifies it: the message after the header, plus the exception."""
    first, _, rest = text.partition("\n")
    m = _LEVEL.search(first[:120])
    msg = first[m.end():] if m else first
    msg = re.sub(r"^\s*\[[^\]]*\]\s*", "", msg)  # [thread]
    msg = msg.strip(" -:")
    exc = re.search(r"^(?:Caused by: )?([\w.$]+(?:Exception|Error))\b", rest, re.M)
    if exc:
        msg += f" | {exc.group(1)}"
    return msg


def template_of(text: str) -> str:
    msg = _message(text)
    for rx, repl in _MASKS:
        msg = rx.sub(repl, msg)
    return msg


def mine(
    paths: list[Path], fmt: str, window: Window, baseline: Window | None
) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    baseline_templates: set[str] = set()
    total = in_window = 0
    for path in paths:
        for ts, level, text in _records(path, fmt):
            total += 1
            if ts is None:
                continue
            if baseline is not None and baseline.contains(ts):
                baseline_templates.add(template_of(text))
                continue
            if not window.contains(ts):
                continue
            in_window += 1
            tpl = template_of(text)
            g = groups.get(tpl)
            iso = ts.isoformat()
            if g is None:
                groups[tpl] = {
                    "id": hashlib.sha1(tpl.encode()).hexdigest()[:8],
                    "template": tpl,
                    "count": 1,
                    "first_seen": iso,
                    "last_seen": iso,
                    "level": level.replace("WARNING", "WARN"),
                    "example": text[:2000],
                }
            else:
                g["count"] += 1
                g["first_seen"] = min(g["first_seen"], iso)
                g["last_seen"] = max(g["last_seen"], iso)
    for g in groups.values():
        g["new"] = baseline is not None and g["template"] not in baseline_templates
    severity = {"FATAL": 0, "ERROR": 0, "WARN": 1}
    ordered = sorted(
        groups.values(), key=lambda g: (severity.get(g["level"], 2), not g["new"], -g["count"], g["template"])
    )
    return {
        "files": [str(p) for p in paths],
        "total_lines": total,
        "lines_in_window": in_window,
        "skipped_lines": 0,
        "patterns": ordered[:MAX_PATTERNS],
        "patterns_total": len(ordered),
    }


def expand(pattern: Path) -> list[Path]:
    """Files matching a glob, oldest rotation first (``app.log.2.gz``, ``app.log.1``, ``app.log``)."""
    found = [Path(p) for p in glob.glob(str(pattern))]
    found += [Path(p) for p in glob.glob(str(pattern) + ".*")]

    def order(p: Path) -> tuple[str, int]:
        m = re.search(r"\.(\d+)(?:\.gz)?$", p.name)
        return (re.sub(r"\.(\d+)(?:\.gz)?$|\.gz$", "", str(p)), -(int(m.group(1)) if m else 0))

    return sorted({p for p in found if p.is_file()}, key=order)


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    pattern = request.resolve(params["path"])
    title = params.get("title") or f"Logs {params['path']}"
    base = {"kind": KIND, "name": f"logs:{params['path']}", "title": title, "source": str(pattern)}
    paths = expand(pattern)
    if not paths:
        return Evidence.failed(**base, reason=f"no log files match {pattern}")
    data = await run_blocking(mine, paths, params.get("format", "auto"), request.window, request.baseline)
    data["files"] = [str(p.relative_to(request.base_dir)) if p.is_relative_to(request.base_dir) else str(p)
                     for p in paths]
    if not data["patterns"]:
        return Evidence(**base, status=Status.empty, reason=f"no log lines inside the window ({data['total_lines']} lines read)",
                        data=data)
    return Evidence(**base, data=data)
