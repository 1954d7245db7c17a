"""JVM GC logs: parse any HotSpot collector's log, summarise it, and judge it with numbers.

Reads JDK 9+ unified logging (``-Xlog:gc``/``-Xlog:gc*``; G1, Parallel, Serial, ZGC, Shenandoah,
CMS) and JDK 8-style ``-XX:+PrintGCDetails`` logs (G1, CMS, Parallel, Serial). Rotated files
(``gc.log.0``, ``gc.log.1``, …, ``gc.log``) are read in order. Lines it does not understand are
counted, never fatal; a truncated last line is fine.

The summary measures the **live set** where it means something for the collector: after full
collections; for G1 after Remark, Mixed and Full; for ZGC the live bytes its marking found; for
Shenandoah the heap after each cycle. A leak is suspected only when that live set keeps rising
across the collections that should reclaim it, so a big but stable cache is not called a leak.

Example::

    >>> from ctxgrab.analysis.gclog import parse_gc_text, summarize
    >>> log = parse_gc_text("[0.1s][info][gc] Using Serial\\n"
    ...     "[1.0s][info][gc] GC(0) Pause Full (System.gc()) 20M->10M(64M) 5.0ms\\n")
    >>> s = summarize(log)
    >>> s["collector"], s["full_gcs"]["count"], s["pauses"]["max_ms"], s["verdict"]["leak_suspected"]
    ('Serial', 1, 5.0, False)
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import gzip
import heapq
import itertools
import math
import operator
import os
import re
import stat
import zlib
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..errors import InputError
from ..timeutil import format_duration
from ..units import format_bytes, format_ms, format_pct
from .gclog_legacy import LegacyParser, looks_legacy
from .gclog_model import PAUSE_KINDS, GcEvent, ParsedLog
from .gclog_unified import UnifiedParser, _MixedJvms, looks_unified

__all__ = [
    "parse_gc_files",
    "parse_gc_text",
    "order_rotated",
    "restrict",
    "summarize",
    "verdict",
    "GcEvent",
    "ParsedLog",
]

CHUNK_BYTES = 1 << 20  # fits the CPU cache: the few passes over each chunk read it from there

# Verdict thresholds, named so the reasons and the docs quote the same numbers.
LEAK_MIN_POINTS = 4
LEAK_MIN_R2 = 0.6
LEAK_MIN_GROWTH_OF_MAX = 0.10  # live set grew by at least 10% of the max heap ...
LEAK_MIN_GROWTH_OF_FIRST = 0.25  # ... or by 25% of where it started, whichever is smaller
FALLBACK_MIN_GCS = 50  # the low-water-mark fallback needs this many collections with heap sizes
# A JVM's first minute loads classes and fills caches, so the heap left after young GCs climbs
# even in a healthy service. The fallback measure skips that minute when the log goes beyond it;
# a log that ends inside it is a leak only if the climb is large against the max heap.
STARTUP_S = 60.0
_KIND = operator.attrgetter("kind")
_AFTER = operator.attrgetter("after_bytes")
FALLBACK_BASIS = "lowest heap after any GC per twelfth of the span (too few full collections)"
FALLBACK_STARTUP_BASIS = FALLBACK_BASIS[:-1] + f", all in the JVM's first {STARTUP_S:.0f} s)"
PRESSURE_LIVE_OF_MAX = 0.85
PRESSURE_FULL_RECLAIM = 0.10
PRESSURE_FULL_TIME_SHARE = 0.05
LONG_PAUSE_P99_MS = 500.0
LONG_PAUSE_MAX_MS = 1000.0
LOW_THROUGHPUT = 0.90


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while building or reading a large event list.

    Events are plain acyclic records, yet every few hundred allocations the collector walks all
    live objects again; on a 200 MB log that is ~0.1 s of the summary for nothing. Reference
    counting still frees everything as usual, and the collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- reading ---------------------------------------------------------------------------------

_ROTATED = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?P<cur>\.current)?$")


def order_rotated(paths: Iterable[str | Path], heads: dict[str, bytes] | None = None) -> list[Path]:
    """Order rotated logs oldest first: ``gc.log.0, gc.log.1, …`` then the live ``gc.log``.

    The JVM writes to ``gc.log`` and renames full files to ``gc.log.N``; with a wrapped counter
    the numbers alone can lie, so files whose first line carries a wall-clock time are ordered
    by it instead. Compressed rotations (``gc.log.1.gz``) sort as their uncompressed names.
    ``heads``: the first bytes of files already opened (pipes, which can be read only once).

    >>> [p.name for p in order_rotated(["gc.log", "gc.log.10", "gc.log.2"])]
    ['gc.log.2', 'gc.log.10', 'gc.log']
    """
    items = []
    for p in map(Path, paths):
        m = _ROTATED.match(p.name[:-3] if p.name.endswith(".gz") else p.name)
        assert m is not None
        n = int(m.group("n")) if m.group("n") is not None else None
        cur = m.group("cur") is not None
        items.append((str(p.parent / m.group("base")), math.inf if (n is None or cur) else n, p))
    items.sort(key=lambda t: (t[0], t[1], str(t[2])))
    ordered = [t[2] for t in items]
    firsts = [_first_wall(p, (heads or {}).get(str(p))) for p in ordered]
    if len(ordered) > 1 and all(f is not None for f in firsts):
        ordered = [p for _, p in sorted(zip(firsts, ordered), key=lambda t: t[0])]  # type: ignore[arg-type,return-value]
    return ordered


def _first_wall(path: Path, head_bytes: bytes | None = None) -> float | None:
    if head_bytes is None:
        try:
            with _open_log(path) as fh:
                head_bytes = fh.read(4096)
        except (OSError, EOFError, zlib.error):
            return None
    head = head_bytes[:4096].decode("utf-8", "replace")
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,]\d+[+-]\d\d:?\d\d)", head)
    if not m:
        return None
    t = m.group(1).replace(",", ".")
    if t[-3] != ":":
        t = t[:-2] + ":" + t[-2:]
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        return None


def _open_log(path: Path) -> Any:
    """The file, opened once; a gzip stream when it is gzipped (``gc.log.1.gz``, by its magic)."""
    raw = open(path, "rb")
    try:
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    except OSError:
        magic = b""
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


class _Stream:
    """Chunks of one log file, read once, front to back (a FIFO or ``<(cat gc.log)`` works).

    Runs of NUL bytes (what a crash or a full disk leaves in a log file) become a line break and
    are counted; a damaged gzip stream ends the file with a warning instead of an error.
    """

    def __init__(self, fh: Any, name: str):
        self.fh = fh
        self.name = name
        self.offset = 0  # bytes read (expanded)
        self.nul_bytes = 0
        self.nul_blocks = 0
        self.first_nul: int | None = None
        self.damage: str | None = None
        self._in_nul = False

    def read(self, n: int) -> bytes:
        if self.damage:
            return b""
        try:
            buf = self.fh.read(n)
        except (EOFError, OSError, zlib.error) as e:
            if isinstance(e, OSError) and not isinstance(e, gzip.BadGzipFile):
                raise
            self.damage = f"{self.name}: compressed data damaged or cut short after {self.offset:,} bytes ({e}); the rest is not read"
            return b""
        base = self.offset
        self.offset += len(buf)
        if b"\0" not in buf:
            self._in_nul = False
            return buf
        parts = []
        last = 0
        for m in _NULS.finditer(buf):
            if not (m.start() == 0 and self._in_nul):
                self.nul_blocks += 1
            if self.first_nul is None:
                self.first_nul = base + m.start()
            self.nul_bytes += m.end() - m.start()
            parts.append(buf[last:m.start()])
            parts.append(b"\n")
            last = m.end()
        parts.append(buf[last:])
        self._in_nul = buf.endswith(b"\0")
        return b"".join(parts)

    def warnings(self) -> list[str]:
        out = []
        if self.nul_bytes:
            out.append(f"{self.name}: {self.nul_bytes:,} NUL bytes in {self.nul_blocks:,} block"
                       f"{'s' if self.nul_blocks > 1 else ''} skipped, the first at byte offset {self.first_nul:,} "
                       "(what a crash or a full disk leaves); the lines around them may be cut")
        if self.damage:
            out.append(self.damage)
        return out


_NULS = re.compile(rb"\x00+")


def _sniff(sample: bytes, name: str) -> str:
    """``"unified"`` or ``"jdk8"``; raise :class:`InputError` for anything else."""
    if not sample.strip():
        raise InputError(f"{name}: empty file, no GC events")
    head = sample[:65536]
    bad = sum(1 for b in head if b < 9 or 13 < b < 32 and b != 27)
    if b"\x00" in head or bad > len(head) * 0.01:
        pos = head.find(b"\x00") if b"\x00" in head else next(i for i, b in enumerate(head) if b < 9 or 13 < b < 32)
        raise InputError(f"{name}: binary data at byte offset {pos}, not a text GC log")
    text = head.decode("utf-8", "replace")
    if looks_unified(text):
        return "unified"
    if looks_legacy(text):
        return "jdk8"
    if "<verbosegc" in text or "<?xml" in text[:100]:
        raise InputError(
            f"{name}: an OpenJ9/IBM verbose GC log (XML), which ctxgrab does not read; "
            "use a HotSpot JVM's log (-Xlog:gc* on JDK 9+, -XX:+PrintGCDetails on JDK 8)"
        )
    first = next((ln for ln in text.splitlines() if ln.strip()), "")[:80]
    raise InputError(
        f"{name}: line 1 is not a HotSpot GC log line ({first!r}); expected JDK 9+ unified logging "
        "such as '[0.123s][info][gc] GC(0) Pause Young ...' or JDK 8 '1.234: [GC ...'"
    )


def _sniff_past_damage(sample: bytes, name: str) -> tuple[str, int]:
    """The format when the first few lines are damaged (a log cut at its start, a garbage line) and
    the lines after them are a GC log; re-raises the first line's error when they are not."""
    lines = sample[:65536].split(b"\n")
    for k in range(1, min(6, len(lines))):
        try:
            return _sniff(b"\n".join(lines[k:]), name), k
        except InputError:
            continue
    return _sniff(sample, name), 0


def parse_gc_files(paths: Sequence[str | Path], *, strict: bool = False) -> ParsedLog:
    """Parse one JVM's GC log files (rotated segments in any order) into one :class:`ParsedLog`.

    A file that cannot be read or is not a GC log becomes a warning on the result and the rest
    still counts; with ``strict=True`` (or when no file is usable) it raises :class:`InputError`
    naming the file. Logs of two different JVMs (two collectors, or JDK 8 and JDK 9+ formats)
    raise :class:`InputError`.

    >>> parse_gc_files(["gc.log.0", "gc.log"]).collector  # doctest: +SKIP
    'G1'
    """
    with _cyclic_gc_paused():
        return _parse_gc_files(paths, strict)


def _parse_gc_files(paths: Sequence[str | Path], strict: bool) -> ParsedLog:
    if not paths:
        raise InputError("no GC log files given")
    # Pipes and process substitutions can be read only once: opened here, their first chunk kept
    # for the ordering; regular files are opened again below, which costs nothing.
    opened: dict[str, tuple[_Stream, bytes]] = {}
    for p in paths:
        try:
            if not stat.S_ISREG(os.stat(p).st_mode):
                st = _Stream(_open_log(Path(p)), str(p))
                opened[str(p)] = (st, st.read(CHUNK_BYTES))
        except OSError:
            pass  # reported when the file is read
    try:
        return _parse_opened(paths, strict, opened)
    finally:
        for st, _ in opened.values():
            st.fh.close()


def _parse_opened(paths: Sequence[str | Path], strict: bool, opened: dict[str, tuple[_Stream, bytes]]) -> ParsedLog:
    ordered = order_rotated(paths, {k: v[1] for k, v in opened.items()})
    warnings: list[str] = []
    parser: UnifiedParser | LegacyParser | None = None
    fmt_of: dict[str, str] = {}
    used: list[str] = []
    truncated = False
    damage: list[str] = []
    for path in ordered:
        name = str(path)
        try:
            with contextlib.ExitStack() as stack:
                if name in opened:
                    fh, first = opened[name]
                else:
                    fh = _Stream(stack.enter_context(_open_log(path)), name)
                    first = fh.read(CHUNK_BYTES)
                skipped = 0
                try:
                    fmt = _sniff(first, name)
                except InputError:
                    if fh.nul_bytes:  # NULs and no log lines around them: not a damaged log, a binary file
                        raise InputError(f"{name}: binary data at byte offset {fh.first_nul}, not a text GC log") from None
                    fmt, skipped = _sniff_past_damage(first, name)
                if parser is None:
                    parser = UnifiedParser(name) if fmt == "unified" else LegacyParser(name)
                elif parser.log.format != fmt:
                    other = next(iter(fmt_of))
                    raise _TwoJvms(
                        f"{name} is a {_FORMAT_NAMES[fmt]} log but {other} is a {_FORMAT_NAMES[parser.log.format]} log: "
                        "looks like logs of two JVMs mixed together; pass the files of one JVM"
                    )
                fmt_of[name] = fmt
                _start_file(parser, name)
                unknown0 = parser.log.lines_unknown
                truncated = _feed_file(parser, fh, first)
                used.append(name)
                damage += fh.warnings()
                if (fh.nul_bytes or skipped) and parser.log.lines_unknown > unknown0:
                    damage.append(f"{name}: {parser.log.lines_unknown - unknown0:,} damaged or unknown lines skipped")
        except _MixedJvms as exc:
            raise _TwoJvms(str(exc)) from None
        except _TwoJvms:
            raise
        except InputError as exc:
            if strict:
                raise
            warnings.append(str(exc))
        except OSError as exc:
            if strict:
                raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
            warnings.append(f"{name}: cannot read: {exc.strerror or exc}")
        except UnicodeError as exc:  # pragma: no cover - decoding uses errors="replace"
            warnings.append(f"{name}: {exc}")
    if parser is None:
        raise InputError("; ".join(warnings) if warnings else "no GC log files given")
    log = parser.finish()
    log.jvm_start_wall_s = _jvm_start_wall(log.events)
    log.files = used
    log.truncated_last_line = truncated
    log.warnings = warnings + damage + log.warnings
    if truncated:
        log.warnings.append(f"{used[-1]}: the last line has no newline (cut short or still being written); ignored if incomplete")
    if not log.events and log.lines_total and log.lines_unknown == log.lines_total:
        raise InputError(f"{', '.join(used)}: no line is a GC log line ({log.lines_total} lines read)")
    return log


class _TwoJvms(InputError):
    """Files of two different JVMs were given together: never a warning, always an error."""


_FORMAT_NAMES = {"unified": "JDK 9+ unified", "jdk8": "JDK 8 (-XX:+PrintGCDetails)"}


def _start_file(parser: UnifiedParser | LegacyParser, name: str) -> None:
    parser.path = name
    if isinstance(parser, UnifiedParser):
        parser._line_base = 0
        parser._file_start = True
        parser._init_left = 1 << 20
    else:
        parser._lineno = 0


def _feed_file(parser: UnifiedParser | LegacyParser, fh: Any, first: bytes) -> bool:
    """Feed whole lines chunk by chunk; returns True when the file does not end with a newline."""
    if not isinstance(parser, UnifiedParser):
        return _feed_text(parser, fh, first)
    # Each chunk is fed in place, up to its last newline; only the line cut by the chunk boundary
    # is copied, glued to its rest from the next chunk.
    buf = first
    rest = b""
    while buf:
        cut = buf.rfind(b"\n")
        if cut < 0:
            rest += buf
        else:
            begin = 0
            if rest:
                begin = buf.find(b"\n") + 1
                line = rest + buf[:begin]
                parser.feed_bytes(line, 0, len(line))
            if begin <= cut:
                parser.feed_bytes(buf, begin, cut + 1)
            rest = buf[cut + 1 :]
        buf = fh.read(CHUNK_BYTES)
    if rest:
        parser.feed_bytes(rest, 0, len(rest))
        return True
    return False


def _feed_text(parser: LegacyParser, fh: Any, first: bytes) -> bool:
    buf = first
    rest = b""
    while True:
        data = rest + buf
        if not buf:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
        else:
            parser.feed(data[: cut + 1].decode("utf-8", "replace"))
            rest = data[cut + 1 :]
        buf = fh.read(CHUNK_BYTES)
    if rest:
        parser.feed(rest.decode("utf-8", "replace"))
        return True
    return False


def parse_gc_text(text: str, name: str = "<input>") -> ParsedLog:
    """Parse GC log text already in memory (one file's content).

    >>> parse_gc_text("0.5: [GC 8192K->1024K(65536K), 0.0040 secs]\\n").events[0].kind
    'young'
    """
    fmt = _sniff(text.encode("utf-8", "replace")[:65536], name)
    parser: UnifiedParser | LegacyParser = UnifiedParser(name) if fmt == "unified" else LegacyParser(name)
    try:
        parser.feed(text)
    except _MixedJvms as exc:
        raise InputError(str(exc)) from None
    log = parser.finish()
    log.jvm_start_wall_s = _jvm_start_wall(log.events)
    log.files = [name]
    log.truncated_last_line = bool(text) and not text.endswith("\n")
    return log


# -- time ------------------------------------------------------------------------------------


def _jvm_start_wall(events: Sequence[GcEvent]) -> float | None:
    for e in events:
        if e.wall_s is not None and e.uptime_s is not None:
            return e.wall_s - e.uptime_s
    return None


def _times(events: Sequence[GcEvent]) -> list[float] | None:
    """Seconds on one axis for every event: uptime when all have it, else wall clock."""
    ups = [e.uptime_s for e in events]
    if events and None not in ups:
        return ups  # type: ignore[return-value]
    known = sum(1 for e in events if e.uptime_s is not None)
    if events and known >= 0.9 * len(events):
        # A few events whose stamp was lost in interleaved output take the previous event's time.
        out: list[float] = []
        last = next(e.uptime_s for e in events if e.uptime_s is not None)
        for e in events:
            last = e.uptime_s if e.uptime_s is not None else last
            out.append(last)  # type: ignore[arg-type]
        return out
    if events and all(e.wall_s is not None for e in events):
        w0 = events[0].wall_s
        return [e.wall_s - w0 for e in events]  # type: ignore[operator]
    start = _jvm_start_wall(events)
    if start is not None and all(e.uptime_s is not None or e.wall_s is not None for e in events):
        return [e.uptime_s if e.uptime_s is not None else e.wall_s - start for e in events]  # type: ignore[operator]
    return None


def restrict(log: ParsedLog, start: datetime | None, end: datetime | None) -> ParsedLog:
    """Keep only the events inside ``[start, end)`` (wall clock); a log without wall times is kept whole.

    The JVM start time comes from any line that carries both the ``time`` and ``uptime``
    decorations, so events with only an uptime are placed too.
    """
    if start is None and end is None:
        return log
    jvm0 = log.jvm_start_wall_s if log.jvm_start_wall_s is not None else _jvm_start_wall(log.events)
    s = start.timestamp() if start else -math.inf
    e = end.timestamp() if end else math.inf
    kept = []
    for ev in log.events:
        w = ev.wall_s if ev.wall_s is not None else (jvm0 + ev.uptime_s if jvm0 is not None and ev.uptime_s is not None else None)
        if w is None:
            return log
        if s <= w < e:
            kept.append(ev)
    out = ParsedLog(**{k: getattr(log, k) for k in log.__dataclass_fields__})
    out.events = kept
    out.warnings = list(log.warnings)
    if len(kept) < len(log.events):
        out.warnings.append(f"{len(log.events) - len(kept)} of {len(log.events)} GC events fall outside the window and are not counted")
    return out


# -- summary ---------------------------------------------------------------------------------


def _percentile(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def _p99(values: list[float]) -> float | None:
    """``_percentile(sorted(values), 0.99)`` without sorting them all: only the top 1% matters."""
    n = len(values)
    if n < 200:
        return _percentile(sorted(values), 0.99)
    k = max(0, math.ceil(0.99 * n) - 1)  # the rank _percentile picks
    return heapq.nlargest(n - k, values)[-1]


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float | None, float | None]:
    """Least-squares slope and R² of ``ys`` over ``xs``."""
    n = len(xs)
    if n < 2:
        return None, None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None, None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return slope, r2


def _live_points(log: ParsedLog, events: Sequence[GcEvent], ts: Sequence[float]) -> tuple[str, list[tuple[float, int]]]:
    coll = log.collector
    pts: list[tuple[float, int]] = []
    if coll == "ZGC":
        basis = "live bytes found by each ZGC marking (heap after cycle where not logged)"
        for e, t in zip(events, ts):
            if e.kind == "cycle" and (e.live_bytes or e.after_bytes) is not None:
                pts.append((t, e.live_bytes if e.live_bytes is not None else e.after_bytes))  # type: ignore[arg-type]
    elif coll == "Shenandoah":
        basis = "heap after each Shenandoah cycle, degenerated and full GC"
        kinds = ("cycle", "degenerated", "full")
        pts = [(t, e.after_bytes) for e, t in zip(events, ts) if e.kind in kinds and e.after_bytes is not None]
    elif coll == "G1":
        basis = "heap after G1 Remark, Mixed and Full collections"
        kinds = ("remark", "mixed", "full")
        pts = [(t, e.after_bytes) for e, t in zip(events, ts) if e.kind in kinds and e.after_bytes is not None]
    else:
        basis = "heap after full GC"
        pts = [(t, e.after_bytes) for e, t in zip(events, ts) if e.kind == "full" and e.after_bytes is not None]
    if len(pts) >= LEAK_MIN_POINTS:
        return basis, pts
    # Too few of those collections: the low-water mark of the heap after any GC, per interval.
    sized = [(t, e.after_bytes) for e, t in zip(events, ts) if e.after_bytes is not None]
    if len(sized) < FALLBACK_MIN_GCS:  # a handful of young GCs at startup says nothing about a leak
        return basis, pts
    on_uptime = all(e.uptime_s is not None for e in events)  # then ts is the uptime
    if on_uptime:
        after_startup = [(t, b) for t, b in sized if t >= STARTUP_S]
        if len(after_startup) >= FALLBACK_MIN_GCS:
            sized = after_startup  # the start-up climb is not part of the trend
    t0, t1 = sized[0][0], sized[-1][0]
    buckets = 12
    width = (t1 - t0) / buckets if t1 > t0 else 0
    if width <= 0:
        return basis, pts
    lows: dict[int, tuple[float, int]] = {}
    for t, b in sized:
        i = min(buckets - 1, int((t - t0) / width))
        if i not in lows or b < lows[i][1]:  # type: ignore[operator]
            lows[i] = (t, b)  # type: ignore[assignment]
    if on_uptime and t1 < STARTUP_S:
        return FALLBACK_STARTUP_BASIS, [lows[i] for i in sorted(lows)]
    return FALLBACK_BASIS, [lows[i] for i in sorted(lows)]


def _robust_end(values: Sequence[int], head: bool) -> int:
    k = max(1, min(5, len(values) // 10))
    part = sorted(values[:k] if head else values[-k:])
    return part[len(part) // 2]


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def summarize(log: ParsedLog) -> dict[str, Any]:
    """Numbers a person would quote about one JVM's GC log, plus a :func:`verdict`.

    Keys (all sizes in bytes, times in ms or s as named): ``collector``, ``format``,
    ``heap_max_bytes``, ``span``, ``events`` (count by kind), ``pauses`` {``count``,
    ``total_ms``, ``p50_ms``, ``p99_ms``, ``max_ms``, ``throughput``, …}, ``full_gcs``
    {``count``, ``causes``, ``reclaimed_ratio_mean``, …}, ``allocation``, ``live_set``
    {``first_bytes``, ``last_bytes``, ``slope_bytes_per_hour``, ``r2``, …}, ``concurrent``,
    ``problems``, ``lines``, ``verdict`` and ``warnings``.
    """
    with _cyclic_gc_paused():
        return _summarize(log)


def _summarize(log: ParsedLog) -> dict[str, Any]:
    events = _in_time_order(log.events)
    ts = _times(events)
    heap_max = log.heap_max_bytes or max((e.capacity_bytes or 0 for e in events), default=0) or None
    jvm0 = log.jvm_start_wall_s if log.jvm_start_wall_s is not None else _jvm_start_wall(events)

    def wall_of(i: int) -> float | None:
        e = events[i]
        if e.wall_s is not None:
            return e.wall_s
        return jvm0 + e.uptime_s if jvm0 is not None and e.uptime_s is not None else None

    span_s = (ts[-1] - ts[0]) if ts and len(ts) > 1 else None
    span = {
        "start": _iso(wall_of(0)) if events else None,
        "end": _iso(wall_of(len(events) - 1)) if events else None,
        "uptime_start_s": events[0].uptime_s if events else None,
        "uptime_end_s": events[-1].uptime_s if events else None,
        "seconds": span_s,
    }

    # Pauses. Serial/Parallel log a young GC that turned into a full one as two lines, the
    # young one's time including the full's: count the pause once.
    pauses: list[tuple[float | None, float, int]] = []  # (time s, duration ms, index in events)
    add = pauses.append
    prev: GcEvent | None = None
    for i, e in enumerate(events):
        d = e.duration_ms
        if d is not None and e.kind in PAUSE_KINDS:  # e.pause, inlined: this loop sees every event
            d = d or 0.0
            if (prev is not None and e.kind == "young" and prev.kind == "full" and prev.gc_id is not None
                    and e.gc_id is not None and prev.gc_id == e.gc_id + 1 and d >= (prev.duration_ms or 0)):
                d -= prev.duration_ms or 0.0
            add((ts[i] if ts else None, d, i))
        prev = e
    in_order = [p[1] for p in pauses]
    durs = sorted(in_order)
    total_ms = sum(durs)
    longest = pauses[in_order.index(durs[-1])] if pauses else None  # the first of the longest
    throughput = None
    if span_s and span_s > 0:
        throughput = max(0.0, 1.0 - total_ms / 1000.0 / (span_s + (events[-1].duration_ms or 0) / 1000.0))
    halves: dict[str, float | None] = {"p99_first_half_ms": None, "p99_second_half_ms": None}
    if ts and span_s and len(pauses) >= 4:
        mid = ts[0] + span_s / 2
        times = [p[0] for p in pauses]
        if all(map(operator.le, times, itertools.islice(times, 1, None))):  # in time order: cut once
            cut = bisect.bisect_left(times, mid)  # type: ignore[arg-type]
            halves = {"p99_first_half_ms": _p99(in_order[:cut]), "p99_second_half_ms": _p99(in_order[cut:])}
        else:
            a = sorted(p[1] for p in pauses if p[0] is not None and p[0] < mid)
            b = sorted(p[1] for p in pauses if p[0] is not None and p[0] >= mid)
            halves = {"p99_first_half_ms": _percentile(a, 0.99), "p99_second_half_ms": _percentile(b, 0.99)}
    pause_summary = {
        "count": len(durs),
        "total_ms": round(total_ms, 3),
        "p50_ms": _percentile(durs, 0.50),
        "p99_ms": _percentile(durs, 0.99),
        "max_ms": durs[-1] if durs else None,
        "max_at": _iso(wall_of(longest[2])) if longest else None,
        "max_kind": events[longest[2]].kind if longest else None,
        "throughput": throughput,
        **halves,
    }

    # Full GCs
    fulls = [e for e in events if e.kind == "full"]
    reclaims = [(e.before_bytes - e.after_bytes) / e.before_bytes for e in fulls
                if e.before_bytes and e.after_bytes is not None]
    full_total = sum(e.duration_ms or 0.0 for e in fulls)
    full_summary = {
        "count": len(fulls),
        "causes": dict(Counter(e.cause or "unknown" for e in fulls).most_common()),
        "total_ms": round(full_total, 3),
        "max_ms": max((e.duration_ms or 0.0 for e in fulls), default=None),
        "reclaimed_ratio_mean": sum(reclaims) / len(reclaims) if reclaims else None,
        "reclaimed_ratio_last": (sum(reclaims[-3:]) / len(reclaims[-3:])) if reclaims else None,
        "time_share": (full_total / 1000.0 / span_s) if span_s else None,
        "last_after_bytes": fulls[-1].after_bytes if fulls else None,
    }

    # Allocation and promotion
    allocated = promoted = 0
    last_after: int | None = None
    last_kind = ""
    promotion_basis = None
    g1 = log.collector == "G1"
    for e in events:
        before, after = e.before_bytes, e.after_bytes
        if before is None or after is None:
            continue
        if last_after is not None and before > last_after:
            allocated += before - last_after
        kind = e.kind
        if kind == "young":
            if e.young_before_bytes is not None and e.young_after_bytes is not None:
                # what left the young generation but not the heap went to the old generation
                p = (e.young_before_bytes - e.young_after_bytes) - (before - after)
                promotion_basis = "young generation sizes"
            elif g1 and last_kind == "young" and last_after is not None:
                # between two young pauses only promotion (and humongous objects) grows the heap after GC
                p = after - last_after
                promotion_basis = promotion_basis or "growth of the heap after consecutive young pauses"
            else:
                p = 0
            if p > 0:
                promoted += p
        last_after = after
        last_kind = kind
    allocation = {
        "rate_bytes_per_s": allocated / span_s if span_s and allocated else None,
        "promotion_rate_bytes_per_s": promoted / span_s if span_s and promoted else None,
        "promotion_basis": promotion_basis if promoted else None,
    }

    # Live set
    live: dict[str, Any] = {"basis": None, "points": 0, "first_bytes": None, "last_bytes": None,
                            "min_bytes": None, "max_bytes": None, "slope_bytes_per_hour": None, "r2": None,
                            "span_hours": None, "first_at": None, "last_at": None, "last_share_of_max": None,
                            "series": []}
    if ts:
        basis, pts = _live_points(log, events, ts)
        live["basis"] = basis
        live["points"] = len(pts)
        if pts:
            raw = pts
            # Heap after a collection is the live set plus garbage it did not reach (never less),
            # so with many points fit the lower envelope: the lowest point per 1/12 to 1/24 of the span.
            afters = [(t, b) for t, b in zip(ts, map(_AFTER, events)) if b is not None]
            if len(pts) >= 8:
                pts = _tighten(pts, afters)
            if len(pts) > 24:
                pts = _lower_envelope(pts, max(12, min(24, len(pts) // 2)))
            elif len(pts) >= 8:
                pts = _lower_envelope(pts, len(pts) // 2)
            ys = [b for _, b in pts]
            xs_h = [t / 3600.0 for t, _ in pts]
            slope_h, r2 = _fit(xs_h, ys)
            half = len(pts) // 2
            slope_late, _ = _fit(xs_h[half:], ys[half:]) if len(pts) - half >= 2 else (None, None)
            first, last = _robust_end(ys, True), _robust_end(ys, False)
            t_first, t_last = pts[0][0], pts[-1][0]
            live.update({
                "first_bytes": first, "last_bytes": last, "min_bytes": min(ys), "max_bytes": max(ys),
                "slope_bytes_per_hour": slope_h, "r2": r2, "span_hours": (t_last - t_first) / 3600.0,
                "slope_second_half_bytes_per_hour": slope_late, "points_measured": len(raw),
                "first_at": _iso(jvm0 + t_first) if jvm0 is not None and events[0].uptime_s is not None else None,
                "last_at": _iso(jvm0 + t_last) if jvm0 is not None and events[0].uptime_s is not None else None,
                "last_share_of_max": last / heap_max if heap_max else None,
                "head_median_bytes": _median(ys[: max(1, len(ys) // 4)]),
                "tail_min_bytes": min(ys[-max(1, len(ys) // 4):]),
                "series": [[round(t - ts[0], 3), b] for t, b in _thin(pts, 24)],
            })

    kinds = list(map(_KIND, events))
    cycles = [e for e, k in zip(events, kinds) if k == "cycle"] if "cycle" in kinds else []
    minutes = span_s / 60.0 if span_s else None
    concurrent = {
        "cycles": len(cycles),
        "cycles_per_min": len(cycles) / minutes if minutes and cycles else None,
        "triggers": dict(Counter(log.triggers).most_common(6)) if log.triggers else
        dict(Counter(e.cause for e in cycles if e.cause).most_common(6)),
        "degenerated": kinds.count("degenerated"),
        "cancelled": log.concurrent_cancelled,
        "allocation_stalls": log.allocation_stalls,
        "allocation_stall_ms": round(log.allocation_stall_ms, 3),
    }
    problems = {"out_of_memory": log.out_of_memory, "to_space_exhausted": log.to_space_exhausted,
                "allocation_stalls": log.allocation_stalls, "degenerated": concurrent["degenerated"]}
    summary: dict[str, Any] = {
        "collector": log.collector or "unknown",
        "format": log.format,
        "files": list(log.files),
        "heap_max_bytes": heap_max,
        "span": span,
        "events": dict(Counter(kinds)),
        "pauses": pause_summary,
        "full_gcs": full_summary,
        "allocation": allocation,
        "live_set": live,
        "concurrent": concurrent,
        "problems": problems,
        "lines": {"total": log.lines_total, "used": log.lines_used, "unknown": log.lines_unknown,
                  "truncated_last_line": log.truncated_last_line},
        "restarts": log.restarts,
        "warnings": list(log.warnings),
    }
    summary["verdict"] = verdict(summary)
    return summary


def _in_time_order(events: Sequence[GcEvent]) -> list[GcEvent]:
    """Stable sort by uptime (else wall time); an event without either keeps its place."""
    ups = [e.uptime_s for e in events]
    if None not in ups and all(map(operator.le, ups, itertools.islice(ups, 1, None))):
        return list(events)  # the usual case: every event has an uptime and the log is in time order
    keys: list[float] = []
    last = -math.inf
    use_uptime = any(e.uptime_s is not None for e in events)
    for e in events:
        k = e.uptime_s if use_uptime else e.wall_s
        last = k if k is not None else last
        keys.append(last)
    if all(a <= b for a, b in zip(keys, keys[1:])):
        return list(events)  # the usual case: the log is already in time order
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable
    return [events[i] for i in order]


def _lower_envelope(points: Sequence[tuple[float, int]], buckets: int) -> list[tuple[float, int]]:
    """The lowest point per time bucket."""
    t0, t1 = points[0][0], points[-1][0]
    if t1 <= t0:
        return list(points)
    width = (t1 - t0) / buckets
    lows: dict[int, tuple[float, int]] = {}
    for t, b in points:
        i = min(buckets - 1, int((t - t0) / width))
        if i not in lows or b < lows[i][1]:
            lows[i] = (t, b)
    return [lows[i] for i in sorted(lows)]


def _tighten(points: Sequence[tuple[float, int]], afters: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """Replace each measurement by the lowest heap-after of any collection shortly after it.

    Every collection's heap-after bounds the live set from above, so a G1 young pause just
    after a Remark that was measured with a full eden gives a tighter figure. "Shortly" is the
    median gap between measurements, so a much later (and, in a leak, higher) point never
    stands in for an early one.
    """
    gaps = sorted(b[0] - a[0] for a, b in zip(points, points[1:]))
    horizon = gaps[len(gaps) // 2] if gaps else 0.0
    out: list[tuple[float, int]] = []
    after_ts = [t for t, _ in afters]
    if all(map(operator.le, after_ts, itertools.islice(after_ts, 1, None))):  # the usual case: binary search
        after_bs = [b for _, b in afters]
        j = 0
        for t, b in points:
            j = bisect.bisect_left(after_ts, t, j)
            k = bisect.bisect_right(after_ts, t + horizon, j)
            best = (t, b)
            if k > j:
                low = min(after_bs[j:k])
                if low < b:
                    best = afters[after_bs.index(low, j, k)]  # the first of the lowest, as the scan below
            out.append(best)
        return out
    j = 0
    n = len(afters)
    for t, b in points:
        while j < n and afters[j][0] < t:
            j += 1
        best = (t, b)
        k = j
        while k < n and afters[k][0] <= t + horizon:
            if afters[k][1] < best[1]:
                best = afters[k]
            k += 1
        out.append(best)
    return out


def _median(values: Sequence[int]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _thin(points: Sequence[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    if len(points) <= n:
        return list(points)
    step = (len(points) - 1) / (n - 1)
    return [points[round(i * step)] for i in range(n)]


# -- verdict ---------------------------------------------------------------------------------


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """Judge a :func:`summarize` result: leak suspected, heap pressure, long pauses or healthy.

    Every reason quotes the numbers behind it. A leak needs the live set to keep rising across
    the collections that should reclaim it: at least 4 measurements, a rising fit with R² ≥ 0.6,
    growth of at least 10% of the max heap or 25% of the start (whichever is smaller), the last
    quarter's lowest point above the first quarter's median, and a rise in the second half too. A heap that is full but flat
    (a big cache) is heap pressure at most, never a leak. When only young GCs measure the live set (the low-water-mark
    fallback), the JVM's first minute is left out of the trend; a log that ends within it is a leak only if the climb
    takes 10% of the max heap (start-up fills the heap from almost nothing as classes and caches load).
    """
    live = summary["live_set"]
    pauses = summary["pauses"]
    fulls = summary["full_gcs"]
    heap_max = summary.get("heap_max_bytes")
    problems = summary["problems"]
    reasons: list[str] = []
    leak = pressure = long_pauses = False
    n = live["points"]
    slope, r2 = live["slope_bytes_per_hour"], live["r2"]
    first, last = live["first_bytes"], live["last_bytes"]
    span_txt = format_duration((live["span_hours"] or 0) * 3600)
    basis = live["basis"] or "live set"
    rising = False
    if n >= LEAK_MIN_POINTS and slope is not None and first is not None and last is not None:
        growth = last - first
        needed = LEAK_MIN_GROWTH_OF_FIRST * max(first, 1)
        if heap_max:
            needed = min(needed, LEAK_MIN_GROWTH_OF_MAX * heap_max)
        startup = live["basis"] == FALLBACK_STARTUP_BASIS
        if startup:
            # Only the JVM's first minute, measured after young GCs: everything grows from almost
            # nothing there, so a climb counts only when it takes a real share of the max heap.
            needed = LEAK_MIN_GROWTH_OF_MAX * heap_max if heap_max else math.inf
        late = live.get("slope_second_half_bytes_per_hour")
        # Still rising in the second half: a cache that warmed up and then stayed flat is not a leak.
        sustained = live["tail_min_bytes"] > live["head_median_bytes"] and late is not None and late > 0.25 * slope
        rising = slope > 0 and (r2 or 0) >= LEAK_MIN_R2 and growth >= needed and sustained
        trend = (f"{basis}: {format_bytes(first)} → {format_bytes(last)} over {span_txt} "
                 f"({'+' if slope >= 0 else ''}{format_bytes(slope)}/h, R² {r2:.2f}, {n} points)")
        if rising:
            leak = True
            reasons.append(f"live set keeps rising: {trend}")
        else:
            why = []
            if startup:
                why.append(f"the log ends within the JVM's first {STARTUP_S:.0f} s, where the heap fills as classes "
                           "and caches load" + (f", and the climb is below {format_pct(LEAK_MIN_GROWTH_OF_MAX)} of the "
                                                f"{format_bytes(heap_max)} max heap" if heap_max else
                                                ", and the max heap is unknown: too short to judge"))
            elif slope <= 0 or growth < needed:
                why.append(f"growth {format_bytes(growth)} is below {format_bytes(needed)}")
            if (r2 or 0) < LEAK_MIN_R2:
                why.append(f"R² {r2:.2f} < {LEAK_MIN_R2}")
            if not sustained:
                why.append("it does not keep rising in the second half")
            reasons.append(f"live set is not rising steadily: {trend}; {', '.join(why) or 'flat'}")
    elif n:
        reasons.append(f"only {n} live-set measurements ({basis}): too few to judge a trend")
    else:
        reasons.append("no collection in the log measures the live set")

    share = live.get("last_share_of_max")
    reclaim_last = fulls["reclaimed_ratio_last"]
    head = live.get("head_median_bytes")
    # A leak that has already filled the heap flattens at the top: climbed, now full, Full GC frees little.
    if (not leak and share is not None and share >= 0.90 and reclaim_last is not None
            and reclaim_last < PRESSURE_FULL_RECLAIM and heap_max and head is not None and head < 0.70 * heap_max):
        leak = True
        reasons.append(
            f"live set climbed from {format_bytes(head)} to {format_bytes(last)} ({format_pct(share)} of the "
            f"{format_bytes(heap_max)} heap) and the last Full GCs reclaim {format_pct(reclaim_last)}"
        )
    if share is not None and share >= PRESSURE_LIVE_OF_MAX:
        pressure = True
        reasons.append(f"live set is {format_pct(share)} of the {format_bytes(heap_max)} max heap")
    if fulls["count"] and reclaim_last is not None and reclaim_last < PRESSURE_FULL_RECLAIM:
        pressure = True
        reasons.append(f"Full GC reclaims {format_pct(reclaim_last)} of the heap (last {min(3, fulls['count'])}), "
                       f"{fulls['count']} Full GCs")
    if fulls["time_share"] is not None and fulls["time_share"] >= PRESSURE_FULL_TIME_SHARE:
        pressure = True
        reasons.append(f"Full GCs take {format_pct(fulls['time_share'])} of the time ({fulls['count']} of them)")
    for key, label in (("out_of_memory", "OutOfMemoryError"), ("to_space_exhausted", "to-space exhausted / evacuation failures"),
                       ("allocation_stalls", "allocation stalls"), ("degenerated", "degenerated cycles")):
        if problems.get(key):
            pressure = True
            reasons.append(f"{problems[key]} × {label}")
    p99, pmax, thr = pauses["p99_ms"], pauses["max_ms"], pauses["throughput"]
    if p99 is not None and (p99 >= LONG_PAUSE_P99_MS or (pmax or 0) >= LONG_PAUSE_MAX_MS):
        long_pauses = True
        reasons.append(f"pauses p99 {format_ms(p99)}, max {format_ms(pmax)} ({pauses['count']} pauses)")
    if thr is not None and thr < LOW_THROUGHPUT:
        long_pauses = True
        reasons.append(f"GC pauses take {format_pct(1 - thr)} of the time (throughput {format_pct(thr)})")
    a, b = pauses.get("p99_first_half_ms"), pauses.get("p99_second_half_ms")
    if a and b and b >= 2 * a and b >= 100:
        reasons.append(f"p99 pause rose from {format_ms(a)} in the first half to {format_ms(b)} in the second")
    if not (leak or pressure or long_pauses) and p99 is not None:
        reasons.append(f"pauses p99 {format_ms(p99)}, max {format_ms(pmax)}"
                       + (f", throughput {format_pct(thr)}" if thr is not None else ""))
    status = "leak_suspected" if leak else "heap_pressure" if pressure else "long_pauses" if long_pauses else (
        "healthy" if pauses["count"] or n else "insufficient_data")
    return {"status": status, "leak_suspected": leak, "heap_pressure": pressure, "long_pauses": long_pauses,
            "reasons": reasons}
