"""Log mining throughput beside Drain3, and the cost of a window seek against a full scan.

    python benchmarks/bench_logs_speed.py                      # both parts
    python benchmarks/bench_logs_speed.py --part mine --lines 1000000
    python benchmarks/bench_logs_speed.py --part seek --size-gb 1 --workdir /tmp/ctxgrab-bench

**mine**: the ``Content`` of the 16 Loghub 2k datasets (``<repo>/../shared``,
read in place), shuffled with a fixed seed and replicated to ``--lines``. Each
tool gets the same list of strings in the same process, one after the other:
ctxgrab's :class:`PatternMiner` (``add`` every line, then ``assign`` templates)
and Drain3's ``TemplateMiner.add_log_message`` with default settings. Also
printed: ctxgrab with its mask caches off (line and token), and all tools on the 32,000 lines
taken once each, so repetition is not what the ratio measures. The machine is
shared, so the tools are fed the same lines chunk by chunk in turn and see the
same load.

**seek**: a generated time-sorted log of ``--size-gb`` (kept in ``--workdir``,
reused when present; never inside the repository), with Java stack traces
every few hundred records. The records of a window covering 1% of the file's
time span are read twice: with the binary-search seek and by scanning the
whole file (``seek=False``). The two must return the same records.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ctxgrab.analysis.logpatterns import PatternMiner
from ctxgrab.logread import read_window
from ctxgrab.timeutil import Window

from loghub import DATASETS, SHARED, drain_miner  # noqa: E402 - benchmarks/ is on sys.path when run


def loghub_messages(root: Path) -> list[str]:
    out: list[str] = []
    for name in DATASETS:
        path = root / name / f"{name}_2k.log_structured_corrected.csv"
        if not path.exists():
            path = root / name / f"{name}_2k.log_structured.csv"
        with open(path, encoding="utf-8", newline="") as f:
            out += [r["Content"] for r in csv.DictReader(f)]
    return out


def interleaved(lines: list[str], chunks: int = 20) -> dict[str, tuple[float, int]]:
    """Seconds and template count per tool, fed the same lines chunk by chunk in turn.

    The machine is shared and its load drifts; feeding each tool one chunk in
    turn makes the tools see the same load, so the ratio is fair even when the
    absolute rates are not.
    """
    ours, nocache, drain = PatternMiner(), PatternMiner(cache_size=0), drain_miner()
    spent = {"ctxgrab": 0.0, "ctxgrab, caches off": 0.0, "Drain3": 0.0}
    size = len(lines) // chunks + 1
    for k in range(0, len(lines), size):
        chunk = lines[k:k + size]
        for name, miner in (("ctxgrab", ours), ("ctxgrab, caches off", nocache)):
            add = miner.add
            t = time.perf_counter()
            for line in chunk:
                add(line)
            spent[name] += time.perf_counter() - t
        if drain is not None:
            add_d = drain.add_log_message
            t = time.perf_counter()
            for line in chunk:
                add_d(line)
            spent["Drain3"] += time.perf_counter() - t
    out = {}
    for name, miner in (("ctxgrab", ours), ("ctxgrab, caches off", nocache)):
        t = time.perf_counter()
        templates = len(set(miner.assign()))  # clustering runs once, at the end
        out[name] = (spent[name] + time.perf_counter() - t, templates)
    if drain is not None:
        out["Drain3"] = (spent["Drain3"], len(drain.drain.clusters))
    return out


def part_mine(args: argparse.Namespace) -> None:
    messages = loghub_messages(args.data)
    random.Random(7).shuffle(messages)
    lines = (messages * (args.lines // len(messages) + 1))[: args.lines]
    print(f"mine: the 16 Loghub datasets ({len(messages):,} lines) shuffled; fed to each tool in interleaved chunks")
    print(f"{'input':<30} {'tool':<24} {'seconds':>8} {'lines/s':>10} {'vs Drain3':>9} {'templates':>9}")
    for label, data in ((f"{len(lines):,} lines (replicated)", lines), (f"{len(messages):,} lines, each once", messages)):
        res = interleaved(data)
        d_rate = len(data) / res["Drain3"][0] if "Drain3" in res else float("nan")
        for name, (secs, templates) in res.items():
            rate = len(data) / secs
            print(f"{label:<30} {name:<24} {secs:>8.2f} {rate:>10,.0f} {rate / d_rate:>8.1f}x {templates:>9,}")


_LINES = [
    "INFO  [http-nio-8080-exec-{w}] com.acme.payments.PaymentController - Charged order {n} amount={a}.{c} EUR in {ms} ms",
    "INFO  [ws-session-{w}] com.acme.payments.ws.SessionRegistry - Websocket session opened id={h} active={n}",
    "DEBUG [http-nio-8080-exec-{w}] com.acme.payments.cache.RedisCache - cache hit key=order:{n} ttl={ms}s",
    "WARN  [http-nio-8080-exec-{w}] com.acme.payments.client.LedgerClient - Ledger call slow: {ms} ms (threshold 800 ms)",
]
_TRACE = ("ERROR [http-nio-8080-exec-{w}] com.acme.payments.PaymentService - Payment processing failed for order {n}\n"
          "java.lang.NullPointerException: Cannot invoke \"com.acme.payments.Customer.getWallet()\" because "
          "\"customer\" is null\n\tat com.acme.payments.PaymentService.process(PaymentService.java:42)\n"
          "\tat com.acme.payments.PaymentController.charge(PaymentController.java:88)\n"
          "\tat java.base/java.lang.Thread.run(Thread.java:833)")
T0 = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)


def generate(path: Path, size_bytes: int, step_ms: int = 10) -> tuple[datetime, datetime]:
    rng = random.Random(11)
    written = 0
    i = 0
    t_ms = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < size_bytes:
            batch = []
            for _ in range(5000):
                t = T0 + timedelta(milliseconds=t_ms)
                stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
                tpl = _TRACE if i % 400 == 399 else _LINES[i % 4]
                batch.append(stamp + " " + tpl.format(w=i % 50, n=rng.randrange(10**6), a=rng.randrange(999),
                                                      c=rng.randrange(10, 99), ms=rng.randrange(5, 3000),
                                                      h=f"{rng.getrandbits(64):016x}"))
                i += 1
                t_ms += step_ms
            chunk = "\n".join(batch) + "\n"
            f.write(chunk)
            written += len(chunk)
    return T0, T0 + timedelta(milliseconds=t_ms)


def part_seek(args: argparse.Namespace) -> None:
    args.workdir.mkdir(parents=True, exist_ok=True)
    size = int(args.size_gb * 1024**3)
    path = args.workdir / f"seek-{args.size_gb:g}g.log"
    meta = path.with_suffix(".span")
    if not path.exists() or path.stat().st_size < size or not meta.exists():
        t = time.perf_counter()
        start, end = generate(path, size)
        meta.write_text(f"{start.isoformat()} {end.isoformat()}")
        print(f"generated {path} ({path.stat().st_size / 1024**3:.2f} GB) in {time.perf_counter() - t:.0f} s")
    start, end = (datetime.fromisoformat(x) for x in meta.read_text().split())
    span = end - start
    w = Window(start + span * 0.6, start + span * 0.61)
    print(f"seek: {path.stat().st_size / 1024**3:.2f} GB, span {span}, window {w.start:%m-%d %H:%M:%S} to "
          f"{w.end:%m-%d %H:%M:%S} (1% of the span)")
    t = time.perf_counter()
    sought, _, s_stats = read_window([path], w)
    seek_s = time.perf_counter() - t
    t = time.perf_counter()
    scanned, _, f_stats = read_window([path], w, seek=False)
    scan_s = time.perf_counter() - t
    same = [(r.time, r.message, r.trace) for r in sought] == [(r.time, r.message, r.trace) for r in scanned]
    print(f"{'':<10} {'seconds':>8} {'bytes read':>16} {'records':>10}")
    print(f"{'seek':<10} {seek_s:>8.2f} {s_stats.bytes_read:>16,} {len(sought):>10,}")
    print(f"{'full scan':<10} {scan_s:>8.2f} {f_stats.bytes_read:>16,} {len(scanned):>10,}")
    print(f"seek / full scan: {seek_s / scan_s:.1%} of the time, {s_stats.bytes_read / f_stats.bytes_read:.1%} "
          f"of the bytes; same records: {same}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["mine", "seek", "all"], default="all")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "loghub")
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/ctxgrab-bench"))
    args = ap.parse_args()
    if args.part in ("mine", "all"):
        if not args.data.is_dir():
            print(f"no Loghub data at {args.data}", file=sys.stderr)
            return 2
        part_mine(args)
    if args.part in ("seek", "all"):
        part_seek(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
