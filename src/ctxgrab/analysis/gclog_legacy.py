"""Parser for JDK 8 and older GC logs (``-XX:+PrintGC``/``-XX:+PrintGCDetails``).

Covers G1, CMS (with ParNew or DefNew), Parallel and Serial, with or without
``-XX:+PrintGCDateStamps``/``-XX:+PrintGCTimeStamps``, ``PrintGCID``, ``PrintHeapAtGC``,
``PrintTenuringDistribution`` and ``PrintReferenceGC`` noise. These logs are older and smaller
than unified ones, so lines are read one by one in Python.

>>> from ctxgrab.analysis.gclog_legacy import LegacyParser
>>> p = LegacyParser("gc.log")
>>> p.feed("1.028: [Full GC 109036K->44313K(118604K), 0.1666489 secs]\\n")
>>> ev = p.finish().events[0]
>>> ev.kind, ev.after_bytes, round(ev.duration_ms, 1)
('full', 45376512, 166.6)
"""

from __future__ import annotations

import re
from datetime import datetime

from .gclog_model import GcEvent, ParsedLog, to_bytes

__all__ = ["LegacyParser", "looks_legacy"]

_STAMP = re.compile(
    r"^(?:(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,]\d+[+-]\d{4}): )?"
    r"(?:#\d+: )?(?:(?P<up>\d+[.,]\d+): )?(?:#\d+: )?\["
)
_SECS = re.compile(r", (\d+[.,]\d+) secs\]")
_HEAP = re.compile(r"(\d+(?:\.\d+)?)([BKMG])->(\d+(?:\.\d+)?)([BKMG])\((\d+(?:\.\d+)?)([BKMG])\)")
_G1_HEAP = re.compile(
    r"Heap: (\d+(?:\.\d+)?)([BKMG])\((\d+(?:\.\d+)?)([BKMG])\)->(\d+(?:\.\d+)?)([BKMG])\((\d+(?:\.\d+)?)([BKMG])\)"
)
_G1_EDEN = re.compile(r"Eden: (\d+(?:\.\d+)?)([BKMG])\([^)]*\)->(\d+(?:\.\d+)?)([BKMG])")
_G1_SURV = re.compile(r"Survivors: (\d+(?:\.\d+)?)([BKMG])->(\d+(?:\.\d+)?)([BKMG])")
_FULL_CAUSE = re.compile(r"Full GC ?\(([^)]+)\)")
_GC_CAUSE = re.compile(r"\[GC (?:pause )?\(([^)]+)\)")
# The end of an event: the whole-heap (or generation) size followed by the pause time.
_END = re.compile(r"\(\d+(?:\.\d+)?[BKMG]\)\]?, \d+[.,]\d+ secs\]")
# "2012-10-19T18:28:46.210+0100: 2.193: [GC (Allocation Failure) 2.193: [DefNew: 17024K->643K(19136K),
# 0.0084810 secs] 17024K->643K(260032K), 0.0085510 secs] [Times: ...]" and the PSYoungGen form.
_FAST_YOUNG = re.compile(
    r"(?:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d{4}): )?(\d+\.\d+): \[GC(?: \(([^()]*)\))? "
    r"(?:\d+\.\d+: )?\[(DefNew|ParNew|PSYoungGen): (\d+)K->(\d+)K\(\d+K\)(?:, \d+\.\d+ secs)?\] "
    r"(\d+)K->(\d+)K\((\d+)K\), (\d+\.\d+) secs\]"
)
_CONT = re.compile(r"^\s*, (\d+[.,]\d+) secs\]")
_MAXHEAP = re.compile(r"-XX:MaxHeapSize=(\d+)")
_YOUNG_LABELS = ("DefNew", "ParNew", "PSYoungGen", "ASParNew", "ASPSYoungGen")
_NOISE_PREFIXES = (
    "{Heap", "Heap", "}", " ", "\t", "Desired survivor", "- age", "Total time for which",
    "Application time", "CommandLine flags", "OpenJDK", "Java HotSpot", "Memory:", ", ",
    "[", "#", "GC locker", "<", "TLAB: ", "PSYoungGen", "ParOldGen", "PSOldGen", "PSPermGen", "Metaspace",
    "par new generation", "concurrent mark-sweep", "def new generation", "tenured generation", "garbage-first heap",
)
_STAMPISH = re.compile(r"^[\d\-T:.,+]+: ")


def _heaps(body: str) -> list[re.Match[str]]:
    """Every ``a->b(c)`` size triple in ``body``; finds the arrows first (a regex that starts
    with digits would be tried at every position of these long lines)."""
    out = []
    i = body.find("->")
    while i >= 0:
        j = i - 1  # the unit letter, then the number before it
        while j > 0 and (body[j - 1].isdigit() or body[j - 1] == "."):
            j -= 1
        m = _HEAP.match(body, j)
        if m is not None:
            out.append(m)
        i = body.find("->", i + 2)
    return out


_TZ_CACHE: dict[str, float] = {}


def _date_stamp(d: str) -> float | None:
    """``2012-10-19T18:28:46.210+0100`` as Unix seconds; the minute is parsed once and cached."""
    key = d[:16] + d[-5:]
    base = _TZ_CACHE.get(key)
    if base is None:
        try:
            base = datetime.fromisoformat(d[:16] + ":00" + d[-5:-2] + ":" + d[-2:]).timestamp()
        except ValueError:
            return None
        if len(_TZ_CACHE) > 10000:
            _TZ_CACHE.clear()
        _TZ_CACHE[key] = base
    try:
        return base + float(d[17:-5].replace(",", "."))
    except ValueError:
        return None


def looks_legacy(sample: str) -> bool:
    """True when one of the first lines is a JDK 8-style GC event line."""
    for line in sample.splitlines()[:200]:
        if _STAMP.match(line) and ("[GC" in line or "[Full GC" in line or "[CMS" in line):
            return True
        if line.startswith(("[GC", "[Full GC")):
            return True
    return False


class LegacyParser:
    """Incremental parser for JDK 8-style logs; :meth:`feed` complete lines, then :meth:`finish`."""

    def __init__(self, path: str = "<input>") -> None:
        self.log = ParsedLog(format="jdk8")
        self.path = path
        self._lineno = 0
        self._seen: dict[str, int] = {}  # collector hints seen in event lines
        self._no_arrow_pauses = 0
        self._last_uptime: float | None = None
        self._hint_budget = 1000
        self._open: list[str] | None = None  # an event whose line ended before its ", N secs]"
        self._open_line = 0

    def feed(self, text: str) -> None:
        for line in text.splitlines():
            self._lineno += 1
            self.log.lines_total += 1
            self._line(line)

    def _line(self, line: str) -> None:
        log = self.log
        if self._open is None:
            fm = _FAST_YOUNG.match(line)
            if fm is not None and self._fast_young(fm.groups()):
                return
        if not line.strip():
            return
        if "OutOfMemoryError" in line:
            log.out_of_memory += 1
        m = _STAMP.match(line)
        is_event = m is not None and ("[GC" in line or "[Full GC" in line or "CMS-" in line)
        if self._open is not None:
            if not is_event:
                # -XX:+PrintTenuringDistribution, PrintTLAB, JDK 6 G1 and CMS split one event over
                # several lines: the event ends at its ", N secs]".
                self._open.append(line.strip())
                if not line.startswith(("Desired survivor", "- age", "TLAB: ")):
                    log.lines_used += 1
                if _END.search(line) or _CONT.match(line):
                    self._close()
                return
            self._close()
        if not is_event:
            self._detail(line)
            return
        assert m is not None
        if not _END.search(line) and ("[GC" in line[m.end() - 1 : m.end() + 12] or "[Full GC" in line[: m.end() + 12]) \
                and not line.rstrip().endswith("]"):
            self._open = [line]
            self._open_line = self._lineno
            return
        self._event(line, m, self._lineno)

    def _fast_young(self, g: tuple[str | None, ...]) -> bool:
        """The most common line of all: one young collection with its generation and heap sizes."""
        date, up, cause, gen, yb, ya, hb, ha, hc, secs = g
        uptime = float(up) if up is not None else None  # type: ignore[arg-type]
        if uptime is not None and self._last_uptime is not None and uptime < self._last_uptime - 1.0:
            return False  # a restart: the general path handles it
        if self._hint_budget:
            self._hint_budget -= 1
            self._seen[gen] = self._seen.get(gen, 0) + 1  # type: ignore[index]
        if uptime is not None:
            self._last_uptime = uptime
        ev = GcEvent("young", "young", uptime, _date_stamp(date) if date else None, None,
                     float(secs) * 1000.0, int(hb) * 1024, int(ha) * 1024, int(hc) * 1024,  # type: ignore[arg-type]
                     cause, int(yb) * 1024, int(ya) * 1024, source=f"{self.path}:{self._lineno}")  # type: ignore[arg-type]
        self.log.events.append(ev)
        self.log.lines_used += 1
        return True

    def _close(self) -> None:
        parts, self._open = self._open, None
        assert parts is not None
        joined = " ".join(p for p in parts if not p.startswith(("Desired survivor", "- age", "TLAB: ")))
        m = _STAMP.match(joined)
        if m is not None:
            self._event(joined, m, self._open_line)

    def _event(self, line: str, m: re.Match[str], lineno: int) -> None:
        log = self.log
        up = m.group("up")
        uptime = float(up.replace(",", ".")) if up else None
        wall = None
        if m.group("date"):
            wall = _date_stamp(m.group("date"))
        if uptime is not None:
            if self._last_uptime is not None and uptime < self._last_uptime - 1.0:
                log.restarts += 1
                log.warnings.append(
                    f"{self.path}:{lineno}: uptime goes back from {self._last_uptime:.3f} s to "
                    f"{uptime:.3f} s (the JVM restarted); summarising the run that starts there, "
                    f"{len(log.events)} earlier events dropped"
                )
                log.events.clear()
            self._last_uptime = uptime
        body = line[m.end() - 1 :]
        if self._hint_budget:  # the first thousand events tell which collector this is
            self._hint_budget -= 1
            self._hints(body)
        kind = self._kind(body)
        if not self._hint_budget and kind in ("initial_mark", "remark", "cycle", "full") and "CMS" in body:
            self._seen["CMS"] = self._seen.get("CMS", 0) + 1  # CMS phases can start after the hint budget
        if kind is None:
            log.lines_used += 1  # a "[Times: ...]" or other known fragment
            return
        if kind == "cycle":
            log.events.append(GcEvent("cycle", "concurrent cycle", uptime, wall, source=f"{self.path}:{lineno}"))
            log.lines_used += 1
            return
        ev = GcEvent(kind, kind, uptime, wall, source=f"{self.path}:{lineno}")
        secs = _SECS.findall(body)
        if secs:
            ev.duration_ms = float(secs[-1].replace(",", ".")) * 1000.0
        for hm in _heaps(body):
            start = hm.start()
            pre = body[max(0, start - 14) : start]
            if pre.endswith(": ") or pre.endswith(":"):
                label = pre.rsplit("[", 1)[-1].split(":")[0].strip()
                if label in _YOUNG_LABELS and ev.young_before_bytes is None:
                    ev.young_before_bytes = to_bytes(hm.group(1), hm.group(2))
                    ev.young_after_bytes = to_bytes(hm.group(3), hm.group(4))
                continue
            if ev.before_bytes is None:
                ev.before_bytes = to_bytes(hm.group(1), hm.group(2))
                ev.after_bytes = to_bytes(hm.group(3), hm.group(4))
                ev.capacity_bytes = to_bytes(hm.group(5), hm.group(6))
        if kind == "full":
            cm = _FULL_CAUSE.search(body)
            if cm:
                ev.cause = cm.group(1)
            elif "concurrent mode failure" in body:
                ev.cause = "concurrent mode failure"
            elif "promotion failed" in body:
                ev.cause = "promotion failed"
        elif kind in ("young", "mixed"):
            cm = _GC_CAUSE.search(body)
            if cm and cm.group(1) not in ("young", "mixed"):
                ev.cause = cm.group(1)
            if "to-space" in body:
                log.to_space_exhausted += 1
        if kind in ("young", "mixed", "full") or ev.before_bytes is not None or ev.duration_ms is not None:
            log.events.append(ev)
        log.lines_used += 1
        if "Heap: " in body:  # G1 pause on one line with -XX:+PrintGCDetails on JDK 7 early
            self._detail(body)

    def _kind(self, body: str) -> str | None:
        if "[Full GC" in body or "concurrent mode failure" in body or "(concurrent mode interrupted)" in body:
            return "full"
        if body.startswith("[GC pause") or "[GC pause" in body[:40]:
            return "mixed" if "(mixed)" in body else "young"
        if "[GC remark" in body or "CMS-remark" in body or "CMS Final Remark" in body:
            return "remark"
        if "[GC cleanup" in body:
            return "cleanup"
        if "CMS-initial-mark" in body or "CMS Initial Mark" in body:
            return "initial_mark"
        if body.startswith("[GC concurrent-mark-start") or body.startswith("[CMS-concurrent-mark-start"):
            return "cycle"
        if body.startswith(("[GC concurrent", "[CMS-concurrent", "[Times")):
            return None
        if body.startswith("[GC"):
            if "->" not in body and _SECS.search(body):
                # CMS without details logs initial mark and remark as "[GC 46468K(83008K), 0.0039 secs]",
                # always in that order.
                self._no_arrow_pauses += 1
                return "initial_mark" if self._no_arrow_pauses % 2 else "remark"
            return "young"
        return None

    def _hints(self, body: str) -> None:
        for hint in ("PSYoungGen", "ParNew", "DefNew", "CMS", "GC pause", "G1", "ParOldGen", "PSOldGen"):
            if hint in body:
                self._seen[hint] = self._seen.get(hint, 0) + 1

    def _detail(self, line: str) -> None:
        log = self.log
        s = line.lstrip()
        if s.startswith("[Eden") or "Heap: " in s and "->" in s:
            ev = log.events[-1] if log.events else None
            hm = _G1_HEAP.search(s)
            if ev is not None and hm is not None and ev.after_bytes is None:
                ev.before_bytes = to_bytes(hm.group(1), hm.group(2))
                ev.after_bytes = to_bytes(hm.group(5), hm.group(6))
                ev.capacity_bytes = to_bytes(hm.group(7), hm.group(8))
                em, sm = _G1_EDEN.search(s), _G1_SURV.search(s)
                if em and sm:
                    ev.young_before_bytes = to_bytes(em.group(1), em.group(2)) + to_bytes(sm.group(1), sm.group(2))
                    ev.young_after_bytes = to_bytes(em.group(3), em.group(4)) + to_bytes(sm.group(3), sm.group(4))
            log.lines_used += 1
            return
        cm = _CONT.match(line)
        if cm is not None:
            for ev in reversed(log.events[-3:]):
                if ev.duration_ms is None and ev.kind != "cycle":
                    ev.duration_ms = float(cm.group(1).replace(",", ".")) * 1000.0
                    break
            log.lines_used += 1
            return
        if line.startswith("CommandLine flags"):
            mm = _MAXHEAP.search(line)
            if mm:
                log.heap_max_bytes = int(mm.group(1))
            for flag, name in (("UseG1GC", "G1"), ("UseConcMarkSweepGC", "CMS"), ("UseParallelGC", "Parallel"),
                               ("UseParallelOldGC", "Parallel"), ("UseSerialGC", "Serial")):
                if "+" + flag in line:
                    log.collector = name
            log.lines_used += 1
            return
        if not line.startswith(_NOISE_PREFIXES) and not _STAMPISH.match(line):
            log.lines_unknown += 1

    def finish(self) -> ParsedLog:
        log = self.log
        if self._open is not None:  # the last event was cut short: keep what it says
            self._close()
        if log.collector is None:
            seen = self._seen
            if "GC pause" in seen or "G1" in seen:
                log.collector = "G1"
            elif "PSYoungGen" in seen or "ParOldGen" in seen or "PSOldGen" in seen:
                log.collector = "Parallel"
            elif "CMS" in seen or "ParNew" in seen:
                log.collector = "CMS"
            elif "DefNew" in seen:
                log.collector = "Serial"
            elif self._no_arrow_pauses:  # "[GC 46468K(83008K), ...]": CMS initial mark/remark without details
                log.collector = "CMS"
        if log.heap_max_bytes is None:
            caps = [e.capacity_bytes for e in log.events if e.capacity_bytes]
            if caps:
                log.heap_max_bytes = max(caps)
        # Events completed on one line are in order; a pause split across lines may not be.
        return log
