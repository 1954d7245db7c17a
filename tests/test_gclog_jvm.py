"""GC logs from real JVMs: every collector this Java has, a leaking and a bounded workload each.

tests/java/GcLoad.java runs for 3 s in a 64 MB heap with -Xlog:gc*; ``leak`` grows a cache
without TTL and a session list nobody cleans, ``stable`` holds a big bounded cache (half the
heap) and replaces entries. The verdict must call every leak and none of the caches. Needs
``java`` and ``javac`` (Java 17 on this machine); skips without them, fails under
CTXGRAB_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import find_binary, missing
from ctxgrab.analysis.gclog import parse_gc_files, summarize

SOURCE = Path(__file__).resolve().parent / "java" / "GcLoad.java"
SECONDS = "3"
COLLECTORS = {"G1": "G1", "Parallel": "Parallel", "Serial": "Serial", "Z": "ZGC", "Shenandoah": "Shenandoah"}
DECORATIONS = "time,uptime,level,tags"
PARALLEL = 2  # JVMs running at once

pytestmark = pytest.mark.integration


def _supported(java: str, flag: str) -> bool:
    r = subprocess.run([java, f"-XX:+{flag}", "-version"], capture_output=True, text=True, timeout=60)
    return r.returncode == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Run every JVM, two at a time, each to its end; return the log paths (or why a collector is missing)."""
    java, javac = find_binary("java"), find_binary("javac")
    work = tmp_path_factory.mktemp("gcjvm")
    subprocess.run([javac, "-d", str(work), str(SOURCE)], check=True, timeout=120, capture_output=True)
    jobs: dict[str, tuple[list[str], Path]] = {}
    results: dict[str, Path | str] = {}
    for gc in COLLECTORS:
        if not _supported(java, f"Use{gc}GC"):
            results[f"{gc}-leak"] = results[f"{gc}-stable"] = f"this JVM has no {gc} collector"
            continue
        for mode in ("leak", "stable"):
            log = work / f"{gc}-{mode}.log"
            jobs[f"{gc}-{mode}"] = ([f"-XX:+Use{gc}GC", f"-Xlog:gc*:file={log}:{DECORATIONS}"], log)
            results[f"{gc}-{mode}"] = log
    # decorations without uptime; uptimemillis with pid and tid; rotated files
    jobs["no-uptime"] = (["-XX:+UseG1GC", f"-Xlog:gc*:file={work / 'nouptime.log'}:time,level,tags"], work / "nouptime.log")
    jobs["millis"] = (["-XX:+UseParallelGC", f"-Xlog:gc*:file={work / 'millis.log'}:uptimemillis,pid,tid,level,tags"],
                      work / "millis.log")
    rot = work / "rot"
    rot.mkdir()
    jobs["rotated"] = (["-XX:+UseSerialGC", f"-Xlog:gc*:file={rot / 'gc.log'}:{DECORATIONS}:filecount=50,filesize=100k"],
                       rot / "gc.log")
    modes = {"no-uptime": "leak", "millis": "stable", "rotated": "leak"}
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    keys = list(jobs)
    try:
        # A few at a time: 2 cores shared by many JVMs leave each too few collections to measure.
        for i in range(0, len(keys), PARALLEL):
            batch = []
            for key in keys[i : i + PARALLEL]:
                flags, _ = jobs[key]
                mode = modes.get(key, key.split("-")[-1])
                cmd = [java, "-Xmx64m", "-XX:-UsePerfData", *flags, "-cp", str(work), "GcLoad", mode, SECONDS]
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                procs.append((key, p))
                batch.append((key, p))
            for key, p in batch:
                _, err = p.communicate(timeout=120)
                assert p.returncode == 0, f"{key}: java exited {p.returncode}: {err.decode()[-500:]}"
    finally:
        for _, p in procs:  # a test that starts a process stops it
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    results["no-uptime"] = work / "nouptime.log"
    results["millis"] = work / "millis.log"
    results["rotated"] = rot
    return results


def _log(runs: dict[str, Path | str], key: str) -> Path:
    v = runs[key]
    if isinstance(v, str):
        missing(v)
    return v  # type: ignore[return-value]


@pytest.mark.parametrize("gc", list(COLLECTORS))
@pytest.mark.parametrize("mode", ["leak", "stable"])
def test_verdict_for_every_collector(runs, gc: str, mode: str) -> None:
    s = summarize(parse_gc_files([_log(runs, f"{gc}-{mode}")]))
    assert s["collector"] == COLLECTORS[gc]
    assert s["lines"]["unknown"] == 0 and s["restarts"] == 0
    assert s["pauses"]["count"] > 0 and s["live_set"]["points"] >= 4
    assert s["heap_max_bytes"] == 64 * 1024**2
    assert s["verdict"]["leak_suspected"] is (mode == "leak"), s["verdict"]["reasons"]
    if mode == "leak":
        live = s["live_set"]
        assert live["last_bytes"] > live["first_bytes"] + 6 * 1024**2 and live["slope_bytes_per_hour"] > 0


def test_missing_uptime_uses_the_wall_clock(runs) -> None:
    log = parse_gc_files([_log(runs, "no-uptime")])
    assert all(e.uptime_s is None and e.wall_s is not None for e in log.events)
    s = summarize(log)
    assert s["collector"] == "G1" and 2.0 < s["span"]["seconds"] < 4.0
    assert s["verdict"]["leak_suspected"]


def test_uptimemillis_pid_tid_decorations(runs) -> None:
    s = summarize(parse_gc_files([_log(runs, "millis")]))
    assert s["collector"] == "Parallel" and s["lines"]["unknown"] == 0
    assert 2.0 < s["span"]["seconds"] < 4.0
    assert not s["verdict"]["leak_suspected"]


def test_rotated_files_in_any_order(runs) -> None:
    files = sorted(_log(runs, "rotated").iterdir())
    assert len(files) >= 3, "the JVM did not rotate; raise the workload or lower filesize"
    shuffled = files[:]
    random.Random(5).shuffle(shuffled)
    s = summarize(parse_gc_files(shuffled))
    assert s["collector"] == "Serial" and s["restarts"] == 0 and len(s["files"]) == len(files)
    assert s["verdict"]["leak_suspected"]


def test_truncated_unknown_lines_and_decimal_comma(runs, tmp_path: Path) -> None:
    src = _log(runs, "Z-leak").read_text()
    ref = summarize(parse_gc_files([_log(runs, "Z-leak")]))
    # a log cut mid-line while the JVM writes, with stray stdout lines in it
    cut = src[: len(src) - 40]
    lines = cut.splitlines(keepends=True)
    lines.insert(len(lines) // 2, "Picked up JAVA_TOOL_OPTIONS: -Dfoo=bar\n")
    lines.insert(len(lines) // 3, "####### garbage #######\n")
    p = tmp_path / "cut.log"
    p.write_text("".join(lines))
    s = summarize(parse_gc_files([p]))
    assert s["lines"]["truncated_last_line"] and s["lines"]["unknown"] == 2
    assert s["verdict"]["leak_suspected"]
    # the same log as written under a locale with a decimal comma: identical numbers
    comma = tmp_path / "comma.log"
    comma.write_text(re.sub(r"\]\[(\d+)\.(\d+)s\]", r"][\1,\2s]", src))
    assert "[0,0" in comma.read_text()[:2000] or ",0" in comma.read_text()[:2000]
    c = summarize(parse_gc_files([comma]))
    for key in ("pauses", "live_set", "full_gcs", "verdict"):
        assert c[key] == ref[key]
