"""GC log parsing, summary and verdict: fast tests over small texts and committed real-JVM logs.

The committed logs in tests/java/logs/ come from tests/java/make_logs.sh (real Java 17 JVMs,
3 s each); the live-JVM tests are in test_gclog_jvm.py and the public corpus in
test_gclog_corpus.py.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from ctxgrab.analysis.gclog import order_rotated, parse_gc_files, parse_gc_text, restrict, summarize
from ctxgrab.errors import InputError

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "tests" / "java" / "logs"
DEMO = REPO / "fixtures" / "demo" / "gc"
MB = 1024**2


def _g1(deco: str = "{t:.3f}s", n: int = 3) -> str:
    """A tiny G1 log with one decoration layout; {t} is the uptime in seconds."""
    lines = ["[" + deco.format(t=0.01, ms=10, wall="2026-03-02T00:00:00.010+0000") + "][info][gc] Using G1"]
    for i in range(n):
        t = 1.0 + i * 0.5
        d = deco.format(t=t, ms=int(t * 1000), wall=f"2026-03-02T00:00:0{int(t)}.{int(t * 1000) % 1000:03d}+0000")
        lines.append(f"[{d}][info][gc] GC({i}) Pause Young (Normal) (G1 Evacuation Pause) 24M->8M(256M) {i + 1}.500ms")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "deco",
    [
        "{t:.3f}s",  # -Xlog default: uptime
        "{wall}][{t:.3f}s",  # time,uptime
        "{ms}ms",  # uptimemillis
        "{wall}",  # time only: no uptime at all
        "{wall}][1234][5678",  # time,pid,tid
        "{t:.3f}s][1234",  # uptime,pid
    ],
)
def test_unified_decorations_in_any_combination(deco: str) -> None:
    log = parse_gc_text(_g1(deco))
    assert log.collector == "G1"
    assert [e.kind for e in log.events] == ["young"] * 3
    assert [e.duration_ms for e in log.events] == [1.5, 2.5, 3.5]
    s = summarize(log)
    assert s["pauses"]["count"] == 3
    assert s["pauses"]["total_ms"] == pytest.approx(7.5)
    assert s["span"]["seconds"] == pytest.approx(1.0, abs=0.002)  # from uptime or, lacking it, the wall clock


def test_decimal_comma_in_uptime() -> None:
    text = ("[0,995s][info][gc] Using The Z Garbage Collector\n"
            "[2,048s][info][gc] GC(1) Garbage Collection (Warmup) 208M(20%)->164M(16%)\n"
            "[3.167s][info][gc] GC(2) Garbage Collection (Allocation Rate) 502M(49%)->716M(70%)\n")
    log = parse_gc_text(text)
    assert log.collector == "ZGC"
    assert [e.uptime_s for e in log.events] == [2.048, 3.167]
    assert log.events[0].after_bytes == 164 * MB
    assert log.triggers == {} and [e.cause for e in log.events] == ["Warmup", "Allocation Rate"]


def test_short_decimals_on_the_fast_path() -> None:
    # The JDK writes three decimals; hand-made or post-processed logs may not.
    text = "[0.1s][info][gc] Using Serial\n" + "".join(
        f"[{t}s][info][gc] GC({i}) Pause Young (Allocation Failure) 30M->10M(64M) {ms}ms\n"
        for i, (t, ms) in enumerate([("0.5", "1.5"), ("1.5", "2.25"), ("2.5", "3.125"), ("10.0", "0.5")]))
    log = parse_gc_text(text)
    assert [e.uptime_s for e in log.events] == [0.5, 1.5, 2.5, 10.0]
    assert [e.duration_ms for e in log.events] == [1.5, 2.25, 3.125, 0.5]


def test_truncated_last_line_is_ignored_and_flagged(tmp_path: Path) -> None:
    full = (LOGS / "g1-leak.log").read_text()
    cut = full[: full.rindex("Pause Young") + 30]  # stops inside the last pause line
    p = tmp_path / "gc.log"
    p.write_text(cut)
    whole, partial = parse_gc_files([LOGS / "g1-leak.log"]), parse_gc_files([p])
    assert partial.truncated_last_line and not whole.truncated_last_line
    young_whole = sum(e.kind == "young" for e in whole.events)
    assert sum(e.kind == "young" for e in partial.events) == young_whole - 1
    assert any("no newline" in w for w in partial.warnings)


def test_unknown_lines_are_counted_never_fatal(tmp_path: Path) -> None:
    lines = (LOGS / "parallel-leak.log").read_text().splitlines()
    junk = ["hello from stdout", "Exception in thread main", "\x1b[31mcolour\x1b[0m"]
    for i, j in enumerate(junk):
        lines.insert(10 + 7 * i, j)
    p = tmp_path / "gc.log"
    p.write_text("\n".join(lines) + "\n")
    s = summarize(parse_gc_files([p]))
    ref = summarize(parse_gc_files([LOGS / "parallel-leak.log"]))
    assert s["lines"]["unknown"] == 3 and ref["lines"]["unknown"] == 0
    assert s["pauses"]["count"] == ref["pauses"]["count"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 10, "binary data at byte offset"),
        (b'<?xml version="1.0" ?>\n<verbosegc xmlns="http://www.ibm.com/j9/verbosegc">\n', "OpenJ9"),
        (b"2026-03-02 12:00:01 INFO payments started\n", "not a HotSpot GC log line"),
    ],
)
def test_bad_input_gets_a_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.log"
    p.write_bytes(content)
    with pytest.raises(InputError) as exc:
        parse_gc_files([p])
    assert message in str(exc.value) and str(p) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_file_among_good_is_a_warning_and_the_rest_counts(tmp_path: Path) -> None:
    bad = tmp_path / "gc.log.0"
    bad.write_bytes(b"\x00\x01\x02garbage")
    good = tmp_path / "gc.log"
    good.write_text((LOGS / "serial-leak.log").read_text())
    log = parse_gc_files([good, bad])
    assert log.files == [str(good)]
    assert any("binary data" in w and str(bad) in w for w in log.warnings)
    assert summarize(log)["pauses"]["count"] > 10


def test_logs_of_two_jvms_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text((LOGS / "g1-leak.log").read_text())
    b.write_text((LOGS / "parallel-leak.log").read_text())
    with pytest.raises(InputError, match="two JVMs"):
        parse_gc_files([a, b])
    c = tmp_path / "c.log"
    c.write_text("1.028: [Full GC 109036K->44313K(118604K), 0.1666489 secs]\n")
    with pytest.raises(InputError, match="two JVMs"):
        parse_gc_files([a, c])


def test_rotated_files_are_read_in_order(tmp_path: Path) -> None:
    lines = (LOGS / "g1-stable.log").read_text().splitlines(keepends=True)
    third = len(lines) // 3
    parts = {"gc.log.0": lines[:third], "gc.log.1": lines[third: 2 * third], "gc.log": lines[2 * third:]}
    for name, part in parts.items():
        (tmp_path / name).write_text("".join(part))
    shuffled = [tmp_path / "gc.log", tmp_path / "gc.log.0", tmp_path / "gc.log.1"]
    assert [p.name for p in order_rotated(shuffled)] == ["gc.log.0", "gc.log.1", "gc.log"]
    rotated = summarize(parse_gc_files(shuffled))
    whole = summarize(parse_gc_files([LOGS / "g1-stable.log"]))
    assert rotated["restarts"] == 0
    for key in ("count", "total_ms", "p99_ms", "max_ms"):
        assert rotated["pauses"][key] == whole["pauses"][key]
    assert rotated["live_set"]["first_bytes"] == whole["live_set"]["first_bytes"]


def test_restart_keeps_the_last_run_and_says_so() -> None:
    text = ("[0.01s][info][gc] Using Serial\n"
            "[50.0s][info][gc] GC(0) Pause Young (Allocation Failure) 30M->10M(64M) 5.000ms\n"
            "[0.02s][info][gc] Using Serial\n"
            "[1.0s][info][gc] GC(0) Pause Young (Allocation Failure) 20M->5M(64M) 3.000ms\n")
    log = parse_gc_text(text)
    assert log.restarts == 1 and [e.duration_ms for e in log.events] == [3.0]
    assert "restarted" in log.warnings[0] and ":3:" in log.warnings[0]


def test_jdk8_g1_details_across_lines() -> None:
    text = """2014-07-24T13:49:45.090+0400: 0.258: [GC pause (G1 Evacuation Pause) (young), 0.0100000 secs]
   [Parallel Time: 8.4 ms, GC Workers: 4]
      [GC Worker Start (ms): Min: 258.1, Avg: 258.1, Max: 258.2, Diff: 0.1]
   [Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap: 24.0M(256.0M)->11.5M(256.0M)]
 [Times: user=0.03 sys=0.00, real=0.01 secs]
2014-07-24T13:49:46.000+0400: 1.168: [Full GC (Allocation Failure)  255M->180M(256M), 0.9000000 secs]
   [Eden: 0.0B(12.0M)->0.0B(12.0M) Survivors: 0.0B->0.0B Heap: 255.0M(256.0M)->180.0M(256.0M)]
0.388: [GC pause (young) (initial-mark) 10080K->10080K(16M)0.390: [GC concurrent-mark-start]
, 0.0013065 secs]
"""
    log = parse_gc_text(text)
    assert log.collector == "G1" and log.format == "jdk8"
    young, full, im = log.events
    assert (young.kind, young.duration_ms, young.after_bytes) == ("young", 10.0, int(11.5 * MB))
    assert young.young_before_bytes == 24 * MB and young.young_after_bytes == 3 * MB
    assert young.wall_s == datetime(2014, 7, 24, 9, 49, 45, 90000, tzinfo=timezone.utc).timestamp()
    assert (full.kind, full.cause, full.after_bytes, full.duration_ms) == ("full", "Allocation Failure", 180 * MB, 900.0)
    assert (im.kind, im.duration_ms) == ("young", pytest.approx(1.3065))


def test_jdk8_parallel_tenuring_split_and_cms_failure() -> None:
    text = """6.561: [GC (Allocation Failure)
Desired survivor size 11010048 bytes, new threshold 7 (max 15)
 [PSYoungGen: 66048K->9121K(76800K)] 66048K->18961K(251392K), 0.0061960 secs] [Times: user=0.03 sys=0.01, real=0.00 secs]
10.0: [Full GC (Ergonomics) [PSYoungGen: 9121K->0K(76800K)] [ParOldGen: 9840K->9000K(174592K)] 18961K->9000K(251392K), [Metaspace: 2600K->2600K(1056768K)], 0.0200000 secs]
"""
    log = parse_gc_text(text)
    assert log.collector == "Parallel"
    y, f = log.events
    assert (y.kind, y.cause, y.before_bytes, y.after_bytes) == ("young", "Allocation Failure", 66048 * 1024, 18961 * 1024)
    assert (y.young_before_bytes, y.young_after_bytes) == (66048 * 1024, 9121 * 1024)
    assert (f.kind, f.cause, f.after_bytes, f.duration_ms) == ("full", "Ergonomics", 9000 * 1024, 20.0)
    cms = parse_gc_text("5.0: [GC 5.0: [ParNew: 100K->10K(200K), 0.01 secs]5.01: [CMS: 900K->800K(1000K), "
                        "0.5 secs] 1000K->810K(1200K), [CMS Perm : 10K->10K(20K)], 0.5100000 secs]\n"
                        "6.0: [GC 6.0: [ParNew (promotion failed): 100K->100K(200K), 0.01 secs]6.01: [CMS6.5: "
                        "[CMS-concurrent-mark: 0.1/0.1 secs] (concurrent mode failure): 990K->900K(1000K), 1.0 secs] "
                        "1090K->900K(1200K), 1.0100000 secs]\n")
    assert cms.collector == "CMS"
    assert [(e.kind, e.cause) for e in cms.events] == [("young", None), ("full", "concurrent mode failure")]


def test_serial_young_that_became_full_is_paused_once() -> None:
    text = ("[0.016s][info][gc] Using Serial\n"
            "[0.293s][info][gc] GC(3) Pause Full (Allocation Failure) 74M->10M(92M) 7.097ms\n"
            "[0.293s][info][gc] GC(2) Pause Young (Allocation Failure) 74M->10M(92M) 7.236ms\n")
    s = summarize(parse_gc_text(text))
    assert s["events"] == {"full": 1, "young": 1}
    assert s["pauses"]["count"] == 2
    assert s["pauses"]["total_ms"] == pytest.approx(7.236)


# -- verdicts over synthetic series -------------------------------------------------------------


def _parallel_log(live_mb, reclaim_from_mb=None, hours: float = 12.0, n: int = 48, seed: int = 1) -> str:
    """A unified Parallel log with one Full GC per point: heap after = live_mb(x) (+ noise)."""
    rnd = random.Random(seed)
    out = ["[0.005s][info][gc,init] Heap Max Capacity: 8G", "[0.006s][info][gc] Using Parallel"]
    gid = 0
    for i in range(n):
        x = i / (n - 1)
        t = 60 + x * hours * 3600
        for k in range(3):  # young GCs in between
            before = live_mb(x) + 1500
            out.append(f"[{t - 30 + k:.3f}s][info][gc] GC({gid}) Pause Young (Allocation Failure) "
                       f"{before:.0f}M->{live_mb(x) + 400:.0f}M(8192M) {rnd.uniform(20, 40):.3f}ms")
            gid += 1
        after = live_mb(x) + rnd.uniform(0, 60)
        before = reclaim_from_mb(x) if reclaim_from_mb else after + 2500
        out.append(f"[{t:.3f}s][info][gc] GC({gid}) Pause Full (Ergonomics) {before:.0f}M->{after:.0f}M(8192M) "
                   f"{rnd.uniform(300, 600):.3f}ms")
        gid += 1
    return "\n".join(out) + "\n"


def test_leak_is_called_with_numbers() -> None:
    s = summarize(parse_gc_text(_parallel_log(lambda x: 2048 + 5900 * x)))
    v = s["verdict"]
    assert v["leak_suspected"] and v["status"] == "leak_suspected"
    assert s["live_set"]["slope_bytes_per_hour"] == pytest.approx(5900 * MB / 12, rel=0.05)
    assert s["live_set"]["r2"] > 0.95
    assert any("→" in r and "/h" in r and "R²" in r for r in v["reasons"])


def test_big_stable_cache_is_not_a_leak() -> None:
    # 6 GB of 8 GB live all day: large, flat, and Full GCs still reclaim 25%.
    s = summarize(parse_gc_text(_parallel_log(lambda x: 6144, reclaim_from_mb=lambda x: 8100)))
    v = s["verdict"]
    assert not v["leak_suspected"]
    assert abs(s["live_set"]["slope_bytes_per_hour"]) < 20 * MB
    assert any("not rising" in r for r in v["reasons"])


def test_cache_that_warms_up_then_stays_flat_is_not_a_leak() -> None:
    s = summarize(parse_gc_text(_parallel_log(lambda x: 1024 + 5000 * min(1.0, x * 2.5))))
    assert not s["verdict"]["leak_suspected"]


def test_leak_that_already_filled_the_heap() -> None:
    # climbed, then stuck at the top: Full GCs reclaim ~1%
    s = summarize(parse_gc_text(_parallel_log(lambda x: min(8000, 1500 + 13000 * x), reclaim_from_mb=lambda x: 8150)))
    v = s["verdict"]
    assert v["leak_suspected"] and v["heap_pressure"]
    assert any("reclaim" in r for r in v["reasons"])


def _young_only_log(points: list[tuple[float, float]], heap_mb: int = 512) -> str:
    """A unified Serial log of young pauses only (no Full GC): heap after = the given MB at each uptime."""
    out = ["[0.010s][info][gc] Using Serial"]
    for i, (t, after) in enumerate(points):
        out.append(f"[{t:.3f}s][info][gc] GC({i}) Pause Young (Allocation Failure) "
                   f"{after + 30:.0f}M->{after:.0f}M({heap_mb}M) 2.000ms")
    return "\n".join(out) + "\n"


def test_start_up_ramp_in_a_short_log_is_not_a_leak() -> None:
    # Like gctoolkit's 170_51mastermind.log: 18 s of JVM start-up, heap after young GCs 4 -> 14 MB of 512 MB.
    pts = [(0.5 + i * 0.23, 4 + 10 * i / 79) for i in range(80)]
    s = summarize(parse_gc_text(_young_only_log(pts)))
    v = s["verdict"]
    assert s["live_set"]["slope_bytes_per_hour"] > 0 and s["live_set"]["r2"] > 0.9  # it does climb ...
    assert not v["leak_suspected"], v["reasons"]  # ... but only while the JVM starts
    assert any("first 60 s" in r for r in v["reasons"])


def test_start_up_ramp_then_flat_is_not_a_leak() -> None:
    ramp = [(0.5 + i * 0.6, 20 + 300 * i / 79) for i in range(80)]  # first 48 s: 20 -> 320 MB
    flat = [(60 + i * 30, 320 + (i % 5)) for i in range(120)]  # then an hour at 320 MB
    s = summarize(parse_gc_text(_young_only_log(ramp + flat)))
    assert not s["verdict"]["leak_suspected"], s["verdict"]["reasons"]
    assert s["live_set"]["first_bytes"] >= 320 * MB  # the start-up climb is left out of the trend


def test_short_log_whose_climb_fills_the_heap_is_still_a_leak() -> None:
    # 3 s in a 64 MB heap, 8 -> 36 MB: the committed Serial/Parallel leak runs look like this.
    pts = [(0.3 + i * 0.035, 8 + 28 * i / 79) for i in range(80)]
    s = summarize(parse_gc_text(_young_only_log(pts, heap_mb=64)))
    assert s["verdict"]["leak_suspected"], s["verdict"]["reasons"]


def test_climb_that_goes_on_after_start_up_is_a_leak() -> None:
    ramp = [(0.5 + i * 0.6, 20 + 100 * i / 79) for i in range(80)]
    rise = [(60 + i * 30, 120 + 250 * i / 119) for i in range(120)]  # an hour: 120 -> 370 MB of 512 MB
    s = summarize(parse_gc_text(_young_only_log(ramp + rise)))
    assert s["verdict"]["leak_suspected"], s["verdict"]["reasons"]


def test_healthy_log_says_healthy() -> None:
    text = "[0.01s][info][gc] Using G1\n" + "".join(
        f"[{1 + i * 10}.000s][info][gc] GC({i}) Pause Young (Normal) (G1 Evacuation Pause) 300M->100M(1024M) 5.000ms\n"
        for i in range(100))
    v = summarize(parse_gc_text(text))["verdict"]
    assert v["status"] == "healthy" and not v["leak_suspected"]


# -- committed real-JVM logs ---------------------------------------------------------------------

EXPECTED_COLLECTOR = {"g1": "G1", "parallel": "Parallel", "serial": "Serial", "z": "ZGC", "shenandoah": "Shenandoah"}


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.log")))
def test_committed_jvm_logs_verdict(name: str) -> None:
    gc, mode = name[:-4].split("-")
    s = summarize(parse_gc_files([LOGS / name]))
    assert s["collector"] == EXPECTED_COLLECTOR[gc]
    assert s["lines"]["unknown"] == 0
    assert s["verdict"]["leak_suspected"] is (mode == "leak"), s["verdict"]["reasons"]


# -- CLI, collector, template, demo -------------------------------------------------------------


def _cli(*args: str):
    from ctxgrab.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_json_has_the_documented_keys() -> None:
    r = _cli("gc", str(LOGS / "shenandoah-leak.log"), "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["collector"] == "Shenandoah"
    assert set(d["pauses"]) >= {"count", "total_ms", "p50_ms", "p99_ms", "max_ms"}
    assert "full_gcs" in d and d["full_gcs"]["count"] == d["events"].get("full", 0)
    assert set(d["live_set"]) >= {"first_bytes", "last_bytes", "slope_bytes_per_hour"}
    assert d["verdict"]["leak_suspected"] is True and all(isinstance(x, str) for x in d["verdict"]["reasons"])


def test_cli_markdown_and_bad_input(tmp_path: Path) -> None:
    r = _cli("gc", str(DEMO / "gc.log"))
    assert r.exit_code == 0
    assert "**Verdict: memory leak suspected**" in r.stdout and "Collector: G1, max heap 8.0 GiB" in r.stdout
    bad = tmp_path / "core.bin"
    bad.write_bytes(b"\x00" * 100)
    r = _cli("gc", str(bad))
    assert r.exit_code == 2
    assert "binary data" in r.output and "Traceback" not in r.output and r.output.count("\n") == 1
    # the installed entry point, in a real process: one line on stderr, nothing on stdout
    proc = subprocess.run([sys.executable, "-c", "from ctxgrab.cli import main; main()", "gc", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("ctxgrab: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def _request(base: Path, start: str = "2026-03-02T00:00:00Z", end: str = "2026-03-02T12:00:00Z"):
    from ctxgrab.collectors import CollectRequest
    from ctxgrab.timeutil import Window, parse_time

    w = Window(parse_time(start), parse_time(end))
    return CollectRequest(service="payments", window=w, baseline=None, at=w.end, base_dir=base, config=None)  # type: ignore[arg-type]


def test_collector_reads_rotated_globs_and_keeps_going(tmp_path: Path) -> None:
    from ctxgrab.collectors.gclogs import collect

    gc_dir = tmp_path / "gc"
    gc_dir.mkdir()
    lines = (DEMO / "gc.log").read_text().splitlines(keepends=True)
    half = len(lines) // 2
    (gc_dir / "gc.log.0").write_text("".join(lines[:half]))
    (gc_dir / "gc.log").write_text("".join(lines[half:]))
    (gc_dir / "gc.log.1").write_bytes(b"\x00\xff not a log")
    ev = anyio.run(collect, _request(tmp_path), {"paths": ["gc/gc.log*", "missing/*.log"]})
    assert ev.ok and ev.kind == "gc"
    assert ev.data["verdict"]["leak_suspected"]
    assert [Path(f).name for f in ev.data["files"]] == ["gc.log.0", "gc.log"]
    assert any("gc.log.1" in w and "binary" in w for w in ev.warnings)
    assert any("missing/*.log" in w for w in ev.warnings)


def test_collector_window_and_failures(tmp_path: Path) -> None:
    from ctxgrab.collectors.gclogs import collect

    (tmp_path / "gc.log").write_text((DEMO / "gc.log").read_text())
    late = anyio.run(collect, _request(tmp_path, "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"), {"paths": ["gc.log"]})
    whole = anyio.run(collect, _request(tmp_path), {"paths": ["gc.log"]})
    assert 0 < late.data["pauses"]["count"] < whole.data["pauses"]["count"]
    assert late.data["span"]["start"] >= "2026-03-02T10:00"
    none = anyio.run(collect, _request(tmp_path), {"paths": ["nothing*.log"]})
    assert none.status.value == "empty" and "no file matches" in (none.reason or "")
    (tmp_path / "bad.log").write_bytes(b"")
    bad = anyio.run(collect, _request(tmp_path), {"paths": ["bad.log"]})
    assert bad.status.value == "error" and "empty file" in (bad.reason or "")
    outside = anyio.run(collect, _request(tmp_path, "2026-03-03T00:00:00Z", "2026-03-03T01:00:00Z"), {"paths": ["gc.log"]})
    assert outside.status.value == "empty"


def test_section_renders_with_strict_undefined() -> None:
    from ctxgrab.commands.gc import render_markdown

    demo = render_markdown(summarize(parse_gc_files([DEMO / "gc.log"])))
    assert "Pauses: " in demo and "p99" in demo and "Full GCs: " in demo and "G1 Compaction Pause" in demo
    assert "Live set (heap after G1 Remark, Mixed and Full collections): 2." in demo
    # a ZGC log without pauses or Full GCs still renders
    z = render_markdown(summarize(parse_gc_text("[1.0s][info][gc] Using The Z Garbage Collector\n"
                                                "[2.0s][info][gc] GC(0) Garbage Collection (Warmup) 20M(20%)->10M(10%)\n")))
    assert "Collector: ZGC" in z and "Full GCs: 0" in z


def test_demo_log_is_what_the_generator_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gc_demo_generate", DEMO / "generate.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    out = tmp_path / "gc.log"
    mod.main(out)
    assert out.read_bytes() == (DEMO / "gc.log").read_bytes()
    assert out.stat().st_size < 1024 * 1024
    s = summarize(parse_gc_files([out]))
    live = s["live_set"]
    assert s["collector"] == "G1" and s["heap_max_bytes"] == 8 * 1024**3
    assert 1.8 * 1024**3 < live["first_bytes"] < 2.6 * 1024**3 and 7.2 * 1024**3 < live["last_bytes"] < 8 * 1024**3
    assert s["span"]["start"].startswith("2026-03-02T00:") and s["span"]["end"].startswith("2026-03-02T11:")
    assert s["pauses"]["p99_second_half_ms"] > 2 * s["pauses"]["p99_first_half_ms"]
    assert s["verdict"]["leak_suspected"] and s["full_gcs"]["reclaimed_ratio_last"] < 0.05


def test_restrict_without_wall_times_keeps_everything() -> None:
    log = parse_gc_text(_g1())
    kept = restrict(log, datetime(2030, 1, 1, tzinfo=timezone.utc), None)
    assert len(kept.events) == 3


def test_two_jvms_logging_at_the_same_time_are_refused(tmp_path: Path) -> None:
    lines = (DEMO / "gc.log").read_text().splitlines(keepends=True)
    a, b = tmp_path / "pod-a.log", tmp_path / "pod-b.log"
    a.write_text("".join(lines[:2000]))
    # the same service's second pod, started an hour later with its own uptime
    b.write_text("".join(ln.replace("2026-03-02T00:", "2026-03-02T01:") for ln in lines[:50]))
    with pytest.raises(InputError, match="two JVMs were logging at the same time"):
        parse_gc_files([a, b])


def test_shenandoah_triggers_and_zgc_stalls_are_counted() -> None:
    text = ("[0.004s][info][gc] Using Shenandoah\n"
            "[1.466s][info][gc] Trigger: Learning 1 of 5. Free (2767M) is below initial threshold (2767M)\n"
            "[1.492s][info][gc] GC(0) Pause Init Mark (unload classes) 1.313ms\n"
            "[1.720s][info][gc] GC(0) Pause Final Mark (unload classes) 0.277ms\n"
            "[1.800s][info][gc] GC(0) Concurrent cleanup 900M->700M(4096M) 0.100ms\n"
            "[2.000s][info][gc] GC(0) Concurrent cleanup 750M->400M(4096M) 0.100ms\n"
            "[9.000s][info][gc] Trigger: Average GC time (598.35 ms) is above the time for allocation rate "
            "(9587 KB/s) to deplete free headroom (0B)\n"
            "[9.100s][info][gc] Cancelling GC: Allocation Failure\n"
            "[9.200s][info][gc] GC(1) Pause Degenerated GC (Mark) 4000M->3000M(4096M) 812.000ms\n")
    s = summarize(parse_gc_text(text))
    assert s["concurrent"]["triggers"] == {
        "learning: Free is below initial threshold": 1,
        "Average GC time is above the time for allocation rate to deplete free headroom": 1,
    }
    assert s["concurrent"]["cycles"] == 1 and s["concurrent"]["cancelled"] == 1
    assert s["problems"]["degenerated"] == 1 and s["verdict"]["heap_pressure"]
    assert s["events"] == {"phase": 2, "cycle": 1, "degenerated": 1}
    cycle = [e for e in parse_gc_text(text).events if e.kind == "cycle"][0]
    assert cycle.after_bytes == 400 * MB  # the second cleanup of the cycle is the heap after it
    z = summarize(parse_gc_text(
        "[1.0s][info][gc] Using The Z Garbage Collector\n"
        "[2.0s][info][gc] Allocation Stall (main) 12.500ms\n"
        "[2.1s][info][gc] Allocation Stall (worker-1) 7.500ms\n"
        "[3.0s][info][gc] GC(0) Garbage Collection (Allocation Stall) 60M(94%)->50M(78%)\n"))
    assert z["concurrent"]["allocation_stalls"] == 2 and z["concurrent"]["allocation_stall_ms"] == 20.0
    assert z["verdict"]["heap_pressure"] and any("allocation stalls" in r for r in z["verdict"]["reasons"])


def test_evacuation_failure_is_counted_not_taken_for_the_cause() -> None:
    text = ("[0.01s][info][gc] Using G1\n"
            "[1.00s][info][gc] GC(0) Pause Young (Normal) (G1 Evacuation Pause) (Evacuation Failure) 60M->62M(64M) 9.000ms\n"
            "[2.00s][info][gc] GC(1) Pause Full (System.gc()) 62M->20M(64M) 30.000ms\n")
    s = summarize(parse_gc_text(text))
    assert s["problems"]["to_space_exhausted"] == 1
    log = parse_gc_text(text)
    assert [e.cause for e in log.events] == ["G1 Evacuation Pause", "System.gc()"]
    assert s["full_gcs"]["causes"] == {"System.gc()": 1}
