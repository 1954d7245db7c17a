"""Heap-dump analysis against a real JVM with known holdings (tests/java/HeapHoldings.java).

The JVM holds a cache of ENTRIES × byte[PAYLOAD] and a registry of SESSIONS × byte[SESSION_BYTES]
that is never cleared. We take ``jcmd GC.class_histogram`` and ``jcmd GC.heap_dump`` of the same
process and check the parser's histogram against the JVM's own, and the retained sizes of the two
holders against what the program allocated.
"""

from __future__ import annotations

import json
import re
import selectors
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import find_binary
from ctxgrab.analysis.dominators import dominator_tree, heap_report
from ctxgrab.analysis.histogram import parse_histogram
from ctxgrab.analysis.hprof import KIND_CLASS, KIND_INSTANCE, parse_hprof

pytestmark = pytest.mark.integration

JAVA_SRC = Path(__file__).parent / "java" / "HeapHoldings.java"
ENTRIES, PAYLOAD = 500, 32768
SESSIONS, SESSION_BYTES = 2000, 4096
MORE_SESSIONS = 1000


class _Jvm:
    def __init__(self, java: str, workdir: Path, *flags: str, args: tuple[int, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [java, "-Xmx128m", "-XX:+UseSerialGC", *flags, str(JAVA_SRC),
             *(str(a) for a in (args or (ENTRIES, PAYLOAD, SESSIONS, SESSION_BYTES)))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir,
        )
        self.sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def read_line(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.sel.select(timeout=deadline - time.monotonic()):
                line = self.proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise AssertionError(f"JVM exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
                return line.strip()
        raise AssertionError("JVM did not answer in time")

    def send(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.read_line()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            self.sel.close()
            self.proc.stdout.close()  # type: ignore[union-attr]
            self.proc.stderr.close()  # type: ignore[union-attr]


def _jcmd(jcmd: str, pid: int, *args: str) -> str:
    out = subprocess.run([jcmd, str(pid), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.fixture(scope="module")
def jvm_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict:
    java, jcmd = find_binary("java"), find_binary("jcmd")
    work = tmp_path_factory.mktemp("heapjvm")
    jvm = _Jvm(java, work)
    try:
        ready = jvm.read_line()
        m = re.match(r"READY pid=(\d+) cache_payload_bytes=(\d+) session_bytes=(\d+)", ready)
        assert m, ready
        pid = int(m.group(1))
        histo = _jcmd(jcmd, pid, "GC.class_histogram")
        _jcmd(jcmd, pid, "GC.heap_dump", str(work / "before.hprof"))
        _jcmd(jcmd, pid, "GC.heap_dump", "-gz=1", str(work / "before.hprof.gz"))
        assert jvm.send(f"sessions {MORE_SESSIONS}") == f"OK sessions={SESSIONS + MORE_SESSIONS}"
        _jcmd(jcmd, pid, "GC.heap_dump", str(work / "after.hprof"))
    finally:
        jvm.stop()
    assert jvm.proc.returncode is not None
    return {"dir": work, "histogram": histo, "cache_bytes": int(m.group(2)), "session_bytes": int(m.group(3))}


@pytest.fixture(scope="module")
def parsed(jvm_dumps):
    dump = parse_hprof(jvm_dumps["dir"] / "before.hprof")
    return dump, dominator_tree(dump)


def _static_target(dump, class_name: str, field: str) -> int:
    ci = dump.class_names.index(class_name)
    obj = int(np.flatnonzero((dump.obj_kind == KIND_CLASS) & (dump.obj_class == ci))[0])
    slot = dump.static_ref_names[ci].index("static " + field)
    lo, hi = dump.edge_start[obj], dump.edge_start[obj + 1]
    hits = np.flatnonzero(dump.edge_slot[lo:hi] == slot)
    return int(dump.edge_dst[lo + hits[0]])


def test_histogram_matches_the_jvms(jvm_dumps, parsed):
    dump, _tree = parsed
    assert not dump.partial and dump.warnings == []
    jvm = {r.class_name: r for r in parse_histogram(jvm_dumps["histogram"]).rows}
    hc = dump.histogram_class()
    counts = np.bincount(hc, minlength=len(dump.class_names))
    sizes = np.bincount(hc, weights=dump.shallow_bytes, minlength=len(dump.class_names))
    own = [n for n in jvm if n.startswith("heaptest.")]
    assert sorted(own) == ["heaptest.HeapHoldings$CacheEntry", "heaptest.HeapHoldings$ResponseCache",
                           "heaptest.HeapHoldings$Session"]
    for name in own + ["byte[]", "java.lang.String", "java.util.HashMap$Node", "java.lang.Object[]"]:
        ci = dump.class_names.index(name)
        if name.startswith("heaptest."):
            assert counts[ci] == jvm[name].instances, name
        assert sizes[ci] == pytest.approx(jvm[name].shallow_bytes, rel=0.01), name
    assert counts[dump.class_names.index("heaptest.HeapHoldings$Session")] == SESSIONS
    assert counts[dump.class_names.index("heaptest.HeapHoldings$CacheEntry")] == ENTRIES


def test_retained_sizes_of_the_holders(jvm_dumps, parsed):
    dump, tree = parsed
    cache_ci = dump.class_names.index("heaptest.HeapHoldings$ResponseCache")
    cache = int(np.flatnonzero((dump.obj_kind == KIND_INSTANCE) & (dump.obj_class == cache_ci))[0])
    assert cache == _static_target(dump, "heaptest.HeapHoldings", "CACHE")
    allocated = jvm_dumps["cache_bytes"]
    assert allocated <= tree.retained_of(cache) <= allocated * 1.02
    sessions = _static_target(dump, "heaptest.HeapHoldings$SessionRegistry", "SESSIONS")
    allocated = jvm_dumps["session_bytes"]
    assert allocated <= tree.retained_of(sessions) <= allocated * 1.02
    # The whole live heap is the super-root's retained size and the sum of live shallow sizes.
    live = tree.vertex[1:]
    assert tree.retained_bytes[0] == int(dump.shallow_bytes[live].sum())


def test_suspects_name_holder_path_and_accumulation(parsed):
    dump, tree = parsed
    report = heap_report(dump, tree)
    json.dumps(report)  # JSON-friendly all the way down
    by_field = {}
    for s in report["suspects"]:
        for step in s["path"]:
            if step.startswith("static "):
                by_field[step.split()[1]] = s
    cache, sessions = by_field["CACHE"], by_field["SESSIONS"]
    assert "heaptest.HeapHoldings$ResponseCache" in cache["description"]
    assert cache["accumulation"]["object"] == "java.util.HashMap$Node[]"
    assert cache["accumulation"]["children"][0] == {
        "class": "java.util.HashMap$Node", "instances": ENTRIES,
        "retained_bytes": cache["accumulation"]["children"][0]["retained_bytes"]}
    assert "heaptest.HeapHoldings$CacheEntry" in cache["path"][-1] and cache["path"][-1].endswith("byte[]")
    assert sessions["accumulation"]["children"][0]["class"] == "heaptest.HeapHoldings$Session"
    assert sessions["accumulation"]["children"][0]["instances"] == SESSIONS
    assert cache["retained_pct"] > sessions["retained_pct"] >= 0.10
    top = {r["class"]: r for r in report["top_retainers"]}
    assert top["heaptest.HeapHoldings$Session"]["instances"] == SESSIONS
    assert top["heaptest.HeapHoldings$Session"]["retained_bytes"] >= SESSIONS * SESSION_BYTES
    assert "cannot tell a large bounded cache from a leak" in report["verdict"]


def test_gzipped_dump_gives_the_same_graph(jvm_dumps, parsed):
    dump, _ = parsed
    gz = parse_hprof(jvm_dumps["dir"] / "before.hprof.gz")
    assert gz.n_objects == dump.n_objects
    assert np.array_equal(np.sort(gz.obj_id), np.sort(dump.obj_id))
    assert gz.shallow_bytes.sum() == dump.shallow_bytes.sum()
    assert gz.edge_dst.shape == dump.edge_dst.shape


def test_baseline_shows_the_registry_growing(jvm_dumps):
    from ctxgrab.analysis.dominators import analyze_heap_file

    d = jvm_dumps["dir"]
    report = analyze_heap_file(str(d / "after.hprof"), baseline=str(d / "before.hprof"))
    g = report["growth"]
    grown = [s for s in g["suspects"] if "SESSIONS" in s["description"] or "ArrayList" in s["description"]]
    assert grown, g["suspects"]
    assert grown[0]["retained_bytes_delta"] == pytest.approx(MORE_SESSIONS * SESSION_BYTES, rel=0.02)
    assert grown[0]["children_before"] == SESSIONS and grown[0]["children_now"] == SESSIONS + MORE_SESSIONS
    sess = next(c for c in g["classes"] if c["class"] == "heaptest.HeapHoldings$Session")
    assert sess["instances_delta"] == MORE_SESSIONS
    assert "Growing between the dumps" in g["verdict"]


def test_dump_cut_mid_segment_is_partial(jvm_dumps, parsed, tmp_path):
    dump, _ = parsed
    data = (jvm_dumps["dir"] / "before.hprof").read_bytes()
    cut = tmp_path / "cut.hprof"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    part = parse_hprof(cut)
    assert part.partial
    assert any("truncated" in w and "offset" in w for w in part.warnings)
    assert 0 < part.n_objects < dump.n_objects
    report = heap_report(part)  # still analysable: what was read is kept
    assert report["partial"] and report["total_live_bytes"] > 0


def test_cli_heap_json_on_real_dump(jvm_dumps):
    from typer.testing import CliRunner

    from ctxgrab.cli import app

    d = jvm_dumps["dir"]
    res = CliRunner().invoke(app, ["heap", str(d / "after.hprof"), "--baseline", str(d / "before.hprof.gz"),
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"total_live_bytes", "top_retainers", "suspects", "growth"} <= set(out)
    assert {"class", "instances", "shallow_bytes", "retained_bytes"} <= set(out["top_retainers"][0])
    assert {"description", "retained_bytes", "path"} <= set(out["suspects"][0])
    md = CliRunner().invoke(app, ["heap", str(d / "after.hprof")])
    assert md.exit_code == 0 and "Leak suspects" in md.stdout and "static CACHE" in md.stdout


def test_layout_without_compressed_oops(tmp_path):
    """-XX:-UseCompressedOops: 8-byte references; sizes must still match the JVM's histogram."""
    java, jcmd = find_binary("java"), find_binary("jcmd")
    jvm = _Jvm(java, tmp_path, "-XX:-UseCompressedOops", args=(100, 4096, 300, 1000))
    try:
        pid = int(re.match(r"READY pid=(\d+)", jvm.read_line()).group(1))  # type: ignore[union-attr]
        histo = parse_histogram(_jcmd(jcmd, pid, "GC.class_histogram"))
        _jcmd(jcmd, pid, "GC.heap_dump", str(tmp_path / "plain.hprof"))
    finally:
        jvm.stop()
    dump = parse_hprof(tmp_path / "plain.hprof", compressed_oops=False)
    jvm_rows = {r.class_name: r for r in histo.rows}
    hc = dump.histogram_class()
    counts = np.bincount(hc, minlength=len(dump.class_names))
    sizes = np.bincount(hc, weights=dump.shallow_bytes, minlength=len(dump.class_names))
    for name in ["heaptest.HeapHoldings$Session", "heaptest.HeapHoldings$CacheEntry", "java.util.HashMap$Node",
                 "java.lang.String", "java.lang.Object[]", "long[]", "byte[]"]:
        ci = dump.class_names.index(name)
        if name.startswith("heaptest."):
            assert counts[ci] == jvm_rows[name].instances
        assert sizes[ci] == pytest.approx(jvm_rows[name].shallow_bytes, rel=0.01), name
