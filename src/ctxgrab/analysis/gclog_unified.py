"""Parser for JDK 9+ unified GC logging (``-Xlog:gc`` and ``-Xlog:gc*``), every collector.

Only the few lines that carry facts are looked at in Python: one multi-line regex finds them in
a whole chunk of raw bytes (about a megabyte, so it stays in the CPU cache) at C speed, and only
their messages are decoded, so the long tail of detail lines (phases, metaspace, tasks) costs
almost nothing. Decorations may come in any combination (``time``, ``uptime``,
``uptimemillis``, ``timemillis``, ``level``, ``tags``, ``pid``, ``tid``); the uptime may use a
decimal comma (``[2,048s]``, written under some locales) or be missing, in which case times
come from the wall clock.

>>> from ctxgrab.analysis.gclog_unified import UnifiedParser
>>> p = UnifiedParser("gc.log")
>>> p.feed("[0.018s][info][gc] Using G1\\n"
...        "[0.202s][info][gc] GC(0) Pause Young (G1 Evacuation Pause) 14M->12M(128M) 6.529ms\\n")
>>> log = p.finish()
>>> log.collector, log.events[0].kind, log.events[0].duration_ms
('G1', 'young', 6.529)
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable

from .gclog_model import GcEvent, ParsedLog, to_bytes

__all__ = ["UnifiedParser", "looks_unified", "COLLECTOR_NAMES"]

# "Using X" as written by each JDK, mapped to the name ctxgrab reports.
COLLECTOR_NAMES = {
    "G1": "G1",
    "Parallel": "Parallel",
    "Serial": "Serial",
    "The Z Garbage Collector": "ZGC",
    "ZGC": "ZGC",
    "Shenandoah": "Shenandoah",
    "Concurrent Mark Sweep": "CMS",
    "Epsilon": "Epsilon",
}

# One pass over the raw bytes of a chunk finds every line that carries a fact. It is anchored on
# "] ", the end of the decorations, which the regex engine finds with a plain byte loop, and the
# words that follow ("GC(N) Pause ...", "Using G1", ...) decide. Everything else (phases,
# metaspace, tasks, safepoints: most of a `gc*` log) fails within a few bytes and never reaches
# Python. Capturing nothing but the message keeps that per-line attempt cheap: capturing the
# pause fields here too was 1.7x slower on a `gc*` log than reading them afterwards with
# _FAST_PAUSE from the few lines found. (The JDK writes one space after the decorations.)
# Group 1: the message of a line with a GC id; group 2: of a line without one (Shenandoah
# triggers, ZGC stalls, the collector in use). A "Pause" line must end in "ms" (the "gc,start"
# line of a pause carries nothing).
_SCAN = re.compile(
    rb"\] (?:GC\(\d+\) +("
    rb"Pause [^\n]*ms[ \t\r]*$|(?:Garbage|Major|Minor) Collection \(|Concurrent (?:(?:Mark )?Cycle|cleanup )"
    rb"|To-space exhausted|Live: |DefNew: |PSYoungGen: |ParNew: )"
    rb"|(Trigger: |Cancelling |Allocation Stall |Using (?!\d)))",
    re.M,
)
# Facts written once at start-up: looked for in the first megabyte of each file.
_INIT_FACTS = re.compile(
    rb"\] (Heap Max Capacity: |Heap Region Size: |Heap region size: |Heap address: |Max Capacity: |"
    rb"Initialize Shenandoah heap)"
)
# the "uptime" decoration ("0.233s", "2,048s"); uptimemillis and others take the general path
_UPTIME = re.compile(r"(?:^|\]\[)(\d+[.,]\d+)s(?:\]|$)")
# The most common fact line, read in one go from its start:
# "[...][12.345s][...] GC(7) Pause Young (...) 24M->8M(256M) 1.5ms".
_FAST_PAUSE = re.compile(
    rb"\[(?:[^\]\n]*\]\[)*?(\d+[.,]\d+)s\](?:\[[^\]\n]*\])* GC\((\d+)\) +(Pause [^\n]*?) "
    rb"(\d+)([BKMGT])->(\d+)([BKMGT])\((\d+)([BKMGT])\) (\d+[.,]\d+)ms[ \t\r]*$",
    re.M,
)
_UNIT_B = {b"B": 1, b"K": 1024, b"M": 1024**2, b"G": 1024**3, b"T": 1024**4}
_OOM = b"OutOfMemoryError"
_NL = b"\n"
_INIT_BYTES = 1 << 20
_NOT_CAUSES = frozenset({"Evacuation Failure", "To-space exhausted", "To-space Exhausted"})
_YOUNGISH = frozenset({"young", "mixed", "full", "degenerated"})
_UNDECORATED = re.compile(rb"\n[^\[\n]")
_PREFIX = re.compile(rb"\[((?:[^\]\n]*\]\[)*[^\]\n]*)\] ?(?:GC\((\d+)\) +)?")


class _Hit:
    """One fact line: its decorations, GC id and message, and where it starts in the chunk."""

    __slots__ = ("deco", "gid", "msg", "pos")

    def __init__(self, deco: str, gid: str | None, msg: str, pos: int) -> None:
        self.deco, self.gid, self.msg, self.pos = deco, gid, msg, pos

    def group(self, name: str) -> str | None:
        return {"deco": self.deco, "id": self.gid, "msg": self.msg}[name]

    def start(self) -> int:
        return self.pos


_SIZE = r"(\d+(?:[.,]\d+)?)([BKMGT])"
_TRIPLE = re.compile(_SIZE + r"->" + _SIZE + r"\(" + _SIZE + r"\)")
_ZGC_CYCLE = re.compile(
    r"^(?P<name>(?:Garbage|Major|Minor) Collection) \((?P<cause>.+?)\)(?: \([^)]*\))* "
    + _SIZE + r"\(\d+%\)->" + _SIZE + r"\(\d+%\)"
)
_SHEN_CLEANUP = re.compile(r"^Concurrent cleanup " + _SIZE + r"->" + _SIZE + r"\(" + _SIZE + r"\)")
_YOUNG_GEN = re.compile(r"^(?:DefNew|PSYoungGen|ParNew): " + _SIZE + r"(?:\([^)]*\))?->" + _SIZE)
_ZGC_LIVE = re.compile(r"^Live:\s+-\s+" + _SIZE)
_ONE_SIZE = re.compile(_SIZE)
_MS = re.compile(r"(\d+(?:[.,]\d+)?)ms\s*$")
_NOISE = re.compile(r"\s*\([^)]*\)|\d+(?:[.,]\d+)?\s*[KMGB]?(?:B/s)?")
_LEARNING = re.compile(r"Learning \d+ of \d+\.\s*")


def looks_unified(sample: str) -> bool:
    """True when the text's first non-empty lines carry unified-logging decorations."""
    for line in sample.splitlines()[:50]:
        if line.strip():
            return bool(re.match(r"^\[[^\]]+\](?:\[[^\]]*\])*\s*\S", line)) and not re.match(
                r"^\[(?:GC|Full GC)", line
            )
    return False


def _pause_kind(name: str, collector: str | None) -> str:
    rest = name[6:]
    if rest.startswith("Young"):
        return "mixed" if "(Mixed)" in rest else "young"
    if rest.startswith("Full"):
        return "full"
    if rest.startswith("Remark"):
        return "remark"
    if rest.startswith("Cleanup"):
        return "cleanup"
    if rest.startswith("Mixed"):
        return "mixed"
    if rest.startswith("Initial Mark"):
        # JDK 9/10 G1 logs its concurrent-start young pause as "Pause Initial Mark".
        return "initial_mark" if collector == "CMS" else "young"
    if rest.startswith("Degenerated"):
        return "degenerated"
    return "phase"


def _pause_info(name: str, collector: str | None) -> tuple[str, str | None, bool, str]:
    """What a pause name means: kind, cause, whether it reports an evacuation failure, and the name."""
    kind = _pause_kind(name, collector)
    youngish = kind in _YOUNGISH
    return (kind, _cause(name) if youngish else None,
            youngish and ("Evacuation Failure" in name or "To-space" in name), name)


def _cause(name: str) -> str | None:
    """The last top-level parenthesised group: G1 "Pause Young (Normal) (G1 Evacuation Pause)" gives
    "G1 Evacuation Pause", "Pause Full (System.gc())" gives "System.gc()"."""
    if name.count("(") <= 2 and "()" not in name and "((" not in name and "Failure)" not in name[-9:]:
        i, j = name.rfind("("), name.rfind(")")
        return name[i + 1 : j] if 0 <= i < j else None
    groups: list[str] = []
    depth = start = 0
    for i, c in enumerate(name):
        if c == "(":
            if depth == 0:
                start = i + 1
            depth += 1
        elif c == ")" and depth:
            depth -= 1
            if depth == 0:
                groups.append(name[start:i])
    # JDK 17+: "Pause Young (Normal) (G1 Evacuation Pause) (Evacuation Failure)": the failure is not the cause
    groups = [g for g in groups if g not in _NOT_CAUSES] or groups
    return groups[-1] if groups else None


def trigger_label(text: str) -> str:
    """``'Free (2767M) is below initial threshold (2767M)'`` -> ``'Free is below initial threshold'``."""
    learning = _LEARNING.match(text)
    t = _NOISE.sub("", text[learning.end():] if learning else text).strip(" .:")
    t = re.sub(r"\s+", " ", t)[:80] or text[:80]
    return f"learning: {t}" if learning else t


class UnifiedParser:
    """Incremental parser: :meth:`feed` whole lines (chunks ending at a newline), then :meth:`finish`."""

    def __init__(self, path: str = "<input>") -> None:
        self.log = ParsedLog(format="unified")
        self.path = path
        self._line_base = 0  # line number of the first line of the current chunk
        self._young: dict[int, tuple[int, int]] = {}
        self._live: dict[int, int] = {}
        self._shen_cycle: dict[int, GcEvent] = {}
        self._last_uptime: float | None = None
        self._first_wall: float | None = None
        self._uptime_seen = False
        self._wall_cache: dict[str, float] = {}
        self._gen_hint: str | None = None
        self._file_start = True  # the next chunk begins a file: look for the start-up facts
        self._need_wall = True  # read the wall clock on the next line that has one
        self._no_wall = False  # this file's run logs an uptime but no wall clock (the JDK's default decorations)
        self._last_deco: str | None = None
        # pause name as logged -> kind, cause, evacuation failure, name (see _pause_info)
        self._names: dict[bytes, tuple[str, str | None, bool, str]] = {}
        self._prev_collector: str | None = None  # collector of the run before a restart
        self._last_wall: float | None = None
        self._init_left = _INIT_BYTES  # bytes of the current file still searched for start-up facts
        self._chunk_start = 0

    # -- decorations -------------------------------------------------------------------
    def _times(self, deco: str, want_wall: bool = True) -> tuple[float | None, float | None]:
        """Uptime and wall time from the decorations; the wall clock only when asked for or
        when there is no uptime (parsing it is the costliest part of a line)."""
        if not want_wall:
            um = _UPTIME.search(deco)
            if um is not None:
                return float(um.group(1).replace(",", ".")), None
        uptime = wall = None
        for part in deco.split("]["):
            if not part or not part[0].isdigit():
                continue
            p = part.rstrip()
            last = p[-1]
            if last == "s":
                if p[-2] == "m":
                    v = p[:-2]
                    if v.isdigit():
                        n = int(v)
                        if n > 100_000_000_000:  # timemillis
                            wall = n / 1000.0
                        else:
                            uptime = n / 1000.0
                    continue
                if p[-2] == "n":
                    v = p[:-2]
                    if v.isdigit():
                        n = int(v)
                        if n > 100_000_000_000_000_000:
                            wall = n / 1e9
                        else:
                            uptime = n / 1e9
                    continue
                try:
                    uptime = float(p[:-1].replace(",", "."))
                except ValueError:
                    pass
            elif len(p) >= 19 and p[4] == "-" and p[10] == "T":
                if want_wall or uptime is None:
                    wall = self._wall(p)
        if wall is None and uptime is None and not want_wall:
            return self._times(deco, True)
        return uptime, wall

    def _wall(self, p: str) -> float | None:
        """``2022-01-29T16:34:51.642+0000`` as Unix seconds; each minute is parsed once."""
        tz_at = max(p.rfind("+"), p.rfind("-"), p.rfind("Z"))
        if tz_at < 19:
            tz_at = len(p)
        key = p[:16] + p[tz_at:]
        base = self._wall_cache.get(key)
        try:
            if base is None:
                base = _parse_iso(p[:16] + ":00" + p[tz_at:])
                if len(self._wall_cache) > 4096:
                    self._wall_cache.clear()
                self._wall_cache[key] = base
            return base + float(p[17:tz_at].replace(",", "."))
        except ValueError:
            return None

    # -- feeding -----------------------------------------------------------------------
    def feed(self, text: str | bytes) -> None:
        """Parse a chunk of complete lines (text, or UTF-8 bytes as read from the file)."""
        data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        self.feed_bytes(data, 0, len(data))

    def feed_bytes(self, buf: bytes, start: int, end: int) -> None:
        """Parse ``buf[start:end]``, which holds complete lines (the last may lack its newline).

        Works on the raw bytes: only the messages of the few lines that carry facts are decoded.
        """
        log = self.log
        self._chunk_start = start
        nlines = buf.count(b"\n", start, end) + (0 if end == start or buf[end - 1] == 10 else 1)
        log.lines_total += nlines
        # Lines without decorations are not unified GC log lines (blank lines are harmless).
        unknown = len(_UNDECORATED.findall(buf, start, end)) + (1 if buf[start:start + 1] not in (b"[", b"\n", b"") else 0)
        log.lines_unknown += unknown
        if buf.find(_OOM, start, end) >= 0:
            log.out_of_memory += buf.count(_OOM, start, end)
        hits: Iterable[re.Match[bytes]] = _SCAN.finditer(buf, start, end)
        if self._file_start:
            self._file_start = False
            self._need_wall = True
            self._no_wall = False
            if self._last_deco is not None:  # where the previous file ended, for the overlap check
                _, lw = self._times(self._last_deco, True)
                if lw is not None:
                    self._last_wall = lw
        if self._init_left > 0:
            init_end = min(end, start + self._init_left)
            self._init_left -= end - start
            inits = list(_INIT_FACTS.finditer(buf, start, init_end))
            if inits:
                hits = sorted([*hits, *inits], key=_msg_start)
        rfind = buf.rfind
        fast = _FAST_PAUSE.match
        names = self._names
        young = self._young
        events = log.events
        add = events.append
        used = 0
        last_up = self._last_uptime
        last_ls = -1
        for m in hits:
            pos = m.start(1)
            if pos < 0:
                pos = m.start(2)
            ls = rfind(b"\n", 0, pos) + 1
            # "Pa": maybe a sized pause. Until the wall clock is read, pause lines take the general path,
            # unless the decorations have none to read.
            if buf[pos + 1] == 97 and buf[pos] == 80 and (not self._need_wall or self._no_wall):
                # The common pause summary line, read in one go and turned into an event right here
                # (this loop body runs for every collection of a long log).
                fm = fast(buf, ls)
                if fm is not None:
                    up_s, gid_s, name_b, b, bu, a, au, c, cu, ms_s = fm.groups()
                    uptime = float(up_s) if up_s[-4:-3] == b"." else float(up_s.replace(b",", b"."))  # "0.5" too
                    if last_up is None or uptime >= last_up - 1.0:  # else a restart: the general path handles it
                        last_up = uptime
                        info = names.get(name_b)
                        if info is None:
                            info = names[name_b] = _pause_info(name_b.decode("utf-8", "replace"), log.collector)
                        kind, cause, failed, name = info
                        gid = int(gid_s)
                        ev = GcEvent(kind, name, uptime, None, gid,
                                     float(ms_s) if ms_s[-4:-3] == b"." else float(ms_s.replace(b",", b".")),
                                     int(b) * _UNIT_B[bu], int(a) * _UNIT_B[au], int(c) * _UNIT_B[cu], cause)
                        if failed:
                            log.to_space_exhausted += 1
                        if young and kind in _YOUNGISH:
                            y = young.pop(gid, None)
                            if y is not None:
                                ev.young_before_bytes, ev.young_after_bytes = y
                        add(ev)
                        used += 1
                        last_ls = ls
                        continue
            last_ls = -1
            pm = _PREFIX.fullmatch(buf, ls, pos)
            if pm is None:
                continue  # the words appear inside some other message
            le = buf.find(b"\n", pos, end)
            msg = buf[pos : le if le >= 0 else end].decode("utf-8", "replace")
            if msg[-1:] == "\r":
                msg = msg[:-1]
            deco, gid_b = pm.groups()
            self._last_uptime = last_up
            self._line(_Hit(deco.decode("utf-8", "replace"), gid_b.decode() if gid_b is not None else None, msg, ls), buf)
            last_up = self._last_uptime
        if used:
            log.lines_used += used
            self._uptime_seen = True
        self._last_uptime = last_up
        if last_ls >= 0:  # the fast path does not keep decorations: note where this chunk ended
            pm = _PREFIX.match(buf, last_ls)
            if pm is not None:
                self._last_deco = pm.group(1).decode("utf-8", "replace")
        self._line_base += nlines

    def _where(self, buf: bytes, pos: int) -> str:
        line = self._line_base + buf.count(_NL, self._chunk_start, pos) + 1
        return f"{self.path}:{line}"

    def _line(self, m: _Hit, text: bytes) -> None:
        log = self.log
        msg = m.msg
        gid_s = m.gid
        gid = int(gid_s) if gid_s is not None else None
        c0 = msg[0]
        if c0 == "P" and msg.startswith("Pause "):
            # "Pause Young (Normal) (G1 Evacuation Pause) 14M->12M(128M) 6.529ms", read from the right
            head, _, dur = msg.rstrip().rpartition(" ")
            if not dur.endswith("ms") or not head:
                return  # the "gc,start" line of a pause, or a truncated one
            try:
                duration_ms = float(dur[:-2].replace(",", "."))
            except ValueError:
                return
            name, _, sizes = head.rpartition(" ")
            sm = _TRIPLE.fullmatch(sizes) if "->" in sizes else None
            if sm is None:
                name = head
            uptime, wall = self._stamp(m, text)
            kind = _pause_kind(name, log.collector)
            ev = GcEvent(kind, name, uptime, wall, gid, duration_ms)
            if sm is not None:
                ev.before_bytes = to_bytes(sm.group(1), sm.group(2))
                ev.after_bytes = to_bytes(sm.group(3), sm.group(4))
                ev.capacity_bytes = to_bytes(sm.group(5), sm.group(6))
            if kind in ("young", "mixed", "full", "degenerated"):
                ev.cause = _cause(name)
                if "Evacuation Failure" in name or "To-space" in name:
                    log.to_space_exhausted += 1
                if gid is not None and self._young:
                    y = self._young.pop(gid, None)
                    if y is not None:
                        ev.young_before_bytes, ev.young_after_bytes = y
            log.events.append(ev)
            log.lines_used += 1
        elif c0 == "G" or c0 == "M" and msg[1] in "ai":  # ZGC cycle / Max Capacity
            if c0 == "M" and msg.startswith("Max Capacity: "):
                self._heap_max(msg[14:])
                return
            zm = _ZGC_CYCLE.match(msg)
            if zm is None:
                if "(" in msg and ")" in msg:  # the start line: count why the cycle ran
                    cause = _cause(msg) or "unknown"
                    log.triggers[cause] = log.triggers.get(cause, 0) + 1
                return
            uptime, wall = self._stamp(m, text)
            ev = GcEvent("cycle", zm.group("name"), uptime, wall, gid, None,
                         to_bytes(zm.group(3), zm.group(4)), to_bytes(zm.group(5), zm.group(6)))
            ev.cause = zm.group("cause")
            ev.capacity_bytes = log.heap_max_bytes
            if gid is not None and gid in self._live:
                ev.live_bytes = self._live.pop(gid)
            log.events.append(ev)
            log.lines_used += 1
        elif c0 == "C":
            if msg.startswith("Concurrent cleanup"):
                cm = _SHEN_CLEANUP.match(msg)
                if cm is None:
                    return
                uptime, wall = self._stamp(m, text)
                # Shenandoah logs two cleanups per cycle; the last one is the heap after the cycle.
                prev = self._shen_cycle.get(gid) if gid is not None else None
                if prev is not None:
                    prev.after_bytes = to_bytes(cm.group(3), cm.group(4))
                    prev.uptime_s, prev.wall_s = uptime, wall
                    return
                ev = GcEvent("cycle", "Shenandoah cycle", uptime, wall, gid, None,
                             to_bytes(cm.group(1), cm.group(2)), to_bytes(cm.group(3), cm.group(4)),
                             to_bytes(cm.group(5), cm.group(6)))
                if gid is not None:
                    if len(self._shen_cycle) > 64:
                        self._shen_cycle.clear()
                    self._shen_cycle[gid] = ev
                log.events.append(ev)
                log.lines_used += 1
            elif msg.startswith("Cancelling"):
                log.concurrent_cancelled += 1
                log.lines_used += 1
            else:  # G1 "Concurrent (Mark) Cycle 42.463ms" ends a marking cycle
                mm = _MS.search(msg)
                if mm is None:
                    return
                uptime, wall = self._stamp(m, text)
                log.events.append(GcEvent("cycle", "Concurrent Mark Cycle", uptime, wall, gid))
                log.lines_used += 1
        elif c0 == "U":  # Using G1
            name = msg[6:].strip()
            if gid is not None or name.split(" ")[0].isdigit():
                return  # "Using 2 workers of 2 for evacuation"
            coll = COLLECTOR_NAMES.get(name)
            if coll is None:
                return
            self._stamp(m, text, event=False)  # a second "Using" after a restart resets the run there
            prev = log.collector or self._prev_collector
            if prev and prev != coll:
                raise _MixedJvms(f"{self._where(text, m.start())}: this log switches from {prev} to {coll}")
            log.collector = coll
            self._names.clear()
            log.lines_used += 1
        elif c0 == "H":  # Heap Max Capacity / Heap Region Size / Heap address ... size
            if msg.startswith("Heap Max Capacity: "):
                self._heap_max(msg[19:])
            elif msg.startswith(("Heap Region Size: ", "Heap region size: ")):
                sm = _ONE_SIZE.search(msg)
                if sm:
                    log.region_bytes = to_bytes(sm.group(1), sm.group(2))
            elif msg.startswith("Heap address:") and "size: " in msg:
                sm = re.search(r"size: (\d+) ?([KMG])B", msg)
                if sm and log.heap_max_bytes is None:
                    log.heap_max_bytes = to_bytes(sm.group(1), sm.group(2))
        elif c0 == "I":  # Initialize Shenandoah heap: 8192M initial, 8192M min, 8192M max
            sm = re.search(_SIZE + r" max", msg)
            if sm:
                log.heap_max_bytes = to_bytes(sm.group(1), sm.group(2))
        elif c0 == "L":  # ZGC "Live:  -  1359M (34%) ..." (mark end column)
            lm = _ZGC_LIVE.match(msg)
            if lm is not None and gid is not None:
                self._live[gid] = to_bytes(lm.group(1), lm.group(2))
        elif c0 == "T":
            if msg.startswith("To-space"):
                log.to_space_exhausted += 1
                log.lines_used += 1
            else:  # Shenandoah "Trigger: ..."
                label = trigger_label(msg[9:])
                log.triggers[label] = log.triggers.get(label, 0) + 1
                log.lines_used += 1
        elif c0 == "A":  # ZGC "Allocation Stall (thread) 0.706ms"
            log.allocation_stalls += 1
            mm = _MS.search(msg)
            if mm:
                log.allocation_stall_ms += float(mm.group(1).replace(",", "."))
            log.lines_used += 1
        elif c0 == "D" or c0 == "P":
            # Young generation sizes (Serial, Parallel, CMS) arrive before the pause line.
            ym = _YOUNG_GEN.match(msg)
            if ym is not None and gid is not None:
                self._gen_hint = {"D": "Serial", "PS": "Parallel", "Pa": "CMS"}.get(msg[0] if c0 == "D" else msg[:2])
                self._young[gid] = (to_bytes(ym.group(1), ym.group(2)), to_bytes(ym.group(3), ym.group(4)))
                if len(self._young) > 64:
                    self._young.pop(next(iter(self._young)))

    def _heap_max(self, text: str) -> None:
        sm = _ONE_SIZE.match(text.strip())
        if sm:
            self.log.heap_max_bytes = to_bytes(sm.group(1), sm.group(2))

    def _stamp(self, m: _Hit, text: bytes, event: bool = True) -> tuple[float | None, float | None]:
        # With an uptime on every line the wall clock is read only at the start of a file or
        # run: the JVM start time follows from it, and the summary places every event by it.
        want_wall = self._need_wall
        uptime, wall = self._times(m.deco, want_wall)
        self._last_deco = m.deco
        if wall is not None and event:
            self._need_wall = False
            lw = self._last_wall
            if lw is not None and wall < lw - 1.0:
                raise _MixedJvms(
                    f"{self._where(text, m.start())}: the clock goes back from {_iso(lw)} to {_iso(wall)}, "
                    "so two JVMs were logging at the same time"
                )
            self._last_wall = wall
        if uptime is not None:
            self._uptime_seen = True
            last = self._last_uptime
            if last is not None and uptime < last - 1.0:
                self._restart(text, m.start(), last, uptime)
            self._last_uptime = uptime
            if want_wall and wall is None and self._need_wall:
                self._no_wall = True  # decorations are fixed for a run: the fast path loses nothing
        return uptime, wall

    def _restart(self, text: bytes, pos: int, last: float, now: float) -> None:
        """Uptime went back: a new JVM run. Keep only the newest run, say so."""
        log = self.log
        log.restarts += 1
        log.warnings.append(
            f"{self._where(text, pos)}: uptime goes back from {last:.3f} s to {now:.3f} s "
            f"(the JVM restarted); summarising the run that starts there, {len(log.events)} earlier events dropped"
        )
        log.events.clear()
        self._need_wall = True
        self._no_wall = False
        self._prev_collector = log.collector or self._prev_collector
        log.collector = None
        self._young.clear()
        self._live.clear()
        self._shen_cycle.clear()

    def finish(self) -> ParsedLog:
        log = self.log
        if log.collector is None:  # the "Using ..." line rotated away: infer from what was logged
            names = {e.name for e in log.events[:2000]}
            text = " ".join(names)
            if any(e.name in ("Garbage Collection", "Major Collection", "Minor Collection") for e in log.events[:50]):
                log.collector = "ZGC"
            elif "Shenandoah cycle" in names or "Pause Init Mark" in text or "Pause Final Mark" in text:
                log.collector = "Shenandoah"
            elif "G1" in text or "Pause Remark" in text and "Pause Cleanup" in text or "(Mixed)" in text:
                log.collector = "G1"
            elif self._gen_hint:
                log.collector = self._gen_hint
        return log


def _msg_start(m: re.Match[bytes]) -> int:
    """Where the message of a _SCAN or _INIT_FACTS hit starts (after the decorations and GC id)."""
    return m.start(1) if m.start(1) >= 0 else m.start(2)


class _MixedJvms(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: looks like logs of two JVMs mixed together; pass the files of one JVM")


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> float:
    # 2022-01-29T16:34:51.642+0000 (the JVM writes +HHMM; fromisoformat wants +HH:MM before 3.11)
    t = text.strip()
    if len(t) > 5 and t[-5] in "+-" and t[-4:].isdigit():
        t = t[:-2] + ":" + t[-2:]
    return datetime.fromisoformat(t.replace(",", ".")).timestamp()
