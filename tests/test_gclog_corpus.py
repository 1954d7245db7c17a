"""The public GC-log corpus in ../shared/data/gclogs: every file parses, counts come close to
what the source projects' own tests assert (EXPECTED.md there), verdicts on the known leaks.

Skips when the folder is absent; fails then under CTXGRAB_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED, missing
from ctxgrab.analysis.gclog import parse_gc_files, summarize

CORPUS = SHARED / "data" / "gclogs"
TK = "gctoolkit-testdata/gctoolkit-gclogs/"
GV = "GCViewer/openjdk/"
UJL = GV + "unified-jvm-logging/"

# Values asserted by gctoolkit's and GCViewer's own tests (EXPECTED.md). G1 "young" includes
# the young pauses that start a concurrent cycle (initial-mark / concurrent start).
EXPECTED_COUNTS: dict[str, dict[str, int]] = {
    TK + "unified/parallel/parallelgc.log": {"young": 4638, "full": 28},
    TK + "unified/serial/factorization-serialgc-tip.log": {"young": 13, "full": 4},
    TK + "unified/g1gc/jvm-gc-10Nov2022.log": {"young": 4 + 2, "remark": 2, "cleanup": 2},
    TK + "preunified/cms/defnew/details/defnew.log": {"young": 19114, "initial_mark": 26, "remark": 26},
    TK + "preunified/cms/530_gc.log": {"young": 30, "full": 1, "initial_mark": 4, "remark": 3},
    TK + "preunified/cms/713_gc.log": {"young": 79, "full": 5, "initial_mark": 24, "remark": 24},
    TK + "preunified/cms/parnew/details/GCLog_CMSCollection.log": {"young": 713, "initial_mark": 1, "remark": 1},
    TK + "preunified/cms/parnew/details/tenuring/tlab/tlab_broken_gc_locker.log": {"young": 9, "initial_mark": 1, "remark": 1},
    TK + "preunified/ps/details/long_pause.log": {"young": 21, "full": 1},
    TK + "preunified/ps/details/tenuring/gccause/170/ps.cause.tenuring.details.v17051.log": {"young": 90, "full": 4},
    TK + "preunified/g1gc/details/g1.details.cause.log": {"young": 130 + 33, "mixed": 2, "full": 19 + 3, "remark": 17,
                                                          "cleanup": 17},
    TK + "preunified/g1gc/details/170_51mastermind.log": {"young": 480},
    TK + "preunified/g1gc/details/reference/post17040/gc_with_overflow.log": {"young": 158 + 40, "full": 401,
                                                                               "remark": 3, "cleanup": 3},
    TK + "preunified/g1gc/details/tenuring/server3-gc.log": {"young": 16},
    UJL + "sample-ujl-g1-gc-defaults.txt": {"full": 1},
    UJL + "sample-ujl-parallel-gc-defaults.txt": {"young": 5, "full": 6},
    UJL + "sample-ujl-parallel-gc-all,safepoint,os+cpu.txt": {"young": 4, "full": 4},
    UJL + "sample-ujl-serial-gc-defaults.txt": {"young": 8, "full": 3},
    UJL + "sample-ujl-serial-gc-all,safepoint,os+cpu.txt": {"young": 3, "full": 1},
    UJL + "sample-ujl-cms-gc-defaults.txt": {"full": 1},
    UJL + "SampleShenandoahAllocationFailure.txt": {"full": 1},
    UJL + "sample-ujl-g1-gc-all,safepoint,os+cpu.txt": {"young": 11, "remark": 1, "cleanup": 1},
}

# GCViewer's asserted pause sums (s) and throughput (%) for whole files.
EXPECTED_PAUSES = {
    GV + "SampleSun1_6_0G1_gc_verbose.txt": (62.616796, 47.773),
    GV + "SampleSun1_5_0ConcurrentModeFailure.txt": (181.8116798, 78.558339),
    GV + "SampleSun1_5_0CMS_PrintGCDetails.txt": (9.1337492, 88.2823),
    TK + "preunified/cms/defnew/details/defnew.log": (208.922, None),
}

EXPECTED_COLLECTOR = {
    TK + "unified/g1gc/gc-no-age-timestamp.log": "G1",
    TK + "unified/g1gc/minimal.log": "G1",
    TK + "unified/cms/gc.log": "CMS",
    "gctoolkit-testdata/gctoolkit-shenandoah-logs/shenandoah/shenandoah.log.0": "Shenandoah",
    "gctoolkit-testdata/gctoolkit-shenandoah-logs/shenandoah/shenandoah.log.2": "Shenandoah",
    "gctoolkit-testdata/gctoolkit-gclogs-rolling/rolling/jdk14/rollinglogs/long_restart.log": "G1",
    UJL + "sample-ujl-zgc-gc-all.txt": "ZGC",
    UJL + "sample-ujl-zgc-gc-default.txt": "ZGC",
    UJL + "sample-ujl-zgc-gc-other.txt": "ZGC",
    UJL + "Sample-ujl-shenandoah-jdk17.txt": "Shenandoah",
    UJL + "sample-ujl-jdk17-full-concurrent-cycle-g1-gc-all-safepont,os-cpu.txt": "G1",
    TK + "preunified/ps/details/memoryleak1.log": "Parallel",
    TK + "preunified/cms/defnew/details/defnew.log": "CMS",  # DefNew young + CMS old; CMS phases start late
    TK + "preunified/cms/530_gc.log": "CMS",
    GV + "SampleSun1_8_0CmsPrintGcId.txt": "CMS",
}


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        missing(f"public GC-log corpus not found at {CORPUS}")
    return CORPUS


def _files() -> list[str]:
    if not CORPUS.is_dir():
        return ["<corpus missing>"]
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
                  if p.is_file() and p.name not in ("EXPECTED.md", "LICENSE", "LICENSE.txt"))


@pytest.fixture(scope="module")
def summaries(corpus: Path) -> dict[str, dict]:
    return {rel: summarize(parse_gc_files([corpus / rel], strict=True)) for rel in _files()}


def test_every_public_log_parses(summaries: dict[str, dict]) -> None:
    assert len(summaries) == 42
    for rel, s in summaries.items():
        assert s["collector"] != "unknown", rel
        assert s["pauses"]["count"] + s["concurrent"]["cycles"] > 0, rel
        assert s["lines"]["unknown"] <= max(2, s["lines"]["total"] // 100), (rel, s["lines"])


@pytest.mark.parametrize("rel", sorted(EXPECTED_COUNTS))
def test_counts_come_close_to_the_asserted_ones(summaries: dict[str, dict], rel: str) -> None:
    events = summaries[rel]["events"]
    for kind, want in EXPECTED_COUNTS[rel].items():
        got = events.get(kind, 0)
        assert abs(got - want) <= max(1, want // 100), f"{rel}: {kind} {got} vs {want}"


@pytest.mark.parametrize("rel", sorted(EXPECTED_PAUSES))
def test_pause_sums_and_throughput(summaries: dict[str, dict], rel: str) -> None:
    want_s, want_pct = EXPECTED_PAUSES[rel]
    p = summaries[rel]["pauses"]
    assert p["total_ms"] / 1000 == pytest.approx(want_s, rel=0.01)
    if want_pct is not None:
        assert p["throughput"] * 100 == pytest.approx(want_pct, abs=0.5)


@pytest.mark.parametrize("rel", sorted(EXPECTED_COLLECTOR))
def test_collector_detected(summaries: dict[str, dict], rel: str) -> None:
    assert summaries[rel]["collector"] == EXPECTED_COLLECTOR[rel]


def test_facts_the_files_carry(summaries: dict[str, dict]) -> None:
    zgc = summaries[UJL + "sample-ujl-zgc-gc-default.txt"]  # decimal commas in uptime
    assert zgc["concurrent"]["cycles"] == 5
    assert set(zgc["concurrent"]["triggers"]) == {"Metadata GC Threshold", "Warmup", "Proactive", "Allocation Rate",
                                                  "System.gc()"}
    shen = summaries[UJL + "SampleShenandoahAllocationFailure.txt"]
    assert shen["pauses"]["max_ms"] == pytest.approx(14289.335) and shen["heap_max_bytes"] == 8192 * 1024**2
    assert summaries[UJL + "sample-ujl-g1-gc-all,safepoint,os+cpu-to-space-exhausted.txt"]["problems"]["to_space_exhausted"] >= 1
    assert summaries[UJL + "sample-ujl-zgc-gc-other.txt"]["problems"]["allocation_stalls"] == 7
    assert summaries[TK + "unified/g1gc/gc-no-age-timestamp.log"]["pauses"]["throughput"] < 1.0  # time recovered
    serial = summaries[UJL + "sample-ujl-serial-gc-defaults.txt"]
    assert serial["heap_max_bytes"] == 92 * 1024**2


def test_known_leaks_are_called(summaries: dict[str, dict]) -> None:
    thrash = summaries[TK + "preunified/ps/details/memoryleak1.log"]
    assert thrash["verdict"]["leak_suspected"] and thrash["full_gcs"]["count"] == 241
    assert thrash["full_gcs"]["reclaimed_ratio_last"] < 0.01
    slow = summaries[TK + "preunified/ps/details/memoryleak2.log"]  # 2.45 -> 3.88 GB after nightly Full GCs over 3 days
    live = slow["live_set"]
    assert slow["verdict"]["leak_suspected"]
    assert 2.2 * 1024**3 < live["first_bytes"] < 2.6 * 1024**3 and 3.6 * 1024**3 < live["last_bytes"] < 4.0 * 1024**3
    assert live["span_hours"] > 48


def test_start_up_ramp_is_not_called_a_leak(summaries: dict[str, dict]) -> None:
    # 18 s of JVM start-up with young GCs only: the heap after them climbs 4 -> 13 MB of a 533 MB heap.
    startup = summaries[TK + "preunified/g1gc/details/170_51mastermind.log"]
    assert startup["live_set"]["last_bytes"] > 2 * startup["live_set"]["first_bytes"]  # it does climb
    assert not startup["verdict"]["leak_suspected"], startup["verdict"]["reasons"]
    assert any("first 60 s" in r for r in startup["verdict"]["reasons"])
