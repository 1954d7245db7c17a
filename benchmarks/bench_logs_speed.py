"""Log mining throughput beside Drain3, and the cost of a window seek against a full scan.

    python benchmarks/bench_logs_speed.py                      # both parts
    python benchmarks/bench_logs_speed.py --part mine --lines 1000000
    python benchmarks/bench_logs_speed.py --part seek --size-gb 1 --workdir /tmp/ctxgrab-bench
    python benchmarks/bench_logs_speed.py --part unique --unique-lines 200000
    python benchmarks/bench_logs_speed.py --part path --size-gb 1
    python benchmarks/bench_logs_speed.py --part path --file /tmp/ctxgrab-bench/five.log  # e.g. 5 copies of it

**mine**: the ``Content`` of the 16 Loghub 2k datasets (``<repo>/../shared``,
read in place), shuffled with a fixed seed and replicated to ``--lines``. Each
tool gets the same list of strings in the same process, one after the other:
ctxgrab's :class:`PatternMiner` (``add_many`` per chunk: the compiled masking
scanner, loaded before timing and its load time printed apart; then ``assign``
templates) and Drain3's ``TemplateMiner.add_log_message`` with default settings.
Also printed: ctxgrab's regex path (``add`` per line, with its caches: what runs
for small inputs or without numba; both must give the same signatures), and all
tools on the 32,000 lines taken once each, so repetition is not what the ratio
measures. The machine is
shared, so the tools are fed the same lines chunk by chunk in turn and see the
same load.

**unique**: ``--lines`` lines generated from 40 templates (services, users,
hosts, ids, paths, sizes, durations drawn at random) so that no line repeats
exactly, fed to the miner and to Drain3 in interleaved chunks.

**path**: the whole ``ctxgrab logs FILE --format json`` command on a generated
file of ``--size-gb`` (kept in ``--workdir``), beside the read-the-file floor on
the same file: ``wc -l`` and a plain Python ``for line in file`` loop. Each runs
as its own process; its wall time and peak RSS (``wait4`` rusage) are printed.

**seek**: a generated time-sorted log of ``--size-gb`` (kept in ``--workdir``,
reused when present; never inside the repository), with Java stack traces
every few hundred records. The records of a window covering 1% of the file's
time span are read twice: with the binary-search seek and by scanning the
whole file (``seek=False``). The two must return the same records.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ctxgrab.analysis.logpatterns import PatternMiner
from ctxgrab.logread import read_window
from ctxgrab.timeutil import Window

from loghub import SHARED, content_lines, drain_miner  # noqa: E402 - benchmarks/ is on sys.path when run


def load_scanner() -> None:
    """Compile the masking scanner (or read it from numba's cache) before any timing; say what it cost."""
    from ctxgrab.analysis import _maskscan

    if _maskscan.load() is None:
        print("compiled scanner: unavailable (no numba); ctxgrab rows use the regex path")
        return
    scan = _maskscan.load()[0]
    how = "read from numba's cache" if scan.stats.cache_hits else "compiled"
    print(f"compiled scanner: {_maskscan.compile_seconds:.1f} s to load ({how}, numba import included); "
          "excluded from the rates below")


def interleaved(lines: list[str], chunks: int = 20) -> dict[str, tuple[float, int]]:
    """Seconds and template count per tool, fed the same lines chunk by chunk in turn.

    The machine is shared and its load drifts; feeding each tool one chunk in
    turn makes the tools see the same load, so the ratio is fair even when the
    absolute rates are not. ctxgrab takes each chunk in one ``add_many`` call (the
    compiled scanner, forced on from the first line; it is loaded before timing
    starts); "regex path" is ``add`` line by line, what runs below the scanner's
    threshold or without numba. Drain3 has no batch API and gets ``add_log_message``
    per line.
    """
    ours, regex, drain = PatternMiner(scan_after=0), PatternMiner(), drain_miner()
    spent = {"ctxgrab": 0.0, "ctxgrab, regex path": 0.0, "Drain3": 0.0}
    size = len(lines) // chunks + 1
    for k in range(0, len(lines), size):
        chunk = lines[k:k + size]
        t = time.perf_counter()
        ours.add_many(chunk)
        spent["ctxgrab"] += time.perf_counter() - t
        add = regex.add
        t = time.perf_counter()
        for line in chunk:
            add(line)
        spent["ctxgrab, regex path"] += time.perf_counter() - t
        if drain is not None:
            add_d = drain.add_log_message
            t = time.perf_counter()
            for line in chunk:
                add_d(line)
            spent["Drain3"] += time.perf_counter() - t
    out = {}
    for name, miner in (("ctxgrab", ours), ("ctxgrab, regex path", regex)):
        t = time.perf_counter()
        templates = len(set(miner.assign()))  # clustering runs once, at the end
        out[name] = (spent[name] + time.perf_counter() - t, templates)
    if ours.signatures != regex.signatures:
        raise SystemExit("the scanner and the regex path gave different signatures")
    if drain is not None:
        out["Drain3"] = (spent["Drain3"], len(drain.drain.clusters))
    return out


def part_mine(args: argparse.Namespace) -> None:
    messages = content_lines(args.data)
    random.Random(7).shuffle(messages)
    lines = (messages * (args.lines // len(messages) + 1))[: args.lines]
    print(f"mine: the 16 Loghub datasets ({len(messages):,} lines) shuffled; fed to each tool in interleaved chunks")
    load_scanner()
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


_WORDS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar",
          "peggy", "trent", "victor", "walter")
_SERVICES = ("payments", "ledger", "risk", "auth", "cart", "search", "inventory", "shipping")
_UNIQUE_TEMPLATES = [
    "User {u} logged in from {ip} using session {hex}",
    "Order {n} for customer {u} charged {a}.{c} EUR in {ms} ms",
    "Connection to {svc}-{n2}.prod.svc:{port} closed after {ms} ms, {n} bytes sent",
    "GET /api/v1/{svc}/{n} returned {st} in {ms} ms",
    "Cache miss for key {svc}:{hex} (ttl {n2}s)",
    "Retrying call to {svc} attempt {n2} of 5 after {ms} ms",
    "Worker {n2} picked job {uuid} from queue {svc}",
    "Wrote {n} records to /var/lib/{svc}/segment-{n}.log in {ms} ms",
    "Slow query on table {svc}_{u} took {ms} ms rows={n}",
    "Session {hex} expired for user {u} after {n2} minutes",
    "Published event {uuid} to topic {svc}.events partition {n2}",
    "Token for {u} refreshed, expires in {n2} s",
    "Health check of {svc} at {ip}:{port} ok in {ms} ms",
    "Heap after GC {n} KiB of {n} KiB ({n2}%)",
    "Thread pool {svc}-exec has {n2} active of 200, queue {n}",
    "Payment {uuid} declined by issuer code {st} for {u}",
    "Lock on {svc}/{hex} acquired by {u} after {ms} ms",
    "Uploaded file /data/{u}/{hex}.bin ({n} bytes) to bucket {svc}",
    "Rate limit for {u} at {n2} req/s, bucket {svc}",
    "Reconciled {n} ledger entries for account {n} in {ms} ms",
    "Failed to parse header X-{svc}-Id value {hex} from {ip}",
    "Shard {n2} of index {svc}-{n} relocated to node {ip}",
    "Email to {u}@example.com queued with id {uuid}",
    "Consumer group {svc} lag {n} on partition {n2}",
    "Config reloaded from /etc/{svc}/config.yaml version {n}",
    "DNS lookup of {svc}.prod.svc took {ms} ms",
    "User {u} changed setting {svc}.limit from {n2} to {n}",
    "Span {hex} of trace {uuid} dropped: buffer full",
    "Circuit breaker for {svc} opened after {n2} failures",
    "Batch {n} of {n} processed by {u} in {ms} ms",
    "TLS handshake with {ip}:{port} failed: certificate expired",
    "Websocket {hex} for {u} closed with code {st}",
    "Migrated {n} rows of {svc}_{u} in {ms} ms",
    "Invoice {n} for {u} generated, total {a}.{c} EUR",
    "Kafka producer for {svc} flushed {n} messages",
    "Disk usage on /var/lib/{svc} at {n2}%",
    "Scheduled job {svc}-cleanup removed {n} files",
    "Request {uuid} from {ip} rejected: missing scope {svc}:write",
    "Replica {ip} of {svc} is {ms} ms behind",
    "Feature flag {svc}_{u} evaluated to true for {n}",
]


def unique_lines(count: int, seed: int = 5) -> list[str]:
    """Lines from templates with random parameters; none repeats exactly."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        tpl = _UNIQUE_TEMPLATES[rng.randrange(len(_UNIQUE_TEMPLATES))]
        line = tpl.format(
            u=rng.choice(_WORDS) + str(rng.randrange(100)), ip=".".join(str(rng.randrange(256)) for _ in range(4)),
            hex=f"{rng.getrandbits(48):x}", n=rng.randrange(10 ** rng.randrange(1, 9)), n2=rng.randrange(100),
            a=rng.randrange(1000), c=rng.randrange(10, 99), ms=rng.randrange(1, 30000),
            svc=rng.choice(_SERVICES), port=rng.randrange(1024, 65535), st=rng.choice((200, 201, 404, 500, 503)),
            uuid=f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                 f"a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}")
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def part_unique(args: argparse.Namespace) -> None:
    lines = unique_lines(args.unique_lines)
    print(f"unique: {len(lines):,} generated lines from {len(_UNIQUE_TEMPLATES)} templates, none repeated")
    load_scanner()
    res = interleaved(lines)
    d_rate = len(lines) / res["Drain3"][0] if "Drain3" in res else float("nan")
    print(f"{'tool':<24} {'seconds':>8} {'lines/s':>10} {'vs Drain3':>9} {'templates':>9}")
    for name, (secs, templates) in res.items():
        rate = len(lines) / secs
        print(f"{name:<24} {secs:>8.2f} {rate:>10,.0f} {rate / d_rate:>8.1f}x {templates:>9,}")


def _run(cmd: list[str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS in bytes and stdout of one child process."""
    import os
    import subprocess

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, usage.ru_maxrss * 1024, out


def part_path(args: argparse.Namespace) -> None:
    from ctxgrab.units import format_bytes

    args.workdir.mkdir(parents=True, exist_ok=True)
    size = int(args.size_gb * 1024**3)
    path = args.file or args.workdir / f"path-{args.size_gb:g}g.log"
    if args.file is None and (not path.exists() or path.stat().st_size < size):
        generate(path, size)
    real = path.stat().st_size
    floor_py = [sys.executable, "-c", "import sys\nn=0\nfor _ in open(sys.argv[1], 'rb'): n += 1\nprint(n)",
                str(path)]
    runs = {"wc -l": ["wc", "-l", str(path)], "python line loop": floor_py,
            "ctxgrab logs": [sys.executable, "-m", "ctxgrab.cli", "logs", str(path), "--format", "json"]}
    print(f"path: {path} ({format_bytes(real)}), each command its own process")
    print(f"{'command':<18} {'seconds':>8} {'MiB/s':>8} {'peak RSS':>10} {'vs python loop':>14}")
    results = {name: _run(cmd) for name, cmd in runs.items()}
    py = results["python line loop"][0]
    for name, (secs, rss, _) in results.items():
        print(f"{name:<18} {secs:>8.1f} {real / 2**20 / secs:>8.1f} {format_bytes(rss):>10} {secs / py:>13.1f}x")
    if not args.keep and args.file is None:
        path.unlink()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["mine", "unique", "path", "seek", "all"], default="all")
    ap.add_argument("--unique-lines", type=int, default=200_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated file of --part path")
    ap.add_argument("--file", type=Path, help="--part path on this file instead of a generated one")
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
    if args.part in ("unique", "all"):
        part_unique(args)
    if args.part in ("path", "all"):
        part_path(args)
    if args.part in ("seek", "all"):
        part_seek(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
