"""Fuzzing ``ctxgrab gc``, ``ctxgrab heap`` and their collectors with mutated real inputs.

Inputs: the demo heap dump (a JDK 17 JVM running tests/java/HeapPaymentsDemo.java, dumped with
``jcmd GC.heap_dump``), the demo GC log, and public GC logs from ../shared/data/gclogs (GCViewer's
test data: a JDK 8 CMS log and a JDK 17 unified G1 log). Mutations are what damage looks like:
cuts, NUL blocks, flipped bytes, inserted garbage, repeated or dropped ranges, huge length fields.

Every run must end with exit 0 and a result (partial where the damage can be seen, a cut dump
always is), or exit 2 with one line; never a traceback; within the deadline plus 2 s; the parse's
peak RSS under the memory cap (over what the forked process already had).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import struct
import tempfile
import time
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import SHARED
from ctxgrab import parsebudget
from ctxgrab.cli import app

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo"
MiB = 1 << 20
DEADLINE_S = 8.0
CAP_MIB = 512

DUMP = gzip.decompress((DEMO / "heap" / "payments-0900.hprof.gz").read_bytes())
GC_LOGS = {
    "demo-g1": (DEMO / "gc" / "gc.log").read_bytes()[:200_000],
    "gcviewer-cms-jdk8": (SHARED / "data" / "gclogs" / "GCViewer" / "openjdk" / "SampleSun1_5_0CMS_PrintGCDetails.txt").read_bytes(),
    "gcviewer-g1-jdk17": (SHARED / "data" / "gclogs" / "GCViewer" / "openjdk" / "unified-jvm-logging"
                          / "sample-ujl-jdk17-full-concurrent-cycle-g1-gc-all-safepont,os-cpu.txt").read_bytes(),
}
HEADER = DUMP.index(b"\0") + 1 + 12
RECORDS = []
_p = HEADER
while _p < len(DUMP):
    _tag, _t, _len = struct.unpack_from(">BII", DUMP, _p)
    RECORDS.append(_p)
    _p += 9 + _len

EXAMPLES = int(os.environ.get("CTXGRAB_FUZZ_EXAMPLES", "20"))  # CI: 20; a deeper local run: 500
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutations(draw, data: bytes, anchors: list[int] | None = None):
    """A damaged copy of ``data`` and whether it was cut short."""
    out = bytearray(data)
    cut = False
    for _ in range(draw(st.integers(1, 3))):
        n = len(out)
        if anchors and draw(st.booleans()):  # aim at a record boundary: tags and lengths live there
            at = min(draw(st.sampled_from(anchors)) + draw(st.integers(0, 12)), n - 1)
        else:
            at = draw(st.integers(0, max(0, n - 1)))
        op = draw(st.sampled_from(["cut", "nul", "flip", "insert", "repeat", "drop", "huge"]))
        if op == "cut":
            del out[at:]
            cut = True
        elif op == "nul":
            k = draw(st.sampled_from([1, 64, 4096, 65536]))
            out[at:at + k] = b"\0" * k
        elif op == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "repeat":
            k = draw(st.integers(1, 100_000))
            out[at:at] = out[at:at + k]
        elif op == "drop":
            del out[at:at + draw(st.integers(1, 100_000))]
        else:  # a length or count field turned huge
            out[at:at + 4] = struct.pack(">I", draw(st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x10000000])))
        if not out:
            out = bytearray(b"\0")
    return bytes(out), cut


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _invoke(*args: str) -> tuple[int, str, str, float]:
    parsebudget.last_peak_rss_bytes = None
    t0 = time.monotonic()
    r = CliRunner().invoke(app, [*args, "--deadline", str(DEADLINE_S), "--memory-mib", str(CAP_MIB)])
    took = time.monotonic() - t0
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # a traceback: the test fails with it
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    if r.exit_code == 2:
        assert r.stdout == "" and r.stderr.startswith("ctxgrab: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert took < DEADLINE_S + 2
    peak = parsebudget.last_peak_rss_bytes
    assert peak is None or peak < _rss_now() + CAP_MIB * MiB, f"parse peak RSS {peak / MiB:.0f} MiB"
    return r.exit_code, r.stdout, r.stderr, took


@FUZZ
@given(st.sampled_from(sorted(GC_LOGS)).flatmap(lambda k: mutations(GC_LOGS[k])), st.booleans())
def test_gc_cli_on_damaged_logs(damaged: tuple[bytes, bool], gz: bool) -> None:
    data, _cut = damaged
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("gc.log.1.gz" if gz else "gc.log")
        path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
        code, out, err, _ = _invoke("gc", str(path), "--format", "json")
        if code == 0:
            summary = json.loads(out)
            assert summary["pauses"]["count"] or summary["live_set"]["points"]
            if b"\0" in data and summary["lines"]["total"]:
                assert any("NUL bytes" in w for w in summary["warnings"])


@pytest.mark.slow
@FUZZ
@given(mutations(DUMP, RECORDS))
def test_heap_cli_on_damaged_dumps(damaged: tuple[bytes, bool]) -> None:
    data, cut = damaged
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.hprof"
        path.write_bytes(data)
        code, out, err, _ = _invoke("heap", str(path), "--format", "json")
        if code == 0:
            report = json.loads(out)
            if cut and len(data) < len(DUMP):
                assert report["partial"] is True, "a dump cut short must say so"
            if report["partial"]:
                assert report["warnings"] and "partial result" in err
                assert report["gc_roots"] or report["verdict"].startswith("No verdict")


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutations(DUMP, RECORDS), mutations(GC_LOGS["demo-g1"]))
def test_collectors_on_damaged_files(dump: tuple[bytes, bool], log: tuple[bytes, bool]) -> None:
    from ctxgrab.collectors.gclogs import collect as collect_gc
    from ctxgrab.collectors.heapdumps import collect as collect_heap
    from ctxgrab.testing import make_request

    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        (base / "x.hprof").write_bytes(dump[0])
        (base / "gc.log").write_bytes(log[0])
        req = make_request({"services": {"payments": {"gc_logs": ["gc.log"], "heap_dumps": ["x.hprof"]}}},
                           "payments", base_dir=base)
        for fn, params in ((collect_heap, {"paths": ["x.hprof"]}), (collect_gc, {"paths": ["gc.log"]})):
            t0 = time.monotonic()
            with parsebudget.limits(deadline_s=DEADLINE_S, memory_bytes=CAP_MIB * MiB):
                ev = anyio.run(fn, req, params)
            assert time.monotonic() - t0 < DEADLINE_S + 2
            assert ev.status.value in ("ok", "empty", "error", "timeout")
            if ev.status.value != "ok":
                assert ev.reason and "\n" not in ev.reason and "Traceback" not in ev.reason
            elif ev.kind == "heap" and dump[1] and len(dump[0]) < len(DUMP):
                assert ev.data["partial"] and ev.warnings[0].startswith("partial result")


@pytest.mark.parametrize("name", sorted(GC_LOGS))
def test_undamaged_inputs_are_whole(name: str, tmp_path: Path) -> None:
    # The control: what the fuzz mutates parses cleanly, so a warning above comes from the damage.
    path = tmp_path / "gc.log"
    path.write_bytes(GC_LOGS[name])
    code, out, err, _ = _invoke("gc", str(path), "--format", "json")
    assert code == 0 and not any("NUL" in w for w in json.loads(out)["warnings"])
