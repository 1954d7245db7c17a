"""Heap-dump analysis speed and memory on real JVM dumps of ~1M, 10M and 30M objects.

For each size, a JVM (tests/java/HeapBench.java) builds that many small objects,
``jcmd GC.heap_dump`` writes the dump, and a fresh Python process parses it and
computes dominators, retained sizes and the report, printing its own peak RSS. The
reference, measured side by side in the same run, is the same code with numba's JIT
disabled (pure Python over numpy arrays) on the smallest dump.

Goal: the 30M-object dump fully analysed in < 90 s with peak RSS < 2 × its size on disk.

    python3 benchmarks/bench_heap.py                    # 1M, 10M, 30M (needs ~4 GB RAM, ~2.5 GB disk)
    python3 benchmarks/bench_heap.py --objects 1000000  # one size
    python3 benchmarks/bench_heap.py --keep --dir /tmp/dumps

Dumps are deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JAVA_SRC = REPO / "tests" / "java" / "HeapBench.java"

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from ctxgrab.analysis.hprof import parse_hprof
from ctxgrab.analysis.dominators import dominator_tree, heap_report
t1 = time.perf_counter()
dump = parse_hprof(sys.argv[1])
t2 = time.perf_counter()
tree = dominator_tree(dump)
t3 = time.perf_counter()
report = heap_report(dump, tree)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "parse_s": t2 - t1, "dominators_s": t3 - t2, "report_s": t4 - t3,
                  "objects": dump.n_objects, "edges": int(dump.edge_dst.shape[0]),
                  "live_bytes": report["total_live_bytes"], "suspects": len(report["suspects"]),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def make_dump(objects: int, out: Path) -> float:
    """Run the JVM, dump its heap to ``out``; returns the seconds jcmd took."""
    heap_mb = max(256, int(objects * 70 / 1e6) + 512)
    proc = subprocess.Popen(["java", f"-Xmx{heap_mb}m", "-XX:+UseParallelGC", str(JAVA_SRC), str(objects)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.match(r"READY pid=(\d+)", line)
        if not m:
            raise SystemExit(f"JVM did not start: {line!r}")
        t = time.perf_counter()
        subprocess.run(["jcmd", m.group(1), "GC.heap_dump", str(out)], check=True, capture_output=True,
                       timeout=1800)
        return time.perf_counter() - t
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def analyse(path: Path, *, jit: bool = True) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env,
                         timeout=3600)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, nargs="*", default=[1_000_000, 10_000_000, 30_000_000])
    ap.add_argument("--dir", type=Path, default=None, help="where dumps go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the dumps")
    ap.add_argument("--no-reference", action="store_true", help="skip the pure-Python reference run")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="ctxgrab-bench-heap-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        # Warm numba's on-disk cache so the first size does not pay for compilation.
        analyse_warm = None
        for n in sorted(args.objects):
            dump = work / f"bench-{n}.hprof"
            dump_s = make_dump(n, dump)
            size = dump.stat().st_size
            if analyse_warm is None:
                analyse_warm = analyse(dump)
            r = analyse(dump)
            total = r["parse_s"] + r["dominators_s"] + r["report_s"]
            row = {"objects_target": n, "dump_bytes": size, "jcmd_dump_s": round(dump_s, 1), **r,
                   "total_s": total, "objects_per_s": r["objects"] / total, "mb_per_s": size / 1e6 / total,
                   "rss_over_dump": r["peak_rss_bytes"] / size}
            if not args.no_reference and n == min(args.objects):
                ref = analyse(dump, jit=False)
                ref_total = ref["parse_s"] + ref["dominators_s"] + ref["report_s"]
                row["reference_pure_python_s"] = ref_total
                row["speedup_vs_pure_python"] = ref_total / total
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                dump.unlink()
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| objects | dump size | parse | dominators + report | total | objects/s | MB/s | peak RSS | RSS / dump |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['objects'] / 1e6:.1f} M | {r['dump_bytes'] / 2**20:,.0f} MiB | {r['parse_s']:.1f} s | "
              f"{r['dominators_s'] + r['report_s']:.1f} s | {r['total_s']:.1f} s | "
              f"{r['objects_per_s'] / 1e6:.2f} M | {r['mb_per_s']:.0f} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | "
              f"{r['rss_over_dump']:.2f} |")
    for r in rows:
        if "reference_pure_python_s" in r:
            print(f"\nReference (same code, numba JIT disabled) on {r['objects'] / 1e6:.1f} M objects: "
                  f"{r['reference_pure_python_s']:.1f} s, {r['speedup_vs_pure_python']:.0f}× slower than with numba.")


if __name__ == "__main__":
    main()
