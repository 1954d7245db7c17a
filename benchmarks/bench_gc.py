"""GC-log parsing speed and conformance: prints Markdown tables for docs/benchmarks.md.

1. The public corpus (../shared/data/gclogs): every file parsed and summarised, its pause and
   Full GC counts next to the ones the source projects' own tests assert (EXPECTED.md there).
2. Speed on the largest public logs and on a generated unified G1 log (200 MB by default),
   next to the floor: the time to merely read the same file and split it into lines, measured
   in the same run (best of --repeat). Wall-clock and CPU time (this process, user + system)
   are both reported: on a machine shared with other work the wall clock of a 2 s task suffers
   more from time slicing than that of a 0.2 s one, the CPU time does not.

    python benchmarks/bench_gc.py                 # full run, about a minute
    python benchmarks/bench_gc.py --size-mb 20    # quicker
    python benchmarks/bench_gc.py --speed-only    # skip the corpus table
"""

from __future__ import annotations

import argparse
import gc as _gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from ctxgrab.analysis.gclog import parse_gc_files, summarize

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "gclogs"
MB = 1024 * 1024

TK = "gctoolkit-testdata/gctoolkit-gclogs/"
GV = "GCViewer/openjdk/"
UJL = GV + "unified-jvm-logging/"
# (file, asserted young-ish STW pauses, asserted full GCs, asserted pause sum s), from EXPECTED.md
ASSERTED = [
    (TK + "unified/parallel/parallelgc.log", 4638, 28, None),
    (TK + "unified/serial/factorization-serialgc-tip.log", 13, 4, None),
    (TK + "unified/g1gc/jvm-gc-10Nov2022.log", 6, None, None),
    (TK + "preunified/cms/defnew/details/defnew.log", 19114, None, 208.922),
    (TK + "preunified/cms/530_gc.log", 30, 1, None),
    (TK + "preunified/cms/713_gc.log", 79, 5, None),
    (TK + "preunified/cms/parnew/details/GCLog_CMSCollection.log", 713, None, None),
    (TK + "preunified/cms/parnew/details/tenuring/tlab/tlab_broken_gc_locker.log", 9, None, None),
    (TK + "preunified/ps/details/long_pause.log", 21, 1, None),
    (TK + "preunified/ps/details/tenuring/gccause/170/ps.cause.tenuring.details.v17051.log", 90, 4, None),
    (TK + "preunified/ps/details/memoryleak1.log", None, 241, None),
    (TK + "preunified/ps/details/memoryleak2.log", None, 8, None),
    (TK + "preunified/g1gc/details/g1.details.cause.log", 163, 22, None),
    (TK + "preunified/g1gc/details/170_51mastermind.log", 480, None, None),
    (TK + "preunified/g1gc/details/reference/post17040/gc_with_overflow.log", 198, 401, None),
    (TK + "preunified/g1gc/details/tenuring/server3-gc.log", 16, None, None),
    (GV + "SampleSun1_6_0G1_gc_verbose.txt", None, None, 62.616796),
    (GV + "SampleSun1_5_0ConcurrentModeFailure.txt", None, None, 181.8116798),
    (GV + "SampleSun1_5_0CMS_PrintGCDetails.txt", None, None, 9.1337492),
    (UJL + "sample-ujl-g1-gc-defaults.txt", None, 1, None),
    (UJL + "sample-ujl-parallel-gc-defaults.txt", 5, 6, None),
    (UJL + "sample-ujl-parallel-gc-all,safepoint,os+cpu.txt", 4, 4, None),
    (UJL + "sample-ujl-serial-gc-defaults.txt", 8, 3, None),
    (UJL + "sample-ujl-serial-gc-all,safepoint,os+cpu.txt", 3, 1, None),
    (UJL + "sample-ujl-cms-gc-defaults.txt", None, 1, None),
    (UJL + "SampleShenandoahAllocationFailure.txt", None, 1, 14.289335),
]


def _timed(fn):  # type: ignore[no-untyped-def]
    """Run fn(); return (wall s, CPU s, its result)."""
    w, c = time.perf_counter(), time.process_time()
    r = fn()
    return time.perf_counter() - w, time.process_time() - c, r


def floor_bytes(path: Path) -> int:
    """Read in 8 MB chunks and split into lines (bytes); returns the line count."""
    n = 0
    with open(path, "rb") as fh:
        rest = b""
        while chunk := fh.read(8 * MB):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            n += len(lines)
    return n + (1 if rest else 0)


def floor_text(path: Path) -> None:
    """Read as UTF-8 text and iterate over its lines (Python's own line splitting)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for _ in fh:
            pass


def ours(path: Path) -> dict:
    return summarize(parse_gc_files([path]))


def best(fn, repeat: int):  # type: ignore[no-untyped-def]
    """Best wall and best CPU time of `repeat` runs, and the last result."""
    runs = []
    for _ in range(repeat):
        _gc.collect()
        runs.append(_timed(fn))
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def generate_unified(path: Path, size_mb: int, seed: int = 7, wall_clock: bool = True) -> None:
    """A G1 log with -Xlog:gc*:time,uptime,level,tags detail, heap slowly leaking, until size_mb.

    wall_clock=False leaves out the time decoration: the JDK's default uptime,level,tags.
    """
    rnd = random.Random(seed)
    target = size_mb * MB
    start = 1772409600.0  # 2026-03-02T00:00:00Z
    out = open(path, "w", encoding="utf-8")
    written = 0
    t = 0.5
    gid = 0

    def w(t_s: float, tags: str, msg: str) -> None:
        nonlocal written
        wall = time.gmtime(start + t_s)
        ms = int((t_s % 1) * 1000)
        stamp = f"[{time.strftime('%Y-%m-%dT%H:%M:%S', wall)}.{ms:03d}+0000]" if wall_clock else ""
        line = f"{stamp}[{t_s:.3f}s][info][{tags:<12}] {msg}\n"
        out.write(line)
        written += len(line)

    w(0.004, "gc", "Using G1")
    w(0.004, "gc,init", "Heap Region Size: 4M")
    w(0.004, "gc,init", "Heap Max Capacity: 8G")
    while written < target:
        live = 2000 + 5800 * min(1.0, written / target)
        before = live + 1200 + rnd.uniform(0, 200)
        after = live + rnd.uniform(50, 250)
        ms = rnd.uniform(20, 80)
        w(t, "gc,start", f"GC({gid}) Pause Young (Normal) (G1 Evacuation Pause)")
        w(t, "gc,task", f"GC({gid}) Using 8 workers of 8 for evacuation")
        for phase, share in (("Pre Evacuate Collection Set", 0.02), ("Merge Heap Roots", 0.03),
                             ("Evacuate Collection Set", 0.85), ("Post Evacuate Collection Set", 0.06),
                             ("Other", 0.04)):
            w(t, "gc,phases", f"GC({gid})   {phase}: {ms * share:.1f}ms")
        w(t, "gc,heap", f"GC({gid}) Eden regions: 300->0(300)")
        w(t, "gc,heap", f"GC({gid}) Survivor regions: 12->14(38)")
        w(t, "gc,heap", f"GC({gid}) Old regions: {int(live / 4)}->{int(live / 4) + 5}")
        w(t, "gc,heap", f"GC({gid}) Humongous regions: 3->3")
        w(t, "gc,metaspace", f"GC({gid}) Metaspace: 98304K(99840K)->98304K(99840K) NonClass: 86016K(86784K)->86016K(86784K) Class: 12288K(13056K)->12288K(13056K)")
        w(t, "gc", f"GC({gid}) Pause Young (Normal) (G1 Evacuation Pause) {before:.0f}M->{after:.0f}M(8192M) {ms:.3f}ms")
        w(t, "gc,cpu", f"GC({gid}) User={ms * 7 / 1000:.2f}s Sys=0.00s Real={ms / 1000:.2f}s")
        w(t, "safepoint", f'Safepoint "G1CollectForAllocation", Time since last: 901234567 ns, Reaching safepoint: 123456 ns, At safepoint: {int(ms * 1e6)} ns, Total: {int(ms * 1e6) + 123456} ns')
        gid += 1
        if gid % 20 == 0:
            r_after = live + rnd.uniform(100, 300)
            w(t + 0.1, "gc", f"GC({gid}) Concurrent Mark Cycle")
            w(t + 4.0, "gc,start", f"GC({gid}) Pause Remark")
            w(t + 4.0, "gc", f"GC({gid}) Pause Remark {r_after + 100:.0f}M->{r_after:.0f}M(8192M) {rnd.uniform(5, 30):.3f}ms")
            w(t + 4.5, "gc", f"GC({gid}) Pause Cleanup {r_after:.0f}M->{r_after:.0f}M(8192M) 0.500ms")
            w(t + 4.6, "gc", f"GC({gid}) Concurrent Mark Cycle 4500.000ms")
            gid += 1
        t += rnd.uniform(8, 12)
    out.close()


def corpus_table() -> None:
    if not CORPUS.is_dir():
        print(f"(corpus not found at {CORPUS}; skipped)\n")
        return
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("EXPECTED.md", "LICENSE", "LICENSE.txt"))
    failures = []
    summaries = {}
    for p in files:
        try:
            summaries[str(p.relative_to(CORPUS))] = summarize(parse_gc_files([p], strict=True))
        except Exception as e:  # noqa: BLE001 - the benchmark reports every failure
            failures.append(f"{p.relative_to(CORPUS)}: {e}")
    print(f"Parsed {len(summaries)} of {len(files)} public logs without an error"
          + (": failures: " + "; ".join(failures) if failures else "") + ".\n")
    print("| file | collector | young STW pauses (asserted) | Full GCs (asserted) | pause sum s (asserted) | verdict |")
    print("|---|---|---|---|---|---|")
    for rel, young, full, pause_s in ASSERTED:
        s = summaries.get(rel)
        if s is None:
            print(f"| `{rel}` | missing | | | | |")
            continue
        e = s["events"]
        got_young = e.get("young", 0)
        cells = [
            f"{got_young}" + (f" ({young})" if young is not None else ""),
            f"{s['full_gcs']['count']}" + (f" ({full})" if full is not None else ""),
            f"{s['pauses']['total_ms'] / 1000:.3f}" + (f" ({pause_s})" if pause_s is not None else ""),
        ]
        print(f"| `{rel.split('/')[-1]}` | {s['collector']} | " + " | ".join(cells) + f" | {s['verdict']['status']} |")
    print()


def speed_row(label: str, path: Path, repeat: int) -> None:
    size = path.stat().st_size
    fb, fb_cpu, nlines = best(lambda: floor_bytes(path), repeat)
    ft, ft_cpu, _ = best(lambda: floor_text(path), repeat)
    to, to_cpu, s = best(lambda: ours(path), repeat)
    print(f"| {label} | {size / MB:.1f} | {nlines:,} | {s['collector']} | {fb:.2f} | {ft:.2f} | {to:.2f} | "
          f"{size / MB / to:.1f} | {nlines / to / 1e6:.2f} | {to / ft:.1f}× | {to / fb:.1f}× | "
          f"{ft_cpu:.2f} | {to_cpu:.2f} | {to_cpu / ft_cpu:.1f}× | {to_cpu / fb_cpu:.1f}× |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=200, help="size of the generated unified log")
    ap.add_argument("--repeat", type=int, default=2, help="best of N for every timing")
    ap.add_argument("--speed-only", action="store_true", help="skip the corpus conformance table")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f} at start "
          "(the machine is shared: compare the ratios measured in the same run)\n")
    if not args.speed_only:
        corpus_table()
    print("| log | MB | lines | collector | floor: read+split bytes s | floor: read text lines s | ctxgrab parse+summary s "
          "| MB/s | M lines/s | vs text floor | vs bytes floor | CPU: text floor s | CPU: ctxgrab s "
          "| CPU vs text floor | CPU vs bytes floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    if CORPUS.is_dir():
        for rel in (TK + "unified/parallel/parallelgc.log", TK + "preunified/cms/defnew/details/defnew.log",
                    TK + "unified/cms/gc.log", TK + "preunified/ps/details/memoryleak1.log"):
            speed_row(f"`{rel.split('/')[-1]}` (public)", CORPUS / rel, args.repeat)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "g1-generated.log"
        t = time.perf_counter()
        generate_unified(path, args.size_mb)
        sys.stderr.write(f"generated {path.stat().st_size / MB:.0f} MB in {time.perf_counter() - t:.1f} s\n")
        speed_row(f"generated G1 `-Xlog:gc*` ({args.size_mb} MB)", path, args.repeat)
        path.unlink()
        generate_unified(path, args.size_mb, wall_clock=False)
        speed_row(f"same, default decorations `uptime,level,tags` ({args.size_mb} MB)", path, args.repeat)


if __name__ == "__main__":
    main()
