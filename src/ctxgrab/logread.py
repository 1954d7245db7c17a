"""Reading log files at scale: only the window, every format, nothing fatal.

* **Window seek**: in a plain, time-sorted file the start of the window is
  found by binary search over byte offsets (a few dozen small reads), so a 1%
  window of a 1 GB file costs about 1% of reading it. ``.gz`` files cannot
  seek and are streamed; whole files outside the window are skipped by their
  first/last timestamp.
* **Rotation**: ``app.log`` also picks up ``app.log.1``, ``app.log.2.gz``, …,
  read oldest first.
* **Records**: a line that starts with a timestamp starts a record; the lines
  after it without one (a Java stack trace, a Python traceback) stay with it.
  JSON lines give ``time``/``level``/``message``/``logger``/``exception``.
* **Bad bytes**: invalid UTF-8 (replaced), NUL bytes (dropped) and lines over
  ``max_line_bytes`` (truncated) are counted in :class:`ReadStats`, with the
  file and byte offset of the first few, and never stop the read.

Example::

    >>> from ctxgrab.timeutil import Window, parse_time
    >>> w = Window(parse_time("2026-03-02T10:00:00Z"), parse_time("2026-03-02T12:00:00Z"))
    >>> recs, base, stats = read_window(["/var/log/payments/app.log"], w)   # doctest: +SKIP
    >>> parse_timestamp("2026-03-02 10:15:00,123 ERROR boom")[0].isoformat()
    '2026-03-02T10:15:00.123000+00:00'
"""

from __future__ import annotations

import glob as _glob
import gzip
import json
import os
import itertools
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from .analysis.logformat import UTC, W3C_DIRECTIVE, LineFormat, infer_format, level_word, parse_time_text, w3c_date
from .analysis.logpatterns import LogRecord, normalize_level
from .errors import InputError
from .timeutil import Window

__all__ = ["ReadStats", "parse_timestamp", "split_header", "expand_paths", "read_records", "read_window",
           "iter_window", "find_offset", "sniff_format", "sorted_by_sample"]

MAX_LINE_BYTES = 1 << 20  # longer lines are truncated (and counted)
MAX_TRACE_LINES = 200  # continuation lines kept per record
_PROBLEMS_KEPT = 10

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                        "nov", "dec"), 1)}
_ISO = re.compile(
    r"\[?(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|[+-]\d\d:?\d\d|UTC)?\]?"
)
_CTIME = re.compile(  # Sun Dec 04 04:47:44 2005  /  Dec  4 04:47:44 (syslog, no year)
    r"\[?(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\w*\s+)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\w*\s+(\d{1,2})"
    r"\s+(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(?:\s+(\d{4}))?\]?"
)
_CLF = re.compile(r"\[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\s([+-]\d{4}))?\]")  # nginx/apache access
_EPOCH = re.compile(r"(\d{10})(?:(\d{3,9})|\.(\d{1,9}))?(?!\d)")
_LEVELS = r"FATAL|CRITICAL|CRIT|ERROR|ERR|SEVERE|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE|FINE|FINER|FINEST"
_HEADER = re.compile(
    r"\s*(?:\[(?P<t1>[^\]]{0,80})\]\s*)?"
    r"(?:[\[<]?(?P<level>" + _LEVELS + r")[\]>]?\b\s*[:|]?\s*)?"
    r"(?:\[(?P<t2>[^\]]{0,80})\]\s*)?"
    r"(?:(?P<logger>[A-Za-z_$][\w$]*(?:\.[\w$]+)+)\s*(?:-\s+|:\s+))?",
)
_PY_BASIC = re.compile(r"\s*(CRITICAL|ERROR|WARNING|INFO|DEBUG):([\w.\-]+):(.*)$")
_LEVEL_ANYWHERE = re.compile(r"\b(" + _LEVELS + r")\b")
_CONTINUATION = re.compile(r"\s+at |\s*\.\.\. \d+ (?:more|common)|Caused by: |Suppressed: |Traceback \(|\s+File \"|\s")


def parse_timestamp(text: str, year: int | None = None) -> tuple[datetime | None, int]:
    """The timestamp at the start of a log line and where it ends, or ``(None, 0)``.

    Knows ISO 8601 (``2026-03-02T10:15:00.123Z``, ``2026-03-02 10:15:00,123``,
    ``2026/03/02 10:15:00``), ctime (``Sun Dec 04 04:47:44 2005``), syslog
    (``Dec  4 04:47:44``; the year comes from ``year``, default this year),
    access logs (``1.2.3.4 - - [02/Mar/2026:10:15:00 +0000]``) and Unix epoch
    seconds or milliseconds. Times without a zone are UTC.
    """
    head = text[:64]
    m = _ISO.match(head)
    if m:
        y, mo, d, h, mi, s, frac, tz = m.groups()
        return _mk(int(y), int(mo), int(d), int(h), int(mi), int(s), frac, tz), m.end()
    m = _CTIME.match(head)
    if m:
        mon, d, h, mi, s, frac, y = m.groups()
        yr = int(y) if y else (year or datetime.now(timezone.utc).year)
        return _mk(yr, _MONTHS[mon.lower()], int(d), int(h), int(mi), int(s), frac, None), m.end()
    m = _EPOCH.match(head)
    if m:
        secs = int(m.group(1))
        frac = m.group(2) or m.group(3)
        ts = datetime.fromtimestamp(secs, tz=timezone.utc)
        if frac:
            ts += timedelta(microseconds=int(frac[:6].ljust(6, "0")))
        return ts, m.end()
    m = _CLF.search(head)
    if m:
        d, mon, y, h, mi, s, tz = m.groups()
        if mon.lower() in _MONTHS:
            return _mk(int(y), _MONTHS[mon.lower()], int(d), int(h), int(mi), int(s), None, tz), 0
    return None, 0


def _mk(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, tz: str | None) -> datetime | None:
    try:
        ts = datetime(y, mo, d, h, mi, min(s, 59), int(frac[:6].ljust(6, "0")) if frac else 0, tzinfo=timezone.utc)
    except ValueError:
        return None
    if tz and tz not in ("Z", "UTC"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        ts -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return ts


def split_header(rest: str) -> tuple[str | None, str | None, str]:
    """``(level, logger, message)`` from what follows the timestamp.

    >>> split_header(" [main] ERROR c.a.PaymentService - charge failed")
    ('ERROR', 'c.a.PaymentService', 'charge failed')
    """
    py = _PY_BASIC.match(rest)  # Python logging's basicConfig default: LEVEL:name:message
    if py:
        return normalize_level(py.group(1)), py.group(2), py.group(3).strip() or rest.strip()
    m = _HEADER.match(rest)
    level = m.group("level") if m else None
    logger = m.group("logger") if m else None
    msg = rest[m.end():] if m and (level or logger or m.group("t1") or m.group("t2")) else rest.strip()
    if level is None:
        lm = _LEVEL_ANYWHERE.search(rest[:100])
        level = lm.group(1) if lm else None
    return normalize_level(level), logger, msg.strip() or rest.strip()


# ---------------------------------------------------------------- stats


@dataclass
class ReadStats:
    """What reading saw, including everything it had to repair or skip."""

    files: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)  # wholly outside the window
    lines_read: int = 0
    bytes_read: int = 0
    records: int = 0  # records read (inside and outside the window)
    records_in_window: int = 0
    skipped_lines: int = 0  # lines that belong to no record (no timestamp before them), or blank
    invalid_utf8_lines: int = 0
    nul_lines: int = 0
    long_lines: int = 0
    bad_json_lines: int = 0
    untimed_records: int = 0  # records without a timestamp (kept only when no window is applied)
    seeks: int = 0  # files whose window start was found by binary search
    unsorted_files: list[str] = field(default_factory=list)  # not in time order: read in full
    untimed_files: list[str] = field(default_factory=list)  # no timestamp layout found: one record per line
    problems: list[str] = field(default_factory=list)  # the first few, with file and byte offset

    def note(self, where: str, offset: int, what: str) -> None:
        if len(self.problems) < _PROBLEMS_KEPT:
            self.problems.append(f"{where} @ byte {offset:,}: {what}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


# ---------------------------------------------------------------- files


def expand_paths(patterns: str | Path | Sequence[str | Path], *, rotated: bool = True) -> list[Path]:
    """Files matching the glob(s); with ``rotated``, also ``NAME.1``, ``NAME.2.gz``…, oldest first.

    A directory stands for the files in it; a FIFO or ``/dev/fd/N`` (process
    substitution) is read as a stream, once, without seeking.
    """
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    found: set[Path] = set()
    for pat in patterns:
        pat = str(Path(pat).expanduser())
        if os.path.isdir(pat):  # a directory: the files in it (not hidden, not recursive)
            found.update(Path(h) for h in _glob.glob(os.path.join(pat, "*")) if os.path.isfile(h))
            continue
        if os.path.exists(pat) and _is_stream(pat):  # a FIFO, /dev/stdin, /dev/fd/N from process substitution
            found.add(Path(pat))
            continue
        hits = _glob.glob(pat) or ([pat] if os.path.exists(pat) else [])
        if rotated:
            hits += [h for h in _glob.glob(pat + ".*") if re.search(r"\.\d+(?:\.gz)?$|\.gz$", h)]
        found.update(Path(h) for h in hits if os.path.isfile(h))

    def order(p: Path) -> tuple[str, int, str]:
        m = re.search(r"\.(\d+)(?:\.gz)?$", p.name)
        base = re.sub(r"\.(\d+)(?:\.gz)?$|\.gz$", "", str(p))
        return (base, -(int(m.group(1)) if m else 0), str(p))

    return sorted(found, key=order)


def _is_stream(path: str | Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def _open(path: Path) -> IO[bytes]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot open log file: {e.strerror or e}") from None


def _read_line(f: IO[bytes], limit: int) -> tuple[bytes, bool]:
    """One raw line without its newline; ``True`` when it was longer than ``limit`` (rest discarded)."""
    raw = f.readline(limit)
    if len(raw) < limit or raw.endswith(b"\n"):
        return raw, False
    while True:  # discard the rest of a giant line, in bounded chunks
        more = f.readline(limit)
        if not more or more.endswith(b"\n"):
            break
    return raw, True


class _Lines:
    """Decoded lines of one file with their byte offsets; repairs are counted in ``stats``."""

    def __init__(self, f: IO[bytes], name: str, stats: ReadStats, max_line_bytes: int, offset: int = 0):
        self.f, self.name, self.stats, self.limit, self.offset = f, name, stats, max_line_bytes, offset

    def __iter__(self) -> Iterator[tuple[int, str]]:
        f, stats, limit = self.f, self.stats, self.limit
        offset = self.offset
        while True:
            start = offset
            raw, long = _read_line(f, limit)
            if not raw:
                return
            offset = self.offset = f.tell() if long else offset + len(raw)
            stats.lines_read += 1
            stats.bytes_read += offset - start
            if long:
                stats.long_lines += 1
                stats.note(self.name, start, f"line longer than {limit:,} bytes, truncated")
            if b"\x00" in raw:
                raw = raw.replace(b"\x00", b"")
                stats.nul_lines += 1
                stats.note(self.name, start, "NUL bytes dropped")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                line = raw.decode("utf-8", errors="replace")
                stats.invalid_utf8_lines += 1
                stats.note(self.name, start + e.start, "invalid UTF-8 replaced")
            yield start, line.rstrip("\r\n")


# ---------------------------------------------------------------- records

_JSON_TIME = ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "t", "@t", "__REALTIME_TIMESTAMP",
              "eventTime", "asctime", "logdate",
              "timestamp_ns", "timeUnixNano", "time_unix_nano")  # epoch nanoseconds (OpenTelemetry exporters)
_JSON_LEVEL = ("level", "severity", "lvl", "loglevel", "levelname", "log.level", "level_name", "@l", "s",
               "PRIORITY", "priority")
_JSON_MSG = ("message", "msg", "@message", "MESSAGE", "@m", "@mt", "log", "text", "event")
_JSON_LOGGER = ("logger", "logger_name", "loggerName", "name", "log.logger", "logger.name", "SYSLOG_IDENTIFIER",
                "_SYSTEMD_UNIT", "c", "component", "caller")
_JSON_EXC = ("exception", "stack_trace", "stacktrace", "stack", "exc_info", "error.stack_trace", "error", "err",
             "trace")


_TIME_NAME = re.compile(r"time|date|millis|epoch|(?:^|_)ts$|[a-z]Ts$", re.I)


def _json_time_value(obj: dict) -> Any:
    """The record's time field: a known name, else the first scalar field whose name says time.

    ``timeMillis`` (log4j2's JsonLayout), ``time_local``, ``event_ts``: names no list can hold all of.
    """
    v = _get(obj, _JSON_TIME)
    if v is not None:
        return v
    for k, v in obj.items():
        if isinstance(k, str) and _TIME_NAME.search(k) and isinstance(v, (str, int, float)) and \
                not isinstance(v, bool) and v != "":
            t = _json_time(v)
            if t is not None and 1990 <= t.year <= 2100:  # not a `response_time` of 1234 (ms, not 1970)
                return v
    return None


def _get(obj: dict, keys: Sequence[str], scalar: bool = False) -> Any:
    """The first present key (dotted keys also looked up nested); ``scalar`` skips dicts and lists."""
    for k in keys:
        v = obj.get(k)
        if v is None and "." in k:
            v = obj
            for part in k.split("."):
                v = v.get(part) if isinstance(v, dict) else None
        if v in (None, "") or (scalar and isinstance(v, (dict, list))):
            continue
        return v
    return None


def _json_time(v: Any, tz: Any = UTC, ref: datetime | None = None) -> datetime | None:
    if isinstance(v, dict):  # MongoDB {"$date": "..."} / {"$date": {"$numberLong": "..."}}
        v = v.get("$date", v.get("$numberLong"))
        if isinstance(v, dict):
            v = v.get("$numberLong")
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 30:  # not `²`, not 5,000 digits
        v = int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        # integers exactly: epoch nanoseconds as a float lose the microseconds (…123456789 -> .123457)
        for scale in (10**9, 10**6, 10**3, 1):  # ns, us, ms, s
            if scale == 1 or v > 10**11 * scale // 10**3:
                secs, rem = divmod(v, scale)
                try:
                    return datetime.fromtimestamp(secs, tz=timezone.utc) + timedelta(microseconds=rem * 10**6 // scale)
                except (OverflowError, OSError, ValueError):
                    return None
    if isinstance(v, float):
        x = v
        for scale in (1e9, 1e6, 1e3):  # ns, us, ms
            if x > 1e11 * scale / 1e3:
                x /= scale
                break
        try:
            return datetime.fromtimestamp(x, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(v, str):
        return parse_time_text(v, tz, ref) or parse_timestamp(v)[0]
    return None


def _json_level(obj: dict) -> str | None:
    for k in _JSON_LEVEL:
        v = obj.get(k)
        if v is None or v == "" or isinstance(v, (dict, list)):
            if k == "log.level" and isinstance(obj.get("log"), dict):
                v = obj["log"].get("level")
            else:
                continue
        if v is None:
            continue
        syslog = k in ("PRIORITY", "priority") or k == "severity" and str(v).isdigit() and int(v) < 8
        lv = level_word(v if not (isinstance(v, str) and v.isdigit()) else int(v),
                        numeric="syslog" if syslog else "auto")
        if lv is None and isinstance(v, str) and len(v) == 1:
            lv = normalize_level(v)
        return lv or normalize_level(str(v))
    return None


def _json_exception(v: Any) -> str | None:
    if v is None or v is False:
        return None
    if isinstance(v, dict):
        kind = v.get("class") or v.get("type") or v.get("exception_class") or v.get("kind") or ""
        msg = v.get("message") or v.get("exception_message") or ""
        st = v.get("stacktrace") or v.get("stack_trace") or v.get("stack") or ""
        if isinstance(st, list):
            st = "\n".join(f"\tat {x}" if isinstance(x, str) and not x.startswith(("\t", " ")) else str(x)
                           for x in st)
        head = f"{kind}: {msg}" if kind and msg else (kind or msg)
        return "\n".join(x for x in (head, str(st)) if x) or None
    if isinstance(v, list):
        return "\n".join(str(x) for x in v)
    return str(v)


def _json_record(obj: dict, year: int | None, tz: Any = UTC, ref: datetime | None = None) -> LogRecord:
    msg = _get(obj, _JSON_MSG, scalar=True)
    exc = _json_exception(_get(obj, _JSON_EXC))
    text = str(msg) if msg is not None else json.dumps(obj, sort_keys=True)[:2000]
    first, _, rest = text.partition("\n")
    trace = "\n".join(x for x in (rest, exc or "") if x) or None
    logger = _get(obj, _JSON_LOGGER, scalar=True)
    return LogRecord(message=first, time=_json_time(_json_time_value(obj), tz, ref), level=_json_level(obj),
                     logger=str(logger) if logger is not None else None, trace=trace)


_SNIFF_LINES = 400
_SNIFF_BYTES = 256 * 1024
ORDER_TOLERANCE = timedelta(seconds=1)  # records this much out of order (threads) still count as sorted


def file_ref_time(path: str | Path) -> datetime | None:
    """The file's modification time: the year of year-less timestamps (None for pipes)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return datetime.fromtimestamp(st.st_mtime, tz=timezone.utc)


def sniff_format(path: str | Path, *, tz: Any = UTC, ref: datetime | None = None) -> LineFormat:
    """The line layout of a regular file, inferred from its first lines."""
    path = Path(path)
    with _open(path) as f:
        try:
            raw = f.read(_SNIFF_BYTES)
        except (OSError, EOFError, gzip.BadGzipFile):
            raw = b""
    lines = raw.decode("utf-8", errors="replace").splitlines()[:_SNIFF_LINES]
    return infer_format(lines, tz=tz, ref=ref if ref is not None else file_ref_time(path))


@dataclass
class _Order:
    """Whether the records of one file came in time order."""

    latest: datetime | None = None
    backwards: int = 0  # records more than ORDER_TOLERANCE before the latest one seen
    first_offset: int | None = None  # byte offset (or line) of the first such record
    stop_offset: int | None = None  # where an early stop (``stop_after``) left the file

    def see(self, t: datetime, where: int) -> None:
        if self.latest is None or t > self.latest:
            self.latest = t
        elif t < self.latest - ORDER_TOLERANCE:
            self.backwards += 1
            if self.first_offset is None:
                self.first_offset = where


def _is_timed(fmt: LineFormat, sample: Sequence[str]) -> bool:
    if fmt.layout or fmt.logfmt:
        return True
    for ln in sample:  # JSON lines with a time field
        if ln.lstrip().startswith("{"):
            try:
                obj = json.loads(ln)
            except ValueError:
                continue
            if isinstance(obj, dict) and _json_time(_json_time_value(obj)) is not None:
                return True
    return any(parse_timestamp(ln)[0] is not None for ln in sample[:50])


_NEXT_LINE_LEVEL = re.compile(r"([A-Z]{4,8}): ")


def _next_line_level(line: str) -> str | None:
    """The level of a record whose header line has none, from `LEVEL: ` opening its second line (JUL)."""
    m = _NEXT_LINE_LEVEL.match(line)
    return level_word(m.group(1)) if m else None


def _skip_header_only(line: str) -> bool:
    # A record whose first line is only a header (MySQL slow log "# Time: ...") takes its message from the
    # first following line that is neither a "# ..." comment nor the "SET timestamp=...;" the server adds.
    s = line.lstrip()
    return s.startswith("#") or s.startswith("SET timestamp=")


def read_records(
    path: str | Path,
    stats: ReadStats | None = None,
    *,
    fmt: str = "auto",
    start_offset: int = 0,
    stop_after: datetime | None = None,
    year: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    tz: Any = UTC,
    line_format: LineFormat | None = None,
    order: _Order | None = None,
) -> Iterator[LogRecord]:
    """Records of one file from ``start_offset``; stops at the first record at/after ``stop_after``.

    ``fmt`` is ``auto`` (JSON lines when a line starts with ``{`` and parses),
    ``text`` or ``json``. The text layout (timestamp, header fields, message) is
    inferred from the file's first lines (:func:`ctxgrab.analysis.logformat.infer_format`)
    unless ``line_format`` is given; times without a zone are in ``tz``.
    ``LogRecord.source`` is ``file:line`` when reading from the start,
    ``file@offset`` after a seek. A file with no timestamps gives one record per
    line and a problem saying so.
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    name = str(path)
    ref = file_ref_time(path)
    with _open(path) as f:
        if start_offset:
            f.seek(start_offset)
            if start_offset > 0:  # land on a line boundary
                f.seek(start_offset - 1)
                skipped = f.readline()
                start_offset = start_offset - 1 + len(skipped)
        lines = _Lines(f, name, stats, max_line_bytes, start_offset)
        it = iter(lines)
        buffered: list[tuple[int, str]] = []
        try:
            if line_format is None and start_offset:
                line_format = sniff_format(path, tz=tz, ref=ref)
            if line_format is None or not (line_format.layout or line_format.logfmt):
                # infer from this stream's own first lines (works on pipes too); a given format without a layout
                # (the window reader's sniff of a file with no timestamps) needs them too, to tell JSON lines and
                # start-of-line timestamps from an untimed file, whose lines are records
                size = 0
                for item in it:
                    buffered.append(item)
                    size += len(item[1])
                    if len(buffered) >= _SNIFF_LINES or size >= _SNIFF_BYTES:
                        break
                if line_format is None:
                    line_format = infer_format([ln for _, ln in buffered], tz=tz, ref=ref)
                timed = _is_timed(line_format, [ln for _, ln in buffered[:100]])
            else:
                timed = True
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            stats.note(name, lines.offset, f"read stopped: {e}")
            return
        if not timed and fmt != "json" and name not in stats.untimed_files:
            stats.untimed_files.append(name)
            stats.problems.append(f"no timestamps found in {name}: one record per line, no time window applies")
        lf = line_format
        has_layout = bool(lf.layout or lf.logfmt)
        current: LogRecord | None = None
        trace: list[str] = []
        untimed_file = not timed
        needs_message = False
        line_no = 0
        try:
            for offset, line in itertools.chain(buffered, it):
                line_no += 1
                if not line.strip():
                    if current is not None and not untimed_file:
                        current.line_count += 1  # a blank line inside a record (chained Python tracebacks)
                    else:
                        stats.skipped_lines += 1
                    continue
                if line[0] == "#" and W3C_DIRECTIVE.match(line):
                    lf.date = w3c_date(line) or lf.date
                    stats.skipped_lines += 1
                    continue
                rec: LogRecord | None = None
                if fmt != "text" and line.lstrip().startswith("{"):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        obj = None
                        if fmt == "json":
                            stats.bad_json_lines += 1
                            stats.note(name, offset, "not valid JSON")
                    if isinstance(obj, dict):
                        rec = _json_record(obj, year, tz, ref)
                if rec is None and fmt != "json":
                    parsed = lf.parse(line) if has_layout else None
                    if parsed is not None:
                        rec = LogRecord(message=parsed[3], time=parsed[0], level=parsed[1], logger=parsed[2])
                    else:
                        ts, end = (parse_timestamp(line, year) if line[:1] not in " \t" else (None, 0))
                        if ts is not None and not untimed_file:
                            level, logger, msg = split_header(line[end:])
                            rec = LogRecord(message=msg, time=ts, level=level, logger=logger)
                    if rec is None:
                        if current is not None and (not untimed_file or _CONTINUATION.match(line)):
                            if needs_message and not _skip_header_only(line):
                                current.message, needs_message = line.strip(), False
                            elif current.level is None and current.line_count == 1 and (
                                    lv := _next_line_level(line)) is not None:
                                # java.util.logging: `Jul 30, 2020 3:00:21 PM cls method`, then `INFO: message`
                                current.level = lv
                                current.logger = current.logger or current.message or None
                                current.message = line.split(": ", 1)[1].strip() or current.message
                            elif len(trace) < MAX_TRACE_LINES:
                                trace.append(line)
                            current.line_count += 1
                            continue
                        if untimed_file:
                            level, logger, msg = split_header(line)
                            rec = LogRecord(message=msg, level=level, logger=logger)
                        else:
                            stats.skipped_lines += 1  # before the first timestamp (e.g. after a seek)
                            continue
                elif rec is None:
                    stats.skipped_lines += 1
                    continue
                rec.source = f"{name}:{line_no}" if not start_offset else f"{name}@{offset}"
                rec.offset = offset
                if current is not None:
                    _finish(current, trace, stats)
                    yield current
                trace = []
                if rec.time is not None:
                    if order is not None:
                        order.see(rec.time, offset)
                    if stop_after is not None and rec.time >= stop_after:
                        if order is not None:
                            order.stop_offset = offset
                        return
                current = rec
                needs_message = not rec.message or (rec.message.startswith("#") and rec.message.endswith(":"))
            if current is not None:
                _finish(current, trace, stats)
                yield current
        except (OSError, EOFError, gzip.BadGzipFile) as e:  # truncated .gz, I/O error: keep what was read
            stats.note(name, lines.offset, f"read stopped: {e}")
            if current is not None:
                _finish(current, trace, stats)
                yield current


def _finish(rec: LogRecord, trace: list[str], stats: ReadStats) -> None:
    if trace:
        rec.trace = "\n".join(trace) if rec.trace is None else rec.trace + "\n" + "\n".join(trace)
    stats.records += 1
    if rec.time is None:
        stats.untimed_records += 1


# ---------------------------------------------------------------- seek


def _line_time(raw: bytes, lf: LineFormat | None, year: int | None) -> datetime | None:
    text = raw[:2000].decode("utf-8", errors="replace").rstrip("\r\n")
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(raw)
            return _json_time(_json_time_value(obj)) if isinstance(obj, dict) else None
        except ValueError:
            pass
    if lf is not None and (lf.layout or lf.logfmt):
        r = lf.parse(text)
        if r is not None:
            return r[0]
    return parse_timestamp(text[:80], year)[0] if text[:1] not in " \t" else None


def _time_near(f: IO[bytes], offset: int, size: int, year: int | None, probe_bytes: int = 1 << 20,
               lf: LineFormat | None = None) -> datetime | None:
    """The first timestamp at or after ``offset`` (within ``probe_bytes``), or None."""
    f.seek(max(0, offset - 1))
    if offset > 0:
        f.readline()  # finish the line we landed in
    read = 0
    while read < probe_bytes:
        raw = f.readline(MAX_LINE_BYTES)
        if not raw:
            return None
        read += len(raw)
        t = _line_time(raw, lf, year)
        if t is not None:
            return t
    return None


def find_offset(path: str | Path, target: datetime, *, year: int | None = None, min_span: int = 64 * 1024,
                line_format: LineFormat | None = None) -> int:
    """A byte offset at or before the first record at/after ``target`` in a time-sorted plain file.

    Binary search over byte offsets: each probe reads from a line boundary to
    the next timestamp. The answer is within ``min_span`` bytes before the
    first such record; the reader skips the few earlier records.
    """
    path = Path(path)
    lf = line_format if line_format is not None else sniff_format(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        lo, hi = 0, size
        while hi - lo > min_span:
            mid = (lo + hi) // 2
            t = _time_near(f, mid, size, year, lf=lf)
            if t is None or t >= target:
                hi = mid
            else:
                lo = mid
        return lo


SORT_PROBES = 32  # offsets the seek checks for time order before trusting a binary search


def sorted_by_sample(path: str | Path, lf: LineFormat | None = None, *, probes: int = SORT_PROBES,
                     year: int | None = None) -> tuple[bool, datetime | None]:
    """Whether the timestamps at ``probes`` evenly spread offsets of a plain file never go backwards.

    Returns ``(sorted, first time seen out of order)``. A sample cannot prove a
    file sorted (the read checks every record too), but it catches concatenated
    and shuffled files before a binary search trusts them.
    """
    path = Path(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        latest: datetime | None = None
        for i in range(probes + 1):
            off = size * i // probes
            t = _time_near(f, off, size, year, probe_bytes=64 * 1024, lf=lf)
            if t is None:
                continue
            if latest is not None and t < latest - ORDER_TOLERANCE:
                return False, t
            latest = t if latest is None or t > latest else latest
    return True, None


def _first_last_time(path: Path, year: int | None, lf: LineFormat | None = None
                     ) -> tuple[datetime | None, datetime | None]:
    with _open(path) as f:
        first = _time_near(f, 0, 0, year, probe_bytes=256 * 1024, lf=lf)
        if path.suffix == ".gz":
            return first, None
        size = os.fstat(f.fileno()).st_size
        last = None
        back = 64 * 1024
        while last is None and back <= 4 * 1024 * 1024:
            pos = max(0, size - back)
            f.seek(pos)
            if pos:
                f.readline()
            for raw in f.read().splitlines()[::-1]:
                t = _line_time(raw, lf, year)
                if t is not None:
                    last = t
                    break
            if pos == 0:
                break
            back *= 4
        return first, last


def _seekable(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode) and path.suffix != ".gz"
    except OSError:
        return False


def iter_window(
    paths: Sequence[str | Path],
    window: Window | None,
    baseline: Window | None = None,
    *,
    stats: ReadStats,
    fmt: str = "auto",
    seek: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES,
    tz: Any = UTC,
) -> Iterator[tuple[LogRecord, bool]]:
    """``(record, in_baseline)`` for every record inside ``window`` or ``baseline``, streamed.

    Nothing is kept per record, so memory does not grow with the files' size.
    With ``window=None`` every record is given. Records without a timestamp
    are given only then (they cannot be placed in a window; they are counted).
    ``seek=False`` reads whole files (what the seek benchmark compares against).

    Files need not be sorted: the seek first checks the times at a sample of
    offsets, and the read checks every record; a file found out of order is
    read in full (said in ``stats.problems``), so concatenated or interleaved
    files still give exactly the records inside the window, each once.
    """
    lo = hi = None
    if window is not None:
        lo = min(window.start, baseline.start) if baseline else window.start
        hi = max(window.end, baseline.end) if baseline else window.end
    year = window.end.year if window is not None else None
    for p in paths:
        path = Path(p)
        if not path.exists() or path.is_dir():
            raise InputError(f"{path}: no such log file" if not path.exists() else
                             f"{path}: is a directory; give the files in it (e.g. {path}/*.log)")
        stats.files.append(str(path))
        plain = _seekable(path)
        lf = sniff_format(path, tz=tz) if plain or path.suffix == ".gz" else None
        start_offset = 0
        sorted_ok = True
        if lo is not None and seek and lf is not None:
            if plain:
                sorted_ok, when = sorted_by_sample(path, lf, year=year)
                if not sorted_ok:
                    stats.unsorted_files.append(str(path))
                    stats.problems.append(f"{path}: not in time order (a sampled record at {when.isoformat()} comes "
                                          "after a later one); read in full instead of seeking to the window")
            if sorted_ok:
                first, last = _first_last_time(path, year, lf)
                if (first is not None and first >= hi) or (last is not None and last < lo) or (
                    path.suffix == ".gz" and os.stat(path).st_mtime < lo.timestamp()
                ):
                    stats.files_skipped.append(str(path))
                    continue
                if plain and first is not None and first < lo:
                    start_offset = find_offset(path, lo - ORDER_TOLERANCE, year=year, line_format=lf)
                    stats.seeks += 1
        limited = seek and sorted_ok and window is not None

        def placed(recs: Iterator[LogRecord], skip: tuple[int, int] | None = None) -> Iterator[tuple[LogRecord, bool]]:
            for rec in recs:
                if skip is not None and rec.offset is not None and skip[0] <= rec.offset < skip[1]:
                    continue  # given already by the first, limited pass
                t = rec.time
                if window is None:
                    yield rec, False
                elif t is None:
                    continue
                elif window.start <= t < window.end:
                    yield rec, False
                elif baseline is not None and baseline.start <= t < baseline.end:
                    yield rec, True

        order = _Order()
        yield from placed(read_records(path, stats, fmt=fmt, start_offset=start_offset,
                                       stop_after=hi + ORDER_TOLERANCE if limited else None, year=year,
                                       max_line_bytes=max_line_bytes, tz=tz, line_format=lf, order=order))
        if order.backwards and limited:
            # The sample looked sorted but records go backwards: what the seek skipped or the early stop left
            # unread may hold window records. Read the rest of the file, giving only what was not given.
            stats.unsorted_files.append(str(path))
            stats.problems.append(f"{path}: not in time order ({order.backwards:,} records before a later one); "
                                  "read in full instead of seeking to the window")
            covered = (start_offset, order.stop_offset if order.stop_offset is not None else 1 << 62)
            yield from placed(read_records(path, stats, fmt=fmt, year=year, max_line_bytes=max_line_bytes, tz=tz,
                                           line_format=lf), covered)
        elif order.backwards and str(path) not in stats.unsorted_files:
            stats.unsorted_files.append(str(path))


def read_window(
    paths: Sequence[str | Path],
    window: Window | None,
    baseline: Window | None = None,
    *,
    fmt: str = "auto",
    seek: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES,
    tz: Any = UTC,
) -> tuple[list[LogRecord], list[LogRecord], ReadStats]:
    """Records inside ``window`` and inside ``baseline`` as lists (:func:`iter_window` streams them)."""
    stats = ReadStats()
    inside: list[LogRecord] = []
    before: list[LogRecord] = []
    for rec, in_base in iter_window(paths, window, baseline, stats=stats, fmt=fmt, seek=seek,
                                    max_line_bytes=max_line_bytes, tz=tz):
        (before if in_base else inside).append(rec)
    stats.records_in_window = len(inside)
    return inside, before, stats
