"""Peak RSS and time of ``ctxgrab heap`` on hostile files, the reference and this tree side by side.

Cases (built from the demo heap dump, fixtures/demo/heap/payments-0900.hprof.gz, which a JDK 17
JVM running tests/java/HeapPaymentsDemo.java wrote with ``jcmd GC.heap_dump``; "large" files
are sparse, so they cost no disk):

- ``not-a-dump-1g``: a 1 GiB file that is not a dump (an ELF magic, then a hole);
- ``dev-zero``: ``/dev/zero`` given as the dump;
- ``byte-array-1.5g``: the demo dump plus one more heap segment holding one 1.5 GiB ``byte[]``;
- ``gz-bomb-4g``: a ~4 MiB ``.hprof.gz`` expanding to ~4 GB (the demo dump's records, then a
  byte[] of 4,000,000,000 zero bytes);
- ``cut-at-segment``: the demo dump cut at a heap-segment boundary, half way.

Each case runs the CLI in a fresh process (``python -c 'from ctxgrab.cli import main; main()'
heap FILE --format json``); peak RSS comes from ``wait4``, which covers the process and the
parse child it waited for. The reference runs under an address-space limit (``--ref-cap-gib``,
default 7) and a time limit (``--timeout``) so that it cannot take the machine down: a reference
figure at the limit means it did not finish.

    python3 benchmarks/bench_hostile.py                          # reference = /work/main/src
    python3 benchmarks/bench_hostile.py --ref /path/to/old/src --only gz-bomb-4g
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_DUMP_GZ = REPO / "fixtures" / "demo" / "heap" / "payments-0900.hprof.gz"
MiB = 1 << 20


def _records(dump: bytes) -> list[tuple[int, int, int]]:
    p = dump.index(b"\0") + 1 + 12
    out = []
    while p < len(dump):
        tag, _t, length = struct.unpack_from(">BII", dump, p)
        out.append((p, tag, length))
        p += 9 + length
    return out


def build(work: Path) -> dict[str, str]:
    dump = gzip.decompress(DEMO_DUMP_GZ.read_bytes())
    recs = _records(dump)
    end = next(o for o, t, _ in recs if t == 0x2C)
    cases: dict[str, str] = {}

    p = work / "core.bin"
    with open(p, "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01\x00")
        f.truncate(1 << 30)
    cases["not-a-dump-1g"] = str(p)
    cases["dev-zero"] = "/dev/zero"

    n = 1536 * MiB
    sub = struct.pack(">BQII", 0x23, 0x7FFF_0000_0000, 0, n) + bytes([8])
    p = work / "byte-array.hprof"
    with open(p, "wb") as f:
        f.write(dump[:end])
        f.write(struct.pack(">BII", 0x1C, 0, len(sub) + n) + sub)
        f.seek(n, os.SEEK_CUR)
        f.write(dump[end:])
    cases["byte-array-1.5g"] = str(p)

    n = 4_000_000_000
    sub = struct.pack(">BQII", 0x23, 0x7FFF_0000_0000, 0, n) + bytes([8])
    member = gzip.compress(b"\0" * (16 * MiB), compresslevel=9)
    p = work / "bomb.hprof.gz"
    with open(p, "wb") as f:
        f.write(gzip.compress(dump[:end] + struct.pack(">BII", 0x1C, 0, len(sub) + n) + sub))
        for _ in range(n // (16 * MiB)):
            f.write(member)
        f.write(gzip.compress(b"\0" * (n % (16 * MiB)) + dump[end:]))
    cases["gz-bomb-4g"] = str(p)

    segs = [o for o, t, _ in recs if t == 0x1C]
    p = work / "cut.hprof"
    p.write_bytes(dump[: segs[len(segs) // 2]])
    cases["cut-at-segment"] = str(p)
    return cases


def run(src: str, path: str, cap_bytes: int | None, timeout: float) -> dict:
    cmd = [sys.executable, "-c", "from ctxgrab.cli import main; main()", "heap", path, "--format", "json"]

    def limit() -> None:
        if cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
                            env={**os.environ, "PYTHONPATH": src})
    out: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: out.__setitem__(n, s.read()))
               for n, s in (("o", proc.stdout), ("e", proc.stderr))]
    for t in readers:
        t.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    for t in readers:
        t.join()
    took = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    err = out["e"].decode(errors="replace")
    result = {"seconds": round(took, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024), "exit": code,
              "traceback": "Traceback" in err, "killed_at_timeout": took >= timeout}
    try:
        report = json.loads(out["o"])
        result["partial"] = report.get("partial")
        result["verdict"] = report.get("verdict", "")[:70]
    except ValueError:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        result["said"] = lines[-1][:110] if lines else ""
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="/work/main/src", help="src folder of the reference (old) code")
    ap.add_argument("--ref-cap-gib", type=float, default=7.0, help="address-space limit for the reference, GiB")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds before a run is killed")
    ap.add_argument("--only", action="append", help="run only these cases")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctxgrab-hostile-") as d:
        cases = build(Path(d))
        rows = []
        for name, path in cases.items():
            if args.only and name not in args.only:
                continue
            old = run(args.ref, path, int(args.ref_cap_gib * (1 << 30)), args.timeout)
            new = run(str(REPO / "src"), path, None, args.timeout)
            rows.append((name, old, new))
            print(json.dumps({"case": name, "old": old, "new": new}), flush=True)
    print()
    print("| case | old: time, peak RSS | old: outcome | new: time, peak RSS | new: outcome | RSS old/new |")
    print("|---|---|---|---|---|---:|")
    for name, old, new in rows:
        def outcome(r: dict) -> str:
            if r["killed_at_timeout"]:
                return "killed at the time limit"
            if r["traceback"]:
                return f"traceback, exit {r['exit']}: {r.get('said', '')[:60]}"
            if "partial" in r:
                return f"exit {r['exit']}, partial={str(r['partial']).lower()}: {r['verdict'][:50]}…"
            return f"exit {r['exit']}: {r.get('said', '')[:70]}"
        ratio = old["peak_rss_mib"] / max(1, new["peak_rss_mib"])
        print(f"| {name} | {old['seconds']} s, {old['peak_rss_mib']:,} MiB | {outcome(old)} | "
              f"{new['seconds']} s, {new['peak_rss_mib']:,} MiB | {outcome(new)} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
