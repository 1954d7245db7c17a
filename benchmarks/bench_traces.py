"""Speed and memory of the traces summary on 1M spans of OTLP JSON, beside the JSON-decoding floor.

    python benchmarks/bench_traces.py                 # 1,000,000 spans
    python benchmarks/bench_traces.py --spans 200000  # quicker

The data: the SDK scenario of ``tests/otel_scenario.py`` (real OpenTelemetry SDK spans,
the SDK's OTLP encoder, protobuf's JSON mapping, hex ids; 256 spans per
ExportTraceServiceRequest line), repeated with fresh trace and span ids and shifted
in time until the file holds ``--spans`` spans over 24 h of traffic (the window is
the last 12 h, the baseline the 12 h before).

Two measurements, each in its own process so that its peak RSS is its own:

- floor: ``json.loads`` of every line and nothing else;
- ctxgrab: ``ctxgrab.collectors.traces.summarize_files`` (read, decode spans,
  summarise window against baseline).

Prints seconds, peak RSS and the ratio ctxgrab / floor. Targets (issue): under 60 s
and under 1.5 GB RSS for 1M spans.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_ID = re.compile(r'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"')
_TIME = re.compile(r'"(startTimeUnixNano|endTimeUnixNano|timeUnixNano)":"(\d+)"')


def make_file(path: Path, spans: int) -> int:
    """Write ``spans`` spans (about) of OTLP JSON lines; returns the number written."""
    sys.path.insert(0, str(REPO / "tests"))
    import otel_scenario

    sc = otel_scenario.Scenario()
    base = otel_scenario.otlp_json_lines(otel_scenario.run(sc), batch=256).splitlines()
    per_copy = sum(line.count('"spanId"') for line in base)
    copies = max(1, -(-spans // per_copy))
    span_ns = int((sc.end - sc.start).total_seconds() * 1e9)
    # 24 h of traffic: copies side by side in time, each two hours long, several interleaved per slot.
    slots = 12
    written = 0
    with open(path, "w") as f:
        for c in range(copies):
            shift = (c % slots) * span_ns
            tag = f"{c:06x}"

            def new_id(m: re.Match[str]) -> str:
                v = m.group(2)
                return f'"{m.group(1)}":"{tag}{v[len(tag):]}"'

            def new_time(m: re.Match[str]) -> str:
                return f'"{m.group(1)}":"{int(m.group(2)) + shift}"'

            for line in base:
                f.write(_TIME.sub(new_time, _ID.sub(new_id, line)) + "\n")
            written += per_copy
    return written


def _floor(path: str) -> None:
    n = 0
    with open(path, "rb") as f:
        for line in f:
            json.loads(line)
            n += 1
    print(json.dumps({"lines": n}))


def _ctxgrab(path: str) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from ctxgrab.collectors.traces import summarize_files
    from ctxgrab.timeutil import Window, parse_time

    w = Window(parse_time("2026-03-02T22:00:00Z"), parse_time("2026-03-03T10:00:00Z"))  # the last 12 h
    data = summarize_files([Path(path)], "orders", w, w.before(), 10_000_000, None)
    print(json.dumps({"spans": data["sampling"]["spans_read"], "traces": data["sampling"]["traces_read"],
                      "verdict": data["verdict"]}))


def _measure(mode: str, path: Path) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--run", mode, str(path)], capture_output=True, text=True,
                       timeout=1800)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{mode} failed: {r.stderr[-2000:]}")
    out: dict = {"seconds": elapsed}
    for line in r.stdout.strip().splitlines():
        out.update(json.loads(line))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        mode, path = args.run
        (_floor if mode == "floor" else _ctxgrab)(path)
        # peak RSS of this process, in bytes (ru_maxrss is KiB on Linux)
        print(json.dumps({"rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), file=sys.stdout)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.json"
        t0 = time.perf_counter()
        n = make_file(path, args.spans)
        print(f"data: {n:,} spans, {path.stat().st_size / 2**20:,.0f} MiB of OTLP JSON "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        floor = _measure("floor", path)
        ours = _measure("ctxgrab", path)
    from ctxgrab.units import format_bytes

    print(f"floor   json.loads of every line: {floor['seconds']:6.1f} s, peak RSS {format_bytes(floor['rss_bytes'])}")
    print(f"ctxgrab summarize_files:          {ours['seconds']:6.1f} s, peak RSS {format_bytes(ours['rss_bytes'])}"
          f"  ({ours['spans']:,} spans, {ours['traces']:,} traces)")
    print(f"ratio ctxgrab / floor: {ours['seconds'] / floor['seconds']:.2f}x time")
    print(f"verdict: {ours['verdict']}")
    ok = ours["seconds"] < 60 and ours["rss_bytes"] < 1.5 * 2**30
    print("targets (< 60 s, < 1.5 GB RSS):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
