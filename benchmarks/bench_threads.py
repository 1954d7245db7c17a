"""Thread-dump speed: a 10,000-thread dump parsed and summarised (goal: under 1 s).

The dump is built from a real one (tests/data/threads/trouble-jcmd-3.txt, OpenJDK 17 `jcmd
Thread.print -l` of tests/java/threads/ThreadTrouble.java): its thread blocks are repeated with
new names (``svc-P-exec-N``, 50 pools) until the dump holds --threads threads, the JVM's header,
end marker and deadlock report kept. Three dumps of it (as a leak check reads them) are also
summarised together. Next to each figure, the floor measured in the same run: reading the same
text and splitting it into lines. Best of --repeat; wall and CPU time of this process.

    python benchmarks/bench_threads.py                  # 10,000 threads
    python benchmarks/bench_threads.py --threads 2000
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from ctxgrab.analysis.threaddump import read_thread_dump_files, summarize

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "tests" / "data" / "threads" / "trouble-jcmd-3.txt"


def build(threads: int) -> str:
    text = SOURCE.read_text()
    head, rest = text.split('\n"', 1)
    body, tail = ('"' + rest).split("\nJNI global refs", 1)
    blocks = [b for b in re.split(r'\n(?=")', body) if re.match(r'"[^"]+" #\d+', b)]
    out = [head, ""]
    n = 0
    while n < threads:
        for b in blocks:
            if n >= threads:
                break
            name = f"svc-{n % 50}-exec-{n // 50}"
            out.append(re.sub(r'^"[^"]+" #\d+', f'"{name}" #{1000 + n}', b, count=1))
            n += 1
    return "\n".join(out) + "\nJNI global refs" + tail


def best(fn, repeat: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    text = build(args.threads)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "dump.txt"
        p.write_text(text)
        three = []
        for i in range(3):
            q = Path(d) / f"dump-{i}.txt"
            q.write_text(text.replace("elapsed=", f"elapsed=1{i}", ))
            three.append(q)
        s = summarize(read_thread_dump_files([p]))
        assert s["threads"] >= args.threads, s["threads"]
        floor = best(lambda: p.read_text(encoding="utf-8").splitlines(), args.repeat)
        one = best(lambda: summarize(read_thread_dump_files([p])), args.repeat)
        many = best(lambda: summarize(read_thread_dump_files(three)), args.repeat)
        size = p.stat().st_size
    print(f"dump: {s['threads']:,} Java threads, {size / 2**20:.1f} MiB, {len(text.splitlines()):,} lines "
          f"(from {SOURCE.relative_to(REPO)}); Python {sys.version.split()[0]}")
    print()
    print("| task | wall | CPU | × floor (wall) |")
    print("|---|---:|---:|---:|")
    print(f"| floor: read + split lines | {floor[0] * 1000:.0f} ms | {floor[1] * 1000:.0f} ms | 1.0 |")
    print(f"| one dump: parse + summarise | {one[0] * 1000:.0f} ms | {one[1] * 1000:.0f} ms | "
          f"{one[0] / floor[0]:.1f} |")
    print(f"| three dumps: parse + summarise + compare | {many[0] * 1000:.0f} ms | {many[1] * 1000:.0f} ms | "
          f"{many[0] / floor[0]:.1f} |")
    print()
    print(f"goal: one dump under 1 s — {'met' if one[0] < 1.0 else 'NOT met'}")
    return 0 if one[0] < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
