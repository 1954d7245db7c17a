"""JDK Flight Recorder: where the CPU, the allocations and the lock waits go.

No well-kept Python reader of the ``.jfr`` format exists, so ctxgrab reads what the JDK's own
``jfr`` tool prints (``collectors/jfr.py`` runs it under a timeout). This module is the pure part:
it folds the text of ``jfr print --stack-depth N --events …`` into a summary, one event at a time,
so memory stays bounded however long the recording is. The text form is chosen over
``--json`` because it is about 50 times smaller for the same events (stack frames in JSON carry
their class loader and module each time).

Events read:

- ``jdk.ExecutionSample``: top CPU methods (the sampled top frame, self time) and the first
  application frame (where the work comes from);
- ``jdk.ObjectAllocationSample``: allocation sites, weighted by the bytes the sample stands for;
- ``jdk.JavaMonitorEnter`` and ``jdk.ThreadPark``: lock waits by monitor class and frame;
- ``jdk.GarbageCollection``: pauses by collector;
- ``jdk.JavaExceptionThrow`` / ``jdk.JavaErrorThrow`` and ``jdk.ExceptionStatistics``: throwables.

Example::

    >>> text = '''jdk.ExecutionSample {
    ...   startTime = 20:17:32.757
    ...   sampledThread = "pricing" (javaThreadId = 15)
    ...   state = "STATE_RUNNABLE"
    ...   stackTrace = [
    ...     jfrtest.Pricing.score(long) line: 22
    ...     jfrtest.HotLoop.lambda$main$0(long) line: 49
    ...   ]
    ... }
    ... '''
    >>> s = summarize_jfr_events(text.splitlines())
    >>> s["cpu"]["samples"], s["cpu"]["top_methods"][0]["method"]
    (1, 'jfrtest.Pricing.score(long)')
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, Iterable

__all__ = ["EVENTS", "summarize_jfr_events", "parse_summary", "parse_quantity", "MAX_EVENTS", "STACK_DEPTH"]

EVENTS = ("jdk.ExecutionSample", "jdk.ObjectAllocationSample", "jdk.JavaMonitorEnter", "jdk.ThreadPark",
          "jdk.GarbageCollection", "jdk.JavaExceptionThrow", "jdk.JavaErrorThrow", "jdk.ExceptionStatistics")
MAX_EVENTS = 500_000  # events folded per recording; the rest are counted as not read
STACK_DEPTH = 8  # frames asked of `jfr print` per event
TOP = 8  # rows shown per table

_JDK = ("java.", "javax.", "jdk.", "sun.", "com.sun.")
_FIELD = re.compile(r"^  (\w+) = (.*)$")
_FRAME = re.compile(r"^\s{4}(\S.*?)(?:\s+line: (\d+))?\s*$")
_QTY = re.compile(r"^(-?[\d.,]+)\s*([a-zA-Z]*)")
_BYTES = {"bytes": 1, "byte": 1, "b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "tb": 1024 ** 4}
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_quantity(text: str) -> float | None:
    """``16.0 kB`` → 16384.0 bytes, ``8.20 ms`` → 0.0082 s, ``75`` → 75.0 (as ``jfr print`` writes them)."""
    m = _QTY.match(text.strip())
    if not m:
        return None
    try:
        v = float(m.group(1).replace(",", ""))
    except ValueError:
        return None
    unit = m.group(2).lower()
    if not unit:
        return v
    if unit in _BYTES:
        return v * _BYTES[unit]
    if unit in _SECONDS:
        return v * _SECONDS[unit]
    return None


def _class(value: str) -> str:
    """``byte[] (classLoader = bootstrap)`` → ``byte[]``."""
    return value.split(" (classLoader", 1)[0].strip().strip('"')


def _thread(value: str) -> str:
    m = re.match(r'^"(.*)" \(javaThreadId', value)
    return m.group(1) if m else value.strip('"')


def _app_frame(frames: list[str]) -> str | None:
    return next((f for f in frames if not f.startswith(_JDK)), None)


def _first_real(frames: list[str]) -> str | None:
    """Skip the constructors of the throwable itself (``java.lang.Error.<init>``)."""
    return next((f for f in frames if ".<init>" not in f), frames[0] if frames else None)


def _events(lines: Iterable[str], limit: int) -> Iterable[tuple[str, dict[str, str], list[str]]]:
    name: str | None = None
    fields: dict[str, str] = {}
    frames: list[str] = []
    in_stack = False
    for line in lines:
        line = line.rstrip("\n")
        if name is None:
            if line.endswith(" {") and line.startswith("jdk."):
                name, fields, frames, in_stack = line[:-2], {}, [], False
            continue
        if line == "}":
            yield name, fields, frames
            limit -= 1
            name = None
            if limit <= 0:
                return
            continue
        if in_stack:
            if line.strip() == "]":
                in_stack = False
            elif line.strip() != "...":
                m = _FRAME.match(line)
                if m:
                    frames.append(m.group(1) + (f":{m.group(2)}" if m.group(2) else ""))
            continue
        m = _FIELD.match(line)
        if m:
            if m.group(1) == "stackTrace" and m.group(2).startswith("["):
                in_stack = m.group(2).strip() != "[]"
            else:
                fields[m.group(1)] = m.group(2)


def _strip_line(frame: str) -> str:
    return frame.rsplit(":", 1)[0] if re.search(r":\d+$", frame) else frame


def summarize_jfr_events(lines: Iterable[str], max_events: int = MAX_EVENTS) -> dict[str, Any]:
    """Fold ``jfr print`` text into the summary; reads at most ``max_events`` events.

    Keys: ``cpu`` (samples, top_methods with samples/share, top_app_frames), ``allocation``
    (samples, total_bytes, top_sites by class and frame), ``monitor_enter`` and ``park`` (events,
    total_s, top by class and frame), ``gc`` (by collector: count, total/max pause),
    ``exceptions`` (by class, with a frame), ``throwables`` (the JVM's own count), ``events_read``
    and ``truncated``.
    """
    cpu_top: Counter[str] = Counter()
    cpu_app: Counter[str] = Counter()
    cpu_threads: Counter[str] = Counter()
    alloc: Counter[tuple[str, str]] = Counter()
    alloc_count = 0
    waits: dict[str, Counter[tuple[str, str]]] = {"monitor_enter": Counter(), "park": Counter()}
    wait_n: dict[str, Counter[tuple[str, str]]] = {"monitor_enter": Counter(), "park": Counter()}
    gc: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "total_pause_s": 0.0, "max_pause_s": 0.0})
    exc: Counter[str] = Counter()
    exc_frame: dict[str, str] = {}
    throwables: float | None = None
    read = 0
    for name, f, frames in _events(lines, max_events):
        read += 1
        if name == "jdk.ExecutionSample":
            if frames:
                cpu_top[_strip_line(frames[0])] += 1
                cpu_app[_app_frame(frames) or _strip_line(frames[0])] += 1
            cpu_threads[_thread(f.get("sampledThread", "?"))] += 1
        elif name == "jdk.ObjectAllocationSample":
            alloc_count += 1
            w = parse_quantity(f.get("weight", "")) or 0.0
            site = _app_frame(frames) or (frames[0] if frames else "?")
            alloc[(_class(f.get("objectClass", "?")), site)] += w
        elif name in ("jdk.JavaMonitorEnter", "jdk.ThreadPark"):
            kind = "monitor_enter" if name == "jdk.JavaMonitorEnter" else "park"
            cls = _class(f.get("monitorClass") or f.get("parkedClass") or "?")
            site = _app_frame(frames) or (frames[0] if frames else "?")
            waits[kind][(cls, site)] += parse_quantity(f.get("duration", "")) or 0.0
            wait_n[kind][(cls, site)] += 1
        elif name == "jdk.GarbageCollection":
            g = gc[f.get("name", "?").strip('"')]
            pause = parse_quantity(f.get("sumOfPauses", "")) or 0.0
            g["count"] += 1
            g["total_pause_s"] += pause
            g["max_pause_s"] = max(g["max_pause_s"], parse_quantity(f.get("longestPause", "")) or pause)
        elif name in ("jdk.JavaExceptionThrow", "jdk.JavaErrorThrow"):
            cls = _class(f.get("thrownClass", "?"))
            exc[cls] += 1
            fr = _first_real(frames)
            if fr:
                exc_frame.setdefault(cls, fr)
        elif name == "jdk.ExceptionStatistics":
            throwables = parse_quantity(f.get("throwables", ""))
    samples = sum(cpu_top.values())
    total_alloc = sum(alloc.values())

    def waits_table(kind: str) -> dict[str, Any]:
        rows = waits[kind]
        return {"events": sum(wait_n[kind].values()), "total_s": sum(rows.values()),
                "top": [{"class": c, "frame": s, "events": wait_n[kind][(c, s)], "total_s": t}
                        for (c, s), t in rows.most_common(TOP)]}

    return {
        "cpu": {
            "samples": samples,
            "top_methods": [{"method": m, "samples": n, "share": n / samples} for m, n in cpu_top.most_common(TOP)],
            "top_app_frames": [{"frame": m, "samples": n, "share": n / samples}
                               for m, n in cpu_app.most_common(TOP)],
            "threads": [{"thread": t, "samples": n} for t, n in cpu_threads.most_common(5)],
        },
        "allocation": {
            "samples": alloc_count,
            "total_bytes": total_alloc,
            "top_sites": [{"class": c, "frame": s, "bytes": b, "share": b / total_alloc if total_alloc else 0.0}
                          for (c, s), b in alloc.most_common(TOP)],
        },
        "monitor_enter": waits_table("monitor_enter"),
        "park": waits_table("park"),
        "gc": [{"collector": k, **v} for k, v in sorted(gc.items(), key=lambda kv: -kv[1]["total_pause_s"])],
        "exceptions": [{"class": c, "count": n, "frame": exc_frame.get(c)} for c, n in exc.most_common(TOP)],
        "throwables": throwables,
        "events_read": read,
        "truncated": read >= max_events,
    }


def parse_summary(text: str) -> dict[str, Any]:
    """``jfr summary`` output: start, duration and the count of each event type."""
    out: dict[str, Any] = {"start": None, "duration_s": None, "events": {}}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Start:"):
            out["start"] = s[len("Start:"):].strip()
        elif s.startswith("Duration:"):
            out["duration_s"] = parse_quantity(s[len("Duration:"):])
        else:
            m = re.match(r"^(jdk\.\w+|[\w.]+\.\w+)\s+(\d+)\s+(\d+)$", s)
            if m:
                out["events"][m.group(1)] = int(m.group(2))
    return out
