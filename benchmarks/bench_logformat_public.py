"""Timestamps, levels and window seeks on log formats written by others (issue #14).

    python benchmarks/bench_logformat_public.py              # every set
    python benchmarks/bench_logformat_public.py --set lnav   # one set
    python benchmarks/bench_logformat_public.py --json out.json

The corpus is ``tests/data/logs_public/<set>/<format>.txt``: sample lines that
public log tools ship with their format definitions (lnav's ``src/formats``
and others, see SOURCES.md there), one section per layout of the format. For
each layout this reads two files built from its samples the way ``ctxgrab
logs`` does (``iter_window``, no format given, the layout inferred per file):

* **timestamps and levels**: the samples as they are; every sample must give
  one record whose time is the expected instant, and (where the corpus states
  one) whose level is the expected one;
* **window**: 2,000 records cycling through the samples, their timestamps
  rewritten to known instants 123.25 s apart (2.9 days, crossing midnights), and
  a window over the middle 30%; the records read must be exactly those inside it.

The expected instant never comes from ctxgrab: each layout names its
timestamp format in strftime terms (taken from the tool's own
``timestamp-format`` where it has one, else written by hand from its regex),
and a plain ``datetime.strptime`` reference reads the sample's timestamp text
with it (``%L`` milliseconds, ``%N`` nanoseconds, ``%e``/``%k`` space-padded
day/hour, ``%-d``/``%-I`` unpadded day and 12-hour clock hour, ``%s`` epoch
seconds, ``%L-epoch`` epoch milliseconds and ``%N-epoch`` epoch nanoseconds are
spelled out here). Year-less layouts take
the year of the file's modification time, set to 2026 here. The same reference writes the rewritten timestamps.

Prints one line per layout, the share of layouts right for each of the three
checks and every failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ctxgrab.logread import read_window
from ctxgrab.timeutil import Window

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "logs_public"
REF_YEAR = 2026
REF_MTIME = datetime(2026, 12, 31, tzinfo=UTC)
WINDOW_RECORDS = 2000
# 2,000 records 123.25 s apart span 2.9 days, so a layout read without its date (the file's day taken instead)
# cannot pass the window check by luck
STEP = timedelta(seconds=123.25)
T0 = datetime(2026, 3, 1, 22, 0, 0, tzinfo=UTC)
# Zone abbreviations the corpus uses with %Z, hours east of UTC (written here, not ctxgrab's table).
ZONES = {"UTC": 0, "GMT": 0, "PDT": -7, "PST": -8, "EDT": -4, "EST": -5, "CET": 1, "CEST": 2}
# lnav's level names as ctxgrab's levels.
LEVELS = {"trace": "TRACE", "debug": "DEBUG", "debug2": "DEBUG", "debug3": "DEBUG", "debug4": "DEBUG",
          "debug5": "DEBUG", "info": "INFO", "notice": "INFO", "stats": "INFO", "warning": "WARN",
          "error": "ERROR", "critical": "CRITICAL", "fatal": "FATAL"}
# syslog's alert and emerg (above critical) have no level of their own in lnav's list: read as fatal
LEVELS.update(alert="FATAL", emerg="FATAL")


@dataclass
class Sample:
    text: str
    ts: str = ""
    level: str | None = None
    expect: str | None = None  # the instant the source itself states, ISO 8601 (checks the reference)


@dataclass
class Layout:
    set: str
    fmt_name: str
    name: str
    source: str
    ts_formats: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.set}/{self.fmt_name}/{self.name}"


def load_corpus(root: Path = ROOT) -> list[Layout]:
    """Every layout of every ``<set>/<format>.txt`` under ``root``."""
    layouts: list[Layout] = []
    for path in sorted(root.glob("*/*.txt")):
        source = ""
        cur: Layout | None = None
        for raw in path.read_text(encoding="utf-8").splitlines():
            if not raw.strip() or ": " not in raw and not raw.endswith(":"):
                continue
            key, _, val = raw.partition(": ")
            if key == "source":
                source = val
            elif key == "layout":
                cur = Layout(path.parent.name, path.stem, val, source)
                layouts.append(cur)
            elif cur is None:
                continue  # note:, licence: before the first layout
            elif key == "ts-format":
                cur.ts_formats.append(val)
            elif key == "sample":
                cur.samples.append(Sample(val))
            elif key == "sample-json":
                cur.samples.append(Sample(json.loads(val)))
            elif key == "ts":
                cur.samples[-1].ts = val
            elif key == "expect":
                cur.samples[-1].expect = val
            elif key == "level":
                cur.samples[-1].level = LEVELS[val.split()[0]]
    for lay in layouts:
        for s in lay.samples:
            if not s.ts or s.ts not in s.text:
                raise SystemExit(f"corpus: {lay.id}: timestamp {s.ts!r} not in its sample {s.text[:60]!r}")
            if s.expect is not None:
                want = datetime.fromisoformat(s.expect.replace("Z", "+00:00"))
                if ref_parse_any(s.ts, lay.ts_formats)[0] != want:
                    raise SystemExit(f"corpus: {lay.id}: the reference reads {s.ts!r} as "
                                     f"{ref_parse_any(s.ts, lay.ts_formats)[0]}, the source states {s.expect}")
    return layouts


# ---------------------------------------------------------------- the reference


def _strptime_form(fmt: str) -> str:
    return (fmt.replace("%-d", "%d").replace("%-I", "%I").replace("%L", "%f").replace("%N", "%f")
            .replace("%e", "%d").replace("%k", "%H"))


def ref_parse(text: str, fmt: str, year: int = REF_YEAR) -> datetime:
    """The instant ``text`` stands for in ``fmt`` (ValueError when it does not fit)."""
    if fmt == "%s":
        return datetime.fromtimestamp(int(text), UTC)
    if fmt == "%N-epoch":
        ns = int(text)
        return datetime.fromtimestamp(ns // 10**9, UTC) + timedelta(microseconds=ns % 10**9 // 1000)
    if fmt == "%L-epoch":  # epoch milliseconds (log4j2's timeMillis)
        ms = int(text)
        return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)
    if fmt == "%s.%f":  # epoch seconds with a fraction (Squid, Redis MONITOR)
        secs, frac = text.split(".")
        return datetime.fromtimestamp(int(secs), UTC) + timedelta(microseconds=int(frac[:6].ljust(6, "0")))
    offset = None
    if "%Z" in fmt:
        m = re.search(r"\s*([A-Z]{2,5})$", text)
        if not m or m.group(1) not in ZONES:
            raise ValueError(f"no known zone abbreviation at the end of {text!r}")
        offset = timezone(timedelta(hours=ZONES[m.group(1)]))
        text, fmt = text[:m.start()], fmt.replace("%Z", "").rstrip()
    if "%N" in fmt:
        text = re.sub(r"(?<=[.,])(\d{6})\d{3}(?!\d)", r"\1", text)
    t = datetime.strptime(text, _strptime_form(fmt))
    if not any(c in fmt for c in ("%Y", "%y")):
        t = t.replace(year=year)
    if t.tzinfo is None:
        t = t.replace(tzinfo=offset or UTC)
    return t.astimezone(UTC)


def ref_parse_any(text: str, fmts: list[str], year: int = REF_YEAR) -> tuple[datetime, str]:
    for f in fmts:
        try:
            return ref_parse(text, f, year), f
        except ValueError:
            continue
    raise SystemExit(f"corpus: no ts-format of the layout reads {text!r}: {fmts}")


def ref_format(t: datetime, fmt: str, like: str) -> str:
    """``t`` written in ``fmt`` the way the sample timestamp ``like`` is (same zone, fraction width)."""
    if fmt == "%s":
        return str(int(t.timestamp()))
    if fmt == "%N-epoch":
        return str(int(t.timestamp()) * 10**9 + t.microsecond * 1000)
    if fmt == "%L-epoch":
        return str(int(t.timestamp()) * 1000 + t.microsecond // 1000)
    if fmt == "%s.%f":
        return f"{int(t.timestamp())}.{t.microsecond:06d}"[:len(str(int(t.timestamp()))) + 1 + len(like.split(".")[1])]
    zone_text = ""
    if "%Z" in fmt:
        zone_text = re.search(r"([A-Z]{2,5})$", like).group(1)  # type: ignore[union-attr]
        tz = timezone(timedelta(hours=ZONES[zone_text]))
    elif "%z" in fmt:
        tz = datetime.strptime(re.sub(r"(?<=[.,])(\d{6})\d{3}(?!\d)", r"\1", like), _strptime_form(fmt)).tzinfo or UTC
    else:
        tz = UTC
    local = t.astimezone(tz)
    frac = re.search(r"(?<=\d\d:\d\d:\d\d)[.,:](\d+)", like)
    width = len(frac.group(1)) if frac else 6
    us = f"{local.microsecond:06d}"
    out = fmt
    if "%z" in out:
        off = local.utcoffset() or timedelta(0)
        sign = "-" if off < timedelta(0) else "+"
        mins = abs(int(off.total_seconds())) // 60
        colon = ":" if re.search(r"[+-]\d\d:\d\d$", like) else ""
        out = out.replace("%z", f"{sign}{mins // 60:02d}{colon}{mins % 60:02d}")
    out = (out.replace("%Z", zone_text).replace("%L", us[:3]).replace("%N", (us + "000")[:9])
           .replace("%f", (us + "000")[:width]).replace("%e", f"{local.day:2d}").replace("%k", f"{local.hour:2d}"))
    return local.strftime(out)


# ---------------------------------------------------------------- the checks


@dataclass
class Result:
    layout: Layout
    ts_ok: bool = True
    level_ok: bool | None = None  # None: the layout states no level
    window_ok: bool = True
    seeked: bool = False
    problems: list[str] = field(default_factory=list)


def _write(path: Path, lines: list[str], mtime: datetime) -> list[int]:
    offsets, pos = [], 0
    with open(path, "wb") as f:
        for ln in lines:
            data = (ln + "\n").encode("utf-8")
            offsets.append(pos)
            f.write(data)
            pos += len(data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return offsets


def check(lay: Layout, tmp: Path) -> Result:
    res = Result(lay)
    safe = lay.id.replace("/", "_")
    # 1. the samples as they are
    path = tmp / f"{safe}.log"
    offsets = _write(path, [s.text for s in lay.samples], REF_MTIME)
    recs, _, _ = read_window([path], None)
    by_offset = {r.offset: r for r in recs}
    levels_seen = []
    for i, (s, off) in enumerate(zip(lay.samples, offsets)):
        want, _ = ref_parse_any(s.ts, lay.ts_formats)
        r = by_offset.get(off)
        if r is None or r.time != want:
            res.ts_ok = False
            got = "no record starts here" if r is None else (r.time.isoformat() if r.time else "no time")
            res.problems.append(f"timestamp: sample {i + 1} {s.text[:70]!r}: got {got}, want {want.isoformat()}")
        if s.level is not None:
            ok = r is not None and r.level == s.level
            levels_seen.append(ok)
            if not ok:
                res.problems.append(f"level: sample {i + 1} {s.text[:70]!r}: got {r.level if r else None}, "
                                    f"want {s.level}")
    res.level_ok = all(levels_seen) if levels_seen else None
    # 2. a long file with known times and a window over its middle
    lines, times = [], []
    for i in range(WINDOW_RECORDS):
        s = lay.samples[i % len(lay.samples)]
        _, fmt = ref_parse_any(s.ts, lay.ts_formats)
        new_ts = ref_format(T0 + i * STEP, fmt, s.ts)
        lines.append(s.text.replace(s.ts, new_ts, 1))
        times.append(ref_parse(new_ts, fmt))
    wpath = tmp / f"{safe}.window.log"
    offsets = _write(wpath, lines, max(times) + timedelta(hours=1))
    lo, hi = times[int(0.35 * WINDOW_RECORDS)], times[int(0.65 * WINDOW_RECORDS)]
    want_offsets = {off for off, t in zip(offsets, times) if lo <= t < hi}
    inside, _, stats = read_window([wpath], Window(lo, hi))
    got = [r.offset for r in inside]
    res.seeked = stats.seeks > 0
    if sorted(got) != sorted(want_offsets) or len(got) != len(set(got)):
        res.window_ok = False
        missing = len(want_offsets - set(got))
        extra = len(set(got) - want_offsets)
        res.problems.append(f"window: {len(got):,} records read, {len(want_offsets):,} inside; "
                            f"{missing:,} missing, {extra:,} outside it"
                            + (f" ({stats.problems[0]})" if stats.problems else ""))
    return res


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "0/0"


def report(results: list[Result], title: str) -> dict:
    n = len(results)
    ts = sum(r.ts_ok for r in results)
    lv = [r for r in results if r.level_ok is not None]
    lvok = sum(bool(r.level_ok) for r in lv)
    win = sum(r.window_ok for r in results)
    formats = len({(r.layout.set, r.layout.fmt_name) for r in results})
    print(f"\n== {title}: {formats} formats, {n} layout files, "
          f"{sum(len(r.layout.samples) for r in results)} samples")
    print(f"timestamps right : {pct(ts, n)} layout files")
    print(f"levels right     : {pct(lvok, len(lv))} layout files that state a level")
    print(f"window exact     : {pct(win, n)} layout files ({sum(r.seeked for r in results)} found the window "
          "start by binary search)")
    return {"set": title, "formats": formats, "files": n, "timestamps_right": ts, "levels_files": len(lv),
            "levels_right": lvok, "window_exact": win,
            "failures": {r.layout.id: r.problems for r in results if r.problems}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", help="only this corpus set (a folder under tests/data/logs_public)")
    ap.add_argument("--json", help="also write the figures and failures to this file")
    ap.add_argument("--quiet", action="store_true", help="no per-layout lines and no failure list")
    args = ap.parse_args()
    layouts = [lay for lay in load_corpus() if args.set in (None, lay.set)]
    if not layouts:
        print(f"no layouts under {ROOT}" + (f" in set {args.set}" if args.set else ""), file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory() as d:
        for lay in layouts:
            r = check(lay, Path(d))
            results.append(r)
            if not args.quiet:
                lv = "-" if r.level_ok is None else ("ok" if r.level_ok else "FAIL")
                print(f"{lay.id:<44} ts {'ok' if r.ts_ok else 'FAIL':<4}  level {lv:<4}  "
                      f"window {'ok' if r.window_ok else 'FAIL'}")
    out = []
    for s in sorted({r.layout.set for r in results}):
        out.append(report([r for r in results if r.layout.set == s], s))
    if len(out) > 1:
        out.append(report(results, "all"))
    if not args.quiet:
        print("\nfailures:")
        for r in results:
            for p in r.problems:
                print(f"  {r.layout.id}: {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
