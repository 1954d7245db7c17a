"""JVM thread dumps: parse them, and say what an expert says after reading them.

Reads the text that ``jstack -l PID``, ``jcmd PID Thread.print -l`` and ``kill -3`` (the JVM writes
it to its stdout, so it sits inside a container or application log, between other lines) produce,
and JDK 21+'s ``jcmd PID Thread.dump_to_file -format=json FILE`` (virtual threads included). One
file may hold several dumps; several files of one JVM are read together in time order.

:func:`summarize` answers the questions a stuck or saturated JVM raises:

- states overall and per pool (pools found by name: ``http-nio-8080-exec-*``,
  ``pool-1-thread-*``, ``ForkJoinPool.commonPool-worker-*``) with busy/total, where a thread is
  idle when it waits for work in its pool (``ThreadPoolExecutor.getTask``, Tomcat's
  ``TaskQueue.take``, ``ForkJoinPool.awaitWork``, …);
- deadlocks, from the JVM's own "Found one Java-level deadlock" section and, independently, from
  cycles in the lock graph (``- locked``/``- waiting to lock``/``- parking to wait for`` and the
  ownable synchronizers ``-l`` adds), naming each thread, the lock it holds, the lock it wants and
  the frame where it waits;
- contention: the locks with the most waiters, their holder and its top frames;
- hot stacks: identical top frames shared by many busy threads (the answer to "the pool is
  exhausted, waiting for what");
- across dumps: threads stuck in the same frames in every dump, thread-count growth per pool
  (a leak) and new pools.

Lines that are not part of a dump are skipped and counted; a dump cut short is used as far as it
goes and marked ``partial``. Every list is bounded and ``left_out`` says how much was not shown.

Example::

    >>> from ctxgrab.analysis.threaddump import parse_thread_dumps, summarize
    >>> text = ('2026-03-02 11:59:00\\nFull thread dump OpenJDK 64-Bit Server VM (17.0.10+7 mixed mode):\\n\\n'
    ...         '"main" #1 prio=5 os_prio=0 cpu=10.00ms elapsed=60.00s tid=0x1 nid=0x2 runnable [0x3]\\n'
    ...         '   java.lang.Thread.State: RUNNABLE\\n\\tat Main.main(Main.java:3)\\n\\n'
    ...         'JNI global refs: 7, weak refs: 0\\n')
    >>> s = summarize(parse_thread_dumps([("a.txt", text)]))
    >>> s["dumps"][0]["threads"], s["states"]
    (1, {'RUNNABLE': 1})
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError

__all__ = [
    "ThreadInfo",
    "ThreadDump",
    "parse_text",
    "parse_json",
    "parse_thread_dumps",
    "read_thread_dump_files",
    "summarize",
    "pool_of",
    "MAX_FILE_BYTES",
]

# --- bounds (docs/signals.md quotes them) ---
MAX_FILE_BYTES = 64 << 20  # a 10,000-thread dump is ~7 MiB; of a bigger file (a long log) the last 64 MiB are read
MAX_FRAMES = 64  # frames kept per thread; the rest are counted
MAX_THREADS = 200_000  # threads kept per dump
HOT_FRAMES = 8  # frames that make two stacks "the same"
HOT_MIN_THREADS = 3  # a stack shared by this many busy threads is hot
EXHAUSTED_MIN_THREADS = 4  # pools smaller than this are not called exhausted
EXHAUSTED_SHARE = 0.9  # busy/total at or above this is exhausted
LEAK_MIN_GROWTH = 5  # a pool must gain this many threads ...
LEAK_MIN_RATIO = 0.2  # ... and this share of its first count, never shrinking, to be a leak
SHOW_POOLS, SHOW_HOT, SHOW_LOCKS, SHOW_DEADLOCKS, SHOW_STUCK, SHOW_NAMES = 12, 5, 5, 5, 8, 6

STATES = ("RUNNABLE", "BLOCKED", "WAITING", "TIMED_WAITING", "NEW", "TERMINATED")

# Frames where a pool thread waits for work: such a thread is idle, any other is busy.
_IDLE_FRAMES = (
    "java.util.concurrent.ThreadPoolExecutor.getTask",
    "java.util.concurrent.ForkJoinPool.awaitWork",
    "java.util.concurrent.ForkJoinPool.runWorker",  # only reached at the top when parked for work
    "java.util.concurrent.ScheduledThreadPoolExecutor$DelayedWorkQueue.take",
    "org.apache.tomcat.util.threads.TaskQueue.take",
    "org.apache.tomcat.util.threads.TaskQueue.poll",
    "org.eclipse.jetty.util.thread.QueuedThreadPool",
    "io.netty.channel.nio.NioEventLoop.select",
    "io.netty.channel.epoll.EpollEventLoop.epollWait",
    "io.netty.util.concurrent.SingleThreadEventExecutor.takeTask",
    "java.util.concurrent.SynchronousQueue",
    "java.lang.ref.Reference.waitForReferencePendingList",
    "java.lang.ref.ReferenceQueue.remove",
)
# Frames of a pool's run loop: threads with one are workers of an executor, so a pool of them can be exhausted.
_WORKER_FRAMES = (
    "java.util.concurrent.ThreadPoolExecutor.runWorker",
    "java.util.concurrent.ForkJoinWorkerThread.run",
    "org.apache.tomcat.util.threads.TaskThread",
    "org.apache.tomcat.util.threads.ThreadPoolExecutor.runWorker",
    "org.eclipse.jetty.util.thread.QueuedThreadPool",
    "io.netty.util.concurrent.SingleThreadEventExecutor",
    "io.undertow.",
    "org.xnio.XnioWorker",
    "java.util.concurrent.ThreadPerTaskExecutor",
)
# Machinery frames: skipped when naming where a thread waits.
_JDK_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.")
_LOCK_CLASSES = re.compile(r"ReentrantLock|ReentrantReadWriteLock|Semaphore|StampedLock")
_CONNECTION = re.compile(r"getConnection|ConnectionPool|HikariPool|com\.zaxxer\.hikari|dbcp|c3p0|"
                         r"tomcat\.jdbc\.pool|r2dbc\.pool|JedisPool|GenericObjectPool\.borrowObject", re.I)

# --- text grammar ---
_HEADER = re.compile(r'^"(?P<name>.*)"\s+(?:#(?P<num>\d+)\s+)?(?:\[\d+\]\s+)?(?P<daemon>daemon\s+)?'
                     r'(?P<rest>(?:prio=|os_prio=|cpu=|tid=).*)$')
_ELAPSED = re.compile(r"\belapsed=([\d.]+)s")
_CPU = re.compile(r"\bcpu=([\d.]+)ms")
_TID = re.compile(r"\btid=(0x[0-9a-f]+)")
_NID = re.compile(r"\bnid=(0x[0-9a-f]+|\d+)")
_STATE = re.compile(r"^\s*java\.lang\.Thread\.State: (\w+)(?: \((.*)\))?")
_LOCK = re.compile(r"^\s*- (locked|waiting to lock|waiting on|parking to wait for|eliminated|"
                   r"waiting to re-lock in wait\(\))\s+<(0x[0-9a-f]+)>\s*(?:\(a (.*)\))?")
_OWNED = re.compile(r"^\s*- <(0x[0-9a-f]+)>\s*(?:\(a (.*)\))?")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
# Container runtimes prefix every line: CRI ("2026-03-02T11:59:00.1Z stdout F "), docker --timestamps.
_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)(?: (?:stdout|stderr) [FP])? ")
_MODULE = re.compile(r"\((?:[\w.$-]+@[\w.+-]+|[\w.$-]+)/")  # "(java.base@17.0.15/Thread.java:840)"
_DL_THREAD = re.compile(r'^"(.*)":\s*$')
_DL_WAIT = re.compile(r"^\s+waiting (?:to lock monitor|to lock|for ownable synchronizer) (0x[0-9a-f]+)[, ]*"
                      r"(?:\(object (0x[0-9a-f]+), a (.*?)\)|\(a (.*?)\))?,?\s*$")
_DL_HELD = re.compile(r'^\s+which is held by "(.*)"\s*$')
# RUNNABLE in these native frames is a thread waiting for input (a listener, stdin), not a stuck one.
_WAITING_FOR_INPUT = re.compile(r"accept|epoll|select|\.poll|FileInputStream\.read|waitForReferencePendingList", re.I)
_TRAILING_NUM = re.compile(r"(?<=[-_#.\s])\d+$|(?<=[a-zA-Z])\d+$")


@dataclass(slots=True)
class ThreadInfo:
    """One thread of one dump."""

    name: str
    tid: str | None = None
    state: str | None = None  # RUNNABLE, BLOCKED, WAITING, TIMED_WAITING; None for VM-internal threads
    detail: str | None = None  # "parking", "on object monitor", "sleeping"
    daemon: bool = False
    virtual: bool = False
    frames: list[str] = field(default_factory=list)
    frames_dropped: int = 0
    # (frame index, action, address, class): action is locked / waiting to lock / waiting on / parking
    locks: list[tuple[int, str, str, str]] = field(default_factory=list)
    owned: list[tuple[str, str]] = field(default_factory=list)  # ownable synchronizers (-l)
    elapsed_s: float | None = None
    cpu_ms: float | None = None
    container: str | None = None  # JSON dumps: the thread container


@dataclass(slots=True)
class ThreadDump:
    """One dump: its threads, the JVM's own deadlock report, and what could not be read."""

    source: str
    index: int = 0  # position in its file
    time: datetime | None = None
    vm: str | None = None
    fmt: str = "text"
    threads: list[ThreadInfo] = field(default_factory=list)
    jvm_deadlocks: list[list[dict[str, str]]] = field(default_factory=list)
    partial: bool = False
    warnings: list[str] = field(default_factory=list)
    foreign_lines: int = 0  # lines inside the dump that are not dump text (application output)
    foreign_examples: list[str] = field(default_factory=list)
    threads_dropped: int = 0

    @property
    def uptime_s(self) -> float | None:
        """The JVM's uptime when the dump was taken: the oldest thread's ``elapsed=``."""
        vals = [t.elapsed_s for t in self.threads if t.elapsed_s is not None]
        return max(vals) if vals else None


def _short_frame(frame: str) -> str:
    """``java.lang.Thread.run(java.base@17.0.15/Thread.java:840)`` → ``java.lang.Thread.run(Thread.java:840)``."""
    return _MODULE.sub("(", frame, count=1) if "/" in frame else frame


def pool_of(name: str) -> str:
    """The pool a thread belongs to, from its name: the trailing number becomes ``*``.

    >>> pool_of("http-nio-8080-exec-12"), pool_of("pool-1-thread-3"), pool_of("GC Thread#0")
    ('http-nio-8080-exec-*', 'pool-1-thread-*', 'GC Thread#*')
    >>> pool_of("HikariPool-1 connection adder"), pool_of("C2 CompilerThread0")
    ('HikariPool-1 connection adder', 'C2 CompilerThread*')
    """
    if not name:
        return "(unnamed)"
    return _TRAILING_NUM.sub("*", name, count=1)


def _decode(raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    return raw.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- text dumps


def parse_text(text: str, source: str = "<text>") -> list[ThreadDump]:
    """Every dump in ``text`` (one file: a jstack/jcmd output or a log with kill -3 dumps inside).

    Thread blocks outside a "Full thread dump" header (a pasted excerpt) form one dump.
    """
    dumps: list[ThreadDump] = []
    cur: ThreadDump | None = None
    th: ThreadInfo | None = None
    last_stamp: str | None = None
    section = "none"  # none | threads | deadlock | deadlock_stacks | after
    dl_current: list[dict[str, str]] = []
    dl_entry: dict[str, str] = {}
    in_owned = False
    outside = 0
    frames_seen: dict[str, str] = {}

    def finish_thread() -> None:
        nonlocal th
        if th is not None and cur is not None:
            if len(cur.threads) < MAX_THREADS:
                cur.threads.append(th)
            else:
                cur.threads_dropped += 1
        th = None

    def finish_dump(ended: bool) -> None:
        nonlocal cur
        finish_thread()
        if cur is None:
            return
        if dl_current:
            cur.jvm_deadlocks.append(list(dl_current))
            dl_current.clear()
        if not ended:
            cur.partial = True
            cur.warnings.append(f"dump {cur.index + 1} of {source} ends before its end marker "
                                f"(JNI global refs): cut short; {len(cur.threads)} threads read")
        dumps.append(cur)
        cur = None

    for raw in text.splitlines():
        line = raw
        if line[:4].isdigit() and _PREFIX.match(line):
            line = _PREFIX.sub("", line, count=1)
        if not line or line.isspace():
            continue
        c0 = line[0]
        if c0 == "\t" or c0 == " ":
            s = line.lstrip()
            if section == "threads" and th is not None:
                if s.startswith("at "):
                    if len(th.frames) < MAX_FRAMES:
                        # Threads of one pool share their frames: shorten each distinct one once.
                        f = frames_seen.get(s)
                        if f is None:
                            f = frames_seen[s] = _short_frame(s[3:])
                        th.frames.append(f)
                    else:
                        th.frames_dropped += 1
                    continue
                if s.startswith("- "):
                    if in_owned:
                        if s.startswith("- None"):
                            continue
                        m = _OWNED.match(s)
                        if m:
                            th.owned.append((m.group(1), m.group(2) or ""))
                            continue
                    m = _LOCK.match(s)
                    if m:
                        action = "parking" if m.group(1) == "parking to wait for" else m.group(1)
                        th.locks.append((max(len(th.frames) - 1, 0), action, m.group(2), m.group(3) or ""))
                        continue
                    if s.startswith("- waiting on <no object reference available>"):
                        continue
                if s.startswith("java.lang.Thread.State:"):
                    m = _STATE.match(s)
                    if m:
                        th.state, th.detail = m.group(1), m.group(2)
                    continue
                if s.startswith("Locked ownable synchronizers:"):
                    in_owned = True
                    continue
                if s.startswith(("No compile task", "Compiling:", "Carrying virtual thread")):
                    continue
            elif section == "deadlock":
                m = _DL_WAIT.match(line)
                if m and dl_entry:
                    dl_entry["lock"] = m.group(2) or m.group(1)
                    dl_entry["lock_class"] = m.group(3) or m.group(4) or ""
                    continue
                m = _DL_HELD.match(line)
                if m and dl_entry:
                    dl_entry["held_by"] = m.group(1)
                    continue
                continue
            elif section in ("deadlock_stacks", "after"):
                continue
            if cur is not None:
                cur.foreign_lines += 1
                if len(cur.foreign_examples) < 3:
                    cur.foreign_examples.append(line[:120])
            else:
                outside += 1
            continue
        # column 0
        if c0 == '"':
            if section in ("deadlock", "deadlock_stacks"):
                m = _DL_THREAD.match(line)
                if m:
                    if section == "deadlock":
                        dl_entry = {"thread": m.group(1)}
                        dl_current.append(dl_entry)
                    continue
            m = _HEADER.match(line)
            if m:
                if cur is None:
                    cur = ThreadDump(source=source, index=len(dumps))
                    cur.warnings.append("no 'Full thread dump' header: thread blocks read as one dump")
                if section in ("deadlock", "deadlock_stacks", "after"):
                    # threads after the end marker: a second dump without its header
                    finish_dump(True)
                    cur = ThreadDump(source=source, index=len(dumps))
                finish_thread()
                section = "threads"
                in_owned = False
                rest = m.group("rest")
                th = ThreadInfo(name=m.group("name"), daemon=bool(m.group("daemon")))
                mt = _TID.search(rest)
                th.tid = m.group("num") or (mt.group(1) if mt else None)
                me = _ELAPSED.search(rest)
                if me:
                    th.elapsed_s = float(me.group(1))
                mc = _CPU.search(rest)
                if mc:
                    th.cpu_ms = float(mc.group(1))
                continue
        if line.startswith("Full thread dump"):
            if cur is not None:
                finish_dump(section in ("after", "deadlock", "deadlock_stacks"))
            cur = ThreadDump(source=source, index=len(dumps), vm=line[len("Full thread dump"):].strip(" :"))
            if last_stamp:
                try:
                    cur.time = datetime.strptime(last_stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
                except ValueError:
                    pass
            section = "threads"
            last_stamp = None
            continue
        m = _STAMP.match(line)
        if m:
            last_stamp = m.group(1)
            continue
        if cur is not None:
            if line.startswith("JNI global refs"):
                finish_thread()
                section = "after"
                continue
            if line.startswith("Threads class SMR info") or line.startswith("_java_thread_list") or \
                    line.startswith("0x") or line == "}":
                continue
            if line.startswith("Found one Java-level deadlock") or line.startswith("Found a total of"):
                finish_thread()
                if dl_current:
                    cur.jvm_deadlocks.append(list(dl_current))
                    dl_current.clear()
                section = "deadlock" if line.startswith("Found one") else "after"
                continue
            if section == "deadlock" and line.startswith("Java stack information"):
                cur.jvm_deadlocks.append(list(dl_current))
                dl_current.clear()
                section = "deadlock_stacks"
                continue
            if line.startswith("Found ") and "deadlock" in line:
                section = "after"  # "Found 2 deadlocks.": the end of the JVM's report
                continue
            if line.startswith("====="):
                continue
            if section == "after" and (line.startswith("Heap") or line.startswith(" ")):
                continue
            # A column-0 line that is not dump text: application output interleaved (kill -3).
            # The thread block goes on after it: kill -3 output and the application's share one stdout.
            if section == "threads":
                cur.foreign_lines += 1
                if len(cur.foreign_examples) < 3:
                    cur.foreign_examples.append(line[:120])
            continue
        last_stamp = None
        outside += 1
    if cur is not None:
        if section in ("deadlock", "deadlock_stacks"):
            cur.partial = True
            cur.warnings.append(f"dump {cur.index + 1} of {source}: the JVM's deadlock report is cut short; "
                                "every thread was read")
        finish_dump(section in ("after", "deadlock", "deadlock_stacks"))
    for d in dumps:
        if d.foreign_lines:
            what = "1 line" if d.foreign_lines == 1 else f"{d.foreign_lines:,} lines"
            d.warnings.append(f"{what} inside dump {d.index + 1} of {source} {'is' if d.foreign_lines == 1 else 'are'} "
                              "not thread-dump text (application output interleaved) and skipped")
        if d.threads_dropped:
            d.partial = True
            d.warnings.append(f"{d.threads_dropped:,} threads beyond {MAX_THREADS:,} not read")
    return dumps


# --------------------------------------------------------------------------- JSON dumps (JDK 21+)


_JSON_MODULE = re.compile(r"^[\w.$-]*(?:@[\w.+-]+)?/+(?=[\w$]+\.)")  # "java.base/", "app//", "m@1.0/"


def _json_thread(obj: dict[str, Any], container: str | None) -> ThreadInfo:
    name = str(obj.get("name") or "")
    stack = obj.get("stack") or []
    tid = str(obj.get("tid")) if obj.get("tid") is not None else None
    virtual = str(obj.get("virtual", "")).lower() == "true" or (not name and container not in (None, "<root>"))
    # Virtual threads usually have no name: the tid tells them apart.
    th = ThreadInfo(name=name or f"#{tid or '?'}", tid=tid, container=container, virtual=virtual)
    st = obj.get("state")
    # Only a state name is a state: anything else in a damaged or forged file is no state at all.
    th.state = str(st) if isinstance(st, str) and re.fullmatch(r"[A-Z_]{3,20}", st) else None
    for f in stack[:MAX_FRAMES]:
        f = str(f)
        th.frames.append(_JSON_MODULE.sub("", f, count=1) if "/" in f.split("(", 1)[0] else f)
    th.frames_dropped = max(0, len(stack) - MAX_FRAMES)
    blocked = obj.get("blockedOn")
    if blocked:
        th.locks.append((0, "waiting to lock", str(blocked), str(blocked).split("@")[0]))
    pb = obj.get("parkBlocker")
    if isinstance(pb, dict) and pb.get("object"):
        th.locks.append((0, "parking", str(pb["object"]), str(pb["object"]).split("@")[0]))
    for mon in obj.get("monitorsOwned") or []:
        if isinstance(mon, dict):
            for lk in mon.get("locks") or []:
                try:
                    depth = int(mon.get("depth", 0))
                except (TypeError, ValueError):
                    depth = 0
                th.locks.append((depth, "locked", str(lk), str(lk).split("@")[0]))
    return th


def parse_json(text: str, source: str = "<json>") -> list[ThreadDump]:
    """A ``Thread.dump_to_file -format=json`` dump; a cut-short file keeps the threads it holds."""
    dump = ThreadDump(source=source, fmt="json")
    try:
        doc = json.loads(text)
        td = doc["threadDump"]
        containers = td["threadContainers"]
        if not isinstance(containers, list):
            raise TypeError("threadContainers is not a list")
    except (ValueError, KeyError, TypeError) as e:
        return [_salvage_json(text, source, str(e))]
    _json_header(dump, td)
    for c in containers:
        if not isinstance(c, dict):
            continue
        cname = str(c.get("container") or "<root>")
        for t in c.get("threads") or []:
            if isinstance(t, dict):
                dump.threads.append(_json_thread(t, cname))
    return [dump]


def _json_header(dump: ThreadDump, td: dict[str, Any]) -> None:
    if td.get("time"):
        try:
            dump.time = datetime.fromisoformat(str(td["time"]).replace("Z", "+00:00"))
            if dump.time.tzinfo is None:
                dump.time = dump.time.replace(tzinfo=timezone.utc)
        except ValueError:
            dump.warnings.append(f"unreadable time {str(td['time'])[:40]!r}")
    dump.vm = f"runtime {td['runtimeVersion']}" if td.get("runtimeVersion") else None


def _salvage_json(text: str, source: str, why: str) -> ThreadDump:
    """Threads of a damaged JSON dump: every complete ``{"tid": …}`` object that still decodes."""
    dump = ThreadDump(source=source, fmt="json", partial=True)
    dec = json.JSONDecoder()
    m = re.search(r'"time"\s*:\s*"([^"]+)"', text[:4096])
    if m:
        _json_header(dump, {"time": m.group(1)})
    container = None
    for hit in re.finditer(r'"container"\s*:\s*"([^"]*)"|\{\s*"tid"', text):
        if hit.group(1) is not None:
            container = hit.group(1)
            continue
        try:
            obj, _ = dec.raw_decode(text, hit.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            dump.threads.append(_json_thread(obj, container))
    dump.warnings.append(f"{source}: not a complete JSON thread dump ({why[:120]}); "
                         f"{len(dump.threads)} threads recovered from what is readable")
    return dump


# --------------------------------------------------------------------------- files


def parse_thread_dumps(texts: Iterable[tuple[str, str]]) -> list[ThreadDump]:
    """Dumps from ``(source, text)`` pairs, JSON or text by content, sorted by time (then file order)."""
    out: list[ThreadDump] = []
    for source, text in texts:
        head = text.lstrip()[:200]
        if head.startswith("{") and '"threadDump"' in text[:4096]:
            out.extend(parse_json(text, source))
        else:
            out.extend(parse_text(text, source))
    order = {id(d): i for i, d in enumerate(out)}
    timed = all(d.time is not None for d in out)
    if timed:
        out.sort(key=lambda d: (d.time, d.uptime_s or 0.0, order[id(d)]))
    return out


def read_thread_dump_files(paths: Iterable[str | Path]) -> list[ThreadDump]:
    """Read and parse files; an unreadable or oversized file is an :class:`InputError` naming it."""
    import gzip
    import zlib

    texts = []
    tails: dict[str, str] = {}
    for p in paths:
        p = Path(p)
        try:
            size = p.stat().st_size
            with open(p, "rb") as fh:
                gz = fh.read(2) == b"\x1f\x8b"
                fh.seek(0)
                if gz:
                    with gzip.open(fh) as z:
                        raw = z.read(MAX_FILE_BYTES + 1)
                    size = len(raw)
                elif size > MAX_FILE_BYTES:
                    fh.seek(size - MAX_FILE_BYTES)
                    raw = fh.read(MAX_FILE_BYTES)
                else:
                    raw = fh.read()
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise InputError(f"{p}: damaged gzip: {e}") from None
        except OSError as e:
            raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
        if len(raw) > MAX_FILE_BYTES or size > MAX_FILE_BYTES:
            # A long log: its newest dumps are at the end.
            raw = raw[-MAX_FILE_BYTES:]
            raw = raw[raw.find(b"\n") + 1:]
            tails[str(p)] = (f"{p}: larger than {MAX_FILE_BYTES >> 20} MiB; only its last "
                             f"{MAX_FILE_BYTES >> 20} MiB were read")
        texts.append((str(p), _decode(raw)))
    dumps = parse_thread_dumps(texts)
    for src, note in tails.items():
        first = next((d for d in dumps if d.source == src), None)
        if first is not None:
            first.partial = True
            first.warnings.insert(0, note)
    return dumps


# --------------------------------------------------------------------------- analysis


def _is_jdk(frame: str) -> bool:
    return frame.startswith(_JDK_PREFIXES)


def _is_idle(th: ThreadInfo) -> bool:
    for f in th.frames[:14]:
        if f.startswith(_IDLE_FRAMES):
            return True
    return False


def _app_frames(th: ThreadInfo, n: int = 3) -> list[str]:
    """The first ``n`` frames outside the JDK (where the application waits); the top frame if none."""
    out = [f for f in th.frames if not _is_jdk(f)][:n]
    return out or th.frames[:1]


def _method(frame: str) -> str:
    """``com.acme.Cache.get(Cache.java:12)`` → ``Cache.get``."""
    head = frame.split("(", 1)[0]
    parts = head.rsplit(".", 2)
    return ".".join(parts[-2:]) if len(parts) >= 2 else head


def _wait_frame(th: ThreadInfo, lock_index: int | None = None) -> str | None:
    """The frame where a thread waits: the frame its ``waiting to lock`` line is under, else the first app frame."""
    if lock_index is not None and lock_index < len(th.frames):
        f = th.frames[lock_index]
        if not _is_jdk(f):
            return f
    app = _app_frames(th, 1)
    return app[0] if app else None


def _java_threads(d: ThreadDump) -> list[ThreadInfo]:
    return [t for t in d.threads if t.state is not None or t.frames]


def _lock_graph(d: ThreadDump) -> tuple[dict[str, ThreadInfo], dict[str, tuple[str, str, int, str]]]:
    """holder by lock address, and for each waiting thread (by name) the lock it wants."""
    holders: dict[str, ThreadInfo] = {}
    wants: dict[str, tuple[str, str, int, str]] = {}
    for t in d.threads:
        waiting_on = {a for _, act, a, _ in t.locks if act == "waiting on"}
        for idx, act, addr, cls in t.locks:
            if act == "locked" and addr not in waiting_on:
                holders.setdefault(addr, t)
            elif act in ("waiting to lock", "parking") and t.name not in wants:
                wants[t.name] = (addr, cls, idx, act)
        for addr, _cls in t.owned:
            holders.setdefault(addr, t)
    return holders, wants


def _deadlock_cycles(d: ThreadDump) -> list[list[dict[str, Any]]]:
    holders, wants = _lock_graph(d)
    by_name = {t.name: t for t in d.threads}
    cycles: list[list[dict[str, Any]]] = []
    seen: set[str] = set()
    for start in sorted(wants):
        path: list[str] = []
        pos: dict[str, int] = {}
        cur: str | None = start
        while cur is not None and cur in wants and cur not in pos and cur not in seen:
            pos[cur] = len(path)
            path.append(cur)
            holder = holders.get(wants[cur][0])
            cur = holder.name if holder is not None and holder.name != cur else None
        if cur is not None and cur in pos:
            ring = path[pos[cur]:]
            entries = []
            for i, name in enumerate(ring):
                t = by_name[name]
                addr, cls, idx, act = wants[name]
                prev = ring[i - 1]
                held = wants[prev]
                entries.append({
                    "thread": name,
                    "state": t.state,
                    "wants": {"lock": addr, "class": cls},
                    "holds": {"lock": held[0], "class": held[1]},
                    "waits_in": _wait_frame(t, idx if act == "waiting to lock" else None),
                    "frames": t.frames[:6],
                })
            cycles.append(entries)
        seen.update(path)
    return cycles


def _deadlocks(d: ThreadDump) -> list[dict[str, Any]]:
    """Deadlocks found by the lock graph, matched with the JVM's own report."""
    out = []
    graph = _deadlock_cycles(d)
    jvm_sets = [frozenset(e["thread"] for e in dl) for dl in d.jvm_deadlocks if dl]
    by_name = {t.name: t for t in d.threads}
    matched: set[frozenset[str]] = set()
    for cyc in graph:
        names = frozenset(e["thread"] for e in cyc)
        found_by = ["lock graph"]
        if names in jvm_sets:
            found_by.insert(0, "JVM")
            matched.add(names)
        out.append({"threads": cyc, "found_by": found_by})
    for dl in d.jvm_deadlocks:
        names = frozenset(e["thread"] for e in dl)
        if not dl or names in matched:
            continue
        entries = []
        holds = {e.get("held_by"): e for e in dl}  # what a thread holds is what its waiter wants
        for e in dl:
            t = by_name.get(e["thread"])
            held = holds.get(e["thread"]) or {}
            entries.append({
                "thread": e["thread"],
                "state": t.state if t else None,
                "wants": {"lock": e.get("lock"), "class": e.get("lock_class", "")},
                "holds": {"lock": held.get("lock"), "class": held.get("lock_class", "")},
                "waits_in": _wait_frame(t) if t else None,
                "frames": t.frames[:6] if t else [],
            })
        out.append({"threads": entries, "found_by": ["JVM"]})
    return out


def _contention(d: ThreadDump) -> list[dict[str, Any]]:
    holders, _ = _lock_graph(d)
    waiters: dict[str, list[ThreadInfo]] = defaultdict(list)
    classes: dict[str, str] = {}
    for t in d.threads:
        for _idx, act, addr, cls in t.locks:
            if act == "waiting to lock" or (act == "parking" and (addr in holders or _LOCK_CLASSES.search(cls))):
                waiters[addr].append(t)
                classes[addr] = cls
                break
    out = []
    for addr, ws in waiters.items():
        h = holders.get(addr)
        out.append({
            "lock": addr,
            "class": classes[addr],
            "waiters": len(ws),
            "waiter_names": [w.name for w in ws[:SHOW_NAMES]],
            "waiters_in": Counter(_wait_frame(w) or "?" for w in ws).most_common(1)[0][0],
            "holder": h.name if h else None,
            "holder_state": h.state if h else None,
            "holder_frames": h.frames[:5] if h else [],
        })
    out.sort(key=lambda r: (-r["waiters"], r["lock"]))
    return out


def _thread_wait(t: ThreadInfo, holders: dict[str, ThreadInfo]) -> dict[str, Any]:
    """What one busy thread waits on: its state, the lock (and holder) if any, and where."""
    for idx, act, addr, cls in t.locks:
        if act in ("waiting to lock", "parking"):
            h = holders.get(addr)
            return {"state": t.state, "lock_class": cls, "lock": addr, "holder": h.name if h else None,
                    "frame": _wait_frame(t, idx if act == "waiting to lock" else None)}
    return {"state": t.state, "lock_class": None, "lock": None, "holder": None, "frame": _wait_frame(t)}


def _pool_key(t: ThreadInfo) -> str:
    if t.virtual:
        return f"virtual threads in {(t.container or '?').split('@')[0].split('/')[0]}"
    return pool_of(t.name)


def _pools(d: ThreadDump) -> list[dict[str, Any]]:
    holders, _ = _lock_graph(d)
    groups: dict[str, list[ThreadInfo]] = defaultdict(list)
    for t in _java_threads(d):
        groups[_pool_key(t)].append(t)
    out = []
    for pool, ts in groups.items():
        busy = [t for t in ts if not _is_idle(t)]
        states = Counter(t.state or "UNKNOWN" for t in ts)
        worker = any(t.virtual or any(f.startswith(_WORKER_FRAMES) for f in t.frames) for t in ts[:20])
        entry: dict[str, Any] = {"pool": pool, "total": len(ts), "busy": len(busy), "idle": len(ts) - len(busy),
                                 "states": dict(sorted(states.items())), "virtual": sum(t.virtual for t in ts),
                                 "workers": worker}
        if busy:
            waits = Counter()
            example: dict[tuple, dict[str, Any]] = {}
            for t in busy:
                w = _thread_wait(t, holders)
                key = (w["state"], w["lock_class"], w["frame"])
                waits[key] += 1
                example.setdefault(key, w)
            key, n = waits.most_common(1)[0]
            top = dict(example[key])
            top["threads"] = n
            top["on_connections"] = bool(
                any(_CONNECTION.search(f) for t in busy[:50] for f in _app_frames(t, 4)
                    if (t.state, _thread_wait(t, holders)["frame"]) == (key[0], key[2])))
            entry["top_wait"] = top
        out.append(entry)
    out.sort(key=lambda p: (-p["total"], p["pool"]))
    return out


def _hot_stacks(d: ThreadDump) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], list[ThreadInfo]] = defaultdict(list)
    for t in _java_threads(d):
        if t.frames and not _is_idle(t):
            groups[tuple(t.frames[:HOT_FRAMES])].append(t)
    out = []
    for frames, ts in groups.items():
        if len(ts) < HOT_MIN_THREADS:
            continue
        pools = Counter(_pool_key(t) for t in ts)
        out.append({"threads": len(ts), "states": dict(Counter(t.state or "UNKNOWN" for t in ts)),
                    "pools": dict(pools.most_common(3)), "pool_totals": {},
                    "frames": list(frames), "app_frames": _app_frames(ts[0]),
                    "names": [t.name for t in ts[:SHOW_NAMES]]})
    out.sort(key=lambda h: (-h["threads"], h["frames"]))
    return out


def _key(t: ThreadInfo) -> tuple[str, str | None]:
    return (t.name, t.tid)


def _across(dumps: list[ThreadDump]) -> dict[str, Any] | None:
    if len(dumps) < 2:
        return None
    first, last = dumps[0], dumps[-1]
    span_s = None
    if first.uptime_s is not None and last.uptime_s is not None and last.uptime_s > first.uptime_s:
        span_s = last.uptime_s - first.uptime_s
    elif first.time and last.time and last.time > first.time:
        span_s = (last.time - first.time).total_seconds()
    # threads stuck: the same busy stack in every dump
    per_dump = [{_key(t): t for t in _java_threads(d)} for d in dumps]
    stuck_groups: dict[tuple[str, ...], list[ThreadInfo]] = defaultdict(list)
    for k, t in per_dump[-1].items():
        if not t.frames or _is_idle(t) or (t.state == "RUNNABLE" and _WAITING_FOR_INPUT.search(t.frames[0])):
            continue
        top = tuple(t.frames[:HOT_FRAMES])
        if all(k in pd and tuple(pd[k].frames[:HOT_FRAMES]) == top for pd in per_dump[:-1]):
            stuck_groups[top].append(t)
    stuck = [{"threads": len(ts), "state": ts[0].state, "frame": _wait_frame(ts[0]), "frames": list(top[:5]),
              "names": [t.name for t in ts[:SHOW_NAMES]]}
             for top, ts in stuck_groups.items()]
    stuck.sort(key=lambda s: (-s["threads"], s["frames"]))
    # pool growth
    counts = [Counter(_pool_key(t) for t in _java_threads(d)) for d in dumps]
    growth = []
    for pool in set(counts[-1]) | set(counts[0]):
        series = [c.get(pool, 0) for c in counts]
        delta = series[-1] - series[0]
        if delta == 0:
            continue
        monotonic = all(b >= a for a, b in zip(series, series[1:]))
        leak = (delta >= LEAK_MIN_GROWTH and delta >= LEAK_MIN_RATIO * max(series[0], 1) and monotonic)
        growth.append({"pool": pool, "counts": series, "delta": delta, "leak": leak,
                       "per_minute": (delta / span_s * 60) if span_s else None})
    growth.sort(key=lambda g: (-g["delta"], g["pool"]))
    new_pools = sorted(p for p in counts[-1] if p not in counts[0] and counts[-1][p] >= 2)
    totals = [len(_java_threads(d)) for d in dumps]
    return {"dumps": len(dumps), "span_s": span_s, "totals": totals, "stuck": stuck, "growth": growth,
            "new_pools": new_pools}


def _dump_info(d: ThreadDump) -> dict[str, Any]:
    return {"source": d.source, "index": d.index, "format": d.fmt,
            "time": d.time.isoformat().replace("+00:00", "Z") if d.time else None,
            "uptime_s": d.uptime_s, "vm": d.vm, "threads": len(_java_threads(d)),
            "vm_internal_threads": len(d.threads) - len(_java_threads(d)), "partial": d.partial}


def _bounded(items: list[Any], n: int, what: str, left_out: dict[str, int]) -> list[Any]:
    if len(items) > n:
        left_out[what] = len(items) - n
    return items[:n]


def summarize(dumps: list[ThreadDump]) -> dict[str, Any]:
    """The summary of one JVM's dumps (time order): the latest dump analysed, the others compared.

    Keys: ``dumps`` (per dump: source, time, uptime, thread counts), ``threads`` (Java threads in
    the latest), ``states``, ``pools`` (pool, total, busy, idle, states, top_wait), ``deadlocks``
    (threads with holds/wants/waits_in, found_by), ``contention``, ``hot_stacks``, ``exhausted``
    (pools at ≥ 90% busy sharing one wait), ``across`` (stuck, growth, new_pools, span_s), ``left_out``,
    ``partial`` and ``warnings``.
    """
    if not dumps or not any(d.threads for d in dumps):
        raise InputError("no thread dump found: no \"Full thread dump\" header and no thread block "
                         "('\"name\" #1 prio=5 … tid=0x…') in the input")
    dumps = [d for d in dumps if d.threads]
    warnings = [w for d in dumps for w in d.warnings]
    starts = [d.time.timestamp() - d.uptime_s for d in dumps if d.time and d.uptime_s is not None]
    if starts and max(starts) - min(starts) > 5:
        warnings.append("the dumps come from JVMs started at different times (a restart between them?); "
                        "only the dumps of the latest JVM are compared")
        latest_start = starts[-1] if len(starts) == len(dumps) else max(starts)
        dumps = [d for d in dumps if d.time and d.uptime_s is not None
                 and abs(d.time.timestamp() - d.uptime_s - latest_start) <= 5] or dumps[-1:]
    last = dumps[-1]
    java = _java_threads(last)
    left_out: dict[str, int] = {}
    pools = _pools(last)
    exhausted = []
    for p in pools:
        tw = p.get("top_wait")
        if (p["workers"] and p["total"] >= EXHAUSTED_MIN_THREADS and p["busy"] >= EXHAUSTED_SHARE * p["total"] and tw
                and tw["threads"] >= 0.5 * p["busy"] and tw["state"] != "RUNNABLE"):
            exhausted.append({"pool": p["pool"], "busy": p["busy"], "total": p["total"], "wait": tw})
    multi = [p for p in pools if p["total"] >= 2]
    singles = len(pools) - len(multi)
    shown_pools = _bounded(multi, SHOW_POOLS, "pools", left_out)
    if singles:
        left_out["single_threads"] = singles
    deadlocks = _bounded(_deadlocks(last), SHOW_DEADLOCKS, "deadlocks", left_out)
    contention = _bounded(_contention(last), SHOW_LOCKS, "locks", left_out)
    hot = _bounded(_hot_stacks(last), SHOW_HOT, "hot_stacks", left_out)
    pool_total = {p["pool"]: p["total"] for p in pools}
    for h in hot:
        h["pool_totals"] = {name: pool_total.get(name, 0) for name in h["pools"]}
    across = _across(dumps)
    if across:
        across["stuck"] = _bounded(across["stuck"], SHOW_STUCK, "stuck", left_out)
        across["growth"] = _bounded(across["growth"], SHOW_POOLS, "growth", left_out)
    return {
        "files": sorted({d.source for d in dumps}),
        "dumps": [_dump_info(d) for d in dumps],
        "threads": len(java),
        "vm_internal_threads": len(last.threads) - len(java),
        "virtual_threads": sum(t.virtual for t in java),
        "states": dict(Counter(t.state or "UNKNOWN" for t in java).most_common()),
        "pools": shown_pools,
        "exhausted": exhausted,
        "deadlocks": deadlocks,
        "contention": contention,
        "hot_stacks": hot,
        "across": across,
        "left_out": left_out,
        "partial": any(d.partial for d in dumps),
        "warnings": warnings,
    }
