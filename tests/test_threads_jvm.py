"""Thread dumps and a flight recording from real JVMs (tests/java/threads/).

ThreadTrouble deadlocks two threads on two monitors and two on two ReentrantLocks, exhausts a
fixed pool of POOL threads on a two-connection pool (a Semaphore) behind a slow query, keeps an
idle pool, and leaks "leaky-N" threads on command. We take dumps of it with ``jcmd Thread.print -l``
and ``jstack -l`` between leaks, and its own ``kill -3`` output from its stdout. HotLoop runs a
CPU-hot method and an allocation-heavy one under ``-XX:StartFlightRecording``. Both JVMs start
at once; readiness is a line each prints, never a sleep.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import find_binary
from ctxgrab.analysis.threaddump import read_thread_dump_files, summarize

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two JVMs, about 20 s together

JAVA = Path(__file__).parent / "java" / "threads"
POOL, IDLE = 8, 3
LEAKS = (10, 20, 30)  # leaky threads started before dumps 1, 2, 3
REPO = Path(__file__).resolve().parents[1]


class _Jvm:
    """A JVM whose stdout is read line by line without blocking past a deadline.

    The pipe is read with os.read into our own buffer: a buffered readline would swallow the
    lines after the first one where select() cannot see them.
    """

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        self.buf = b""

    def read_line(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(timeout=left):
                raise AssertionError("JVM did not answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                raise AssertionError(f"JVM exited: {self.proc.stderr.read().decode(errors='replace')}")  # type: ignore[union-attr]
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def read_until(self, pattern: str, timeout_s: float = 60.0) -> list[str]:
        lines = []
        while True:
            lines.append(self.read_line(timeout_s))
            if re.match(pattern, lines[-1]):
                return lines

    def send(self, line: str) -> str:
        self.proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.read_line()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            self.sel.close()
            self.proc.stdout.close()  # type: ignore[union-attr]
            self.proc.stderr.close()  # type: ignore[union-attr]


def _run(*argv: str) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def _interleave(dump_lines: list[str], every: int) -> list[str]:
    """A container log: application lines before, inside (every ``every`` lines) and after the dump."""
    app = "2026-03-02T11:59:0{}.{:03d}Z INFO  [http-nio-8080-exec-3] c.a.p.PaymentController - charge ok order={}"
    out = [app.format(0, i, 1000 + i) for i in range(5)]
    for i, line in enumerate(dump_lines):
        out.append(line)
        if i and i % every == 0:
            out.append(app.format(1, i % 1000, 2000 + i))
    out += [app.format(2, i, 3000 + i) for i in range(5)]
    return out


@pytest.fixture(scope="module")
def jvm_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    java, jcmd, jstack = find_binary("java"), find_binary("jcmd"), find_binary("jstack")
    work = tmp_path_factory.mktemp("threadsjvm")
    jfr_file = work / "hot.jfr"
    hot = subprocess.Popen([java, "-Xmx64m", f"-XX:StartFlightRecording=filename={jfr_file},settings=profile",
                            str(JAVA / "HotLoop.java"), "2500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=work)
    jvm = _Jvm([java, "-Xmx32m", "-XX:+UseSerialGC", str(JAVA / "ThreadTrouble.java"), str(POOL), str(IDLE)], work)
    files: dict[str, Path] = {"jfr": jfr_file}
    try:
        m = re.match(r"READY pid=(\d+)", jvm.read_line())
        assert m
        pid = m.group(1)
        total = 0
        for i, (k, tool) in enumerate(zip(LEAKS, ("jcmd", "jstack", "jcmd")), start=1):
            total += k
            assert jvm.send(f"leak {k}") == f"LEAKED total={total}"
            out = _run(jcmd, pid, "Thread.print", "-l") if tool == "jcmd" else _run(jstack, "-l", pid)
            files[f"dump{i}"] = work / f"{tool}-{i}.txt"
            files[f"dump{i}"].write_text(out)
        os.kill(int(pid), signal.SIGQUIT)
        # kill -3 writes the dump, the deadlocks and a heap summary to the JVM's stdout.
        quit_lines = jvm.read_until(r"^\s+class space\s")
        files["quit"] = work / "container.log"
        files["quit"].write_text("\n".join(_interleave(quit_lines, 40)) + "\n")
    finally:
        jvm.stop()
        out, err = hot.communicate(timeout=60)
    assert hot.returncode == 0, err
    assert "DONE" in out and jfr_file.is_file()
    return files


@pytest.fixture(scope="module")
def summary(jvm_files):
    return summarize(read_thread_dump_files([jvm_files["dump3"], jvm_files["dump1"], jvm_files["dump2"]]))


def _deadlock_with(s: dict, names: set[str]) -> dict:
    hits = [d for d in s["deadlocks"] if {t["thread"] for t in d["threads"]} == names]
    assert len(hits) == 1, s["deadlocks"]
    return hits[0]


def test_monitor_deadlock_names_threads_locks_and_frames(summary):
    dl = _deadlock_with(summary, {"ledger-writer", "audit-writer"})
    assert dl["found_by"] == ["JVM", "lock graph"]
    by = {t["thread"]: t for t in dl["threads"]}
    assert by["ledger-writer"]["holds"]["class"] == "threadtest.ThreadTrouble$Ledger"
    assert by["ledger-writer"]["wants"]["class"] == "threadtest.ThreadTrouble$AuditLog"
    assert by["audit-writer"]["holds"]["lock"] == by["ledger-writer"]["wants"]["lock"]
    assert by["ledger-writer"]["waits_in"].startswith("threadtest.ThreadTrouble.writeLedgerThenAudit(")
    assert by["audit-writer"]["waits_in"].startswith("threadtest.ThreadTrouble.writeAuditThenLedger(")
    assert {t["state"] for t in dl["threads"]} == {"BLOCKED"}


def test_reentrant_lock_deadlock_found_through_ownable_synchronizers(summary):
    dl = _deadlock_with(summary, {"refund-worker", "settle-worker"})
    assert dl["found_by"] == ["JVM", "lock graph"]
    by = {t["thread"]: t for t in dl["threads"]}
    assert by["refund-worker"]["holds"]["lock"] == by["settle-worker"]["wants"]["lock"]
    assert by["settle-worker"]["holds"]["lock"] == by["refund-worker"]["wants"]["lock"]
    assert "ReentrantLock" in by["refund-worker"]["wants"]["class"]
    assert by["refund-worker"]["waits_in"].startswith("threadtest.ThreadTrouble.lockBoth(")
    assert len(summary["deadlocks"]) == 2  # nothing else is called a deadlock


def test_lock_graph_finds_the_deadlocks_without_the_jvms_report(jvm_files):
    text = jvm_files["dump1"].read_text().split("Found one Java-level deadlock")[0]
    p = jvm_files["dump1"].with_name("no-report.txt")
    p.write_text(text + "\nJNI global refs: 1, weak refs: 0\n")
    s = summarize(read_thread_dump_files([p]))
    assert sorted(sorted(t["thread"] for t in d["threads"]) for d in s["deadlocks"]) == [
        ["audit-writer", "ledger-writer"], ["refund-worker", "settle-worker"]]
    assert all(d["found_by"] == ["lock graph"] for d in s["deadlocks"])


def test_exhausted_pool_with_busy_total_and_shared_frame(summary):
    pools = {p["pool"]: p for p in summary["pools"]}
    assert (pools["pool-1-thread-*"]["busy"], pools["pool-1-thread-*"]["total"]) == (POOL, POOL)
    assert (pools["pool-2-thread-*"]["busy"], pools["pool-2-thread-*"]["total"]) == (0, IDLE)
    [ex] = summary["exhausted"]
    assert (ex["pool"], ex["busy"], ex["total"]) == ("pool-1-thread-*", POOL, POOL)
    assert ex["wait"]["threads"] == POOL - 2 and ex["wait"]["state"] == "WAITING"
    assert ex["wait"]["frame"].startswith("threadtest.ThreadTrouble$ConnectionPool.getConnection(")
    assert ex["wait"]["on_connections"] is True
    # the leaked threads, all parked in one frame, are the biggest hot stack; the pool's comes next
    assert [h["threads"] for h in summary["hot_stacks"][:2]] == [60, POOL - 2]
    hot = summary["hot_stacks"][1]
    assert hot["pools"] == {"pool-1-thread-*": POOL - 2} and hot["pool_totals"] == {"pool-1-thread-*": POOL}
    assert any("ConnectionPool.getConnection" in f for f in hot["frames"])


def test_contention_names_the_semaphore_and_the_monitor_holders(summary):
    top = summary["contention"][0]
    assert top["waiters"] == POOL - 2 and "Semaphore" in top["class"] and top["holder"] is None
    ledger = next(c for c in summary["contention"] if c["class"] == "threadtest.ThreadTrouble$Ledger")
    assert ledger["holder"] == "ledger-writer" and ledger["waiters"] == 1
    assert ledger["holder_frames"][0].startswith("threadtest.ThreadTrouble.writeLedgerThenAudit(")


def test_leak_growth_across_dumps_in_time_order(summary):
    ac = summary["across"]
    assert ac["dumps"] == 3 and ac["span_s"] and ac["span_s"] > 0
    g = next(x for x in ac["growth"] if x["pool"] == "leaky-*")
    assert g["counts"] == [10, 30, 60] and g["leak"] is True
    assert g["per_minute"] == pytest.approx(50 / ac["span_s"] * 60)
    # the JIT may start or stop a compiler thread between dumps: the total moves with the leak, give or take those
    assert 50 <= ac["totals"][2] - ac["totals"][0] <= 53
    assert not any(x["leak"] for x in ac["growth"] if x["pool"] != "leaky-*")
    stuck = {n for s in ac["stuck"] for n in s["names"]}
    assert {"ledger-writer", "audit-writer", "refund-worker", "settle-worker"} <= stuck
    assert not any(n.startswith("pool-2-") for n in stuck)  # idle threads are not stuck
    # dump times ascend although the files were given out of order
    uptimes = [d["uptime_s"] for d in summary["dumps"]]
    assert uptimes == sorted(uptimes) and len(set(uptimes)) == 3


def test_non_ascii_thread_names_survive(summary):
    pools = {p["pool"]: p for p in summary["pools"]}
    assert pools["支付-выплата-*"]["total"] == 2


def test_kill_3_output_inside_a_container_log(jvm_files, summary):
    s = summarize(read_thread_dump_files([jvm_files["quit"]]))
    assert len(s["dumps"]) == 1 and not s["partial"]
    assert any("not thread-dump text" in w for w in s["warnings"])
    plain = summarize(read_thread_dump_files([jvm_files["dump1"], jvm_files["dump2"]]))
    assert not any("not thread-dump text" in w for w in plain["warnings"]), plain["warnings"]
    # every thread of the dump read, none lost to the interleaved lines (give or take a JIT compiler thread)
    assert abs(s["threads"] - summary["threads"]) <= 3
    pools = {p["pool"]: p["total"] for p in s["pools"]}
    assert pools["leaky-*"] == 60 and pools["pool-1-thread-*"] == POOL and pools["pool-2-thread-*"] == IDLE
    assert len(s["deadlocks"]) == 2
    assert [(x["pool"], x["busy"], x["total"]) for x in s["exhausted"]] == [("pool-1-thread-*", POOL, POOL)]
    # and with the container runtime's prefix on every line (CRI log format)
    cri = jvm_files["quit"].with_name("cri.log")
    cri.write_text("".join(f"2026-03-02T11:59:01.{i:06d}Z stdout F {line}\n"
                           for i, line in enumerate(jvm_files["quit"].read_text().splitlines())))
    s2 = summarize(read_thread_dump_files([cri]))
    assert s2["threads"] == s["threads"] and len(s2["deadlocks"]) == 2


def test_truncated_dump_is_partial_and_says_so(jvm_files):
    text = jvm_files["dump2"].read_text()
    cut = jvm_files["dump2"].with_name("cut.txt")
    cut.write_text(text[: len(text) // 2])
    s = summarize(read_thread_dump_files([cut]))
    assert s["partial"] is True
    assert any("cut short" in w for w in s["warnings"])
    assert 0 < s["threads"] < summarize(read_thread_dump_files([jvm_files["dump2"]]))["threads"]


def test_cli_prompt_names_deadlock_pool_leak_and_jfr_hot_spots(jvm_files):
    files = [str(jvm_files[k]) for k in ("dump1", "dump2", "dump3", "jfr")]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "threads", *files], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    md = r.stdout
    assert "`ledger-writer` (BLOCKED) holds `threadtest.ThreadTrouble$Ledger`" in md
    assert "wants `threadtest.ThreadTrouble$AuditLog`" in md
    assert "waiting in `threadtest.ThreadTrouble.writeLedgerThenAudit(ThreadTrouble.java:" in md
    assert f"`pool-1-thread-*`: {POOL}/{POOL} threads busy; {POOL - 2} of them WAITING" in md
    assert "in `threadtest.ThreadTrouble$ConnectionPool.getConnection(ThreadTrouble.java:" in md
    assert "`leaky-*`: 10 → 30 → 60 threads (+50" in md and "**thread leak**" in md
    assert "1. `jfrtest.HotLoop$Pricing.score(long)`:" in md
    assert "1. `byte[]` in `jfrtest.HotLoop$Receipts.render(int)" in md
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "threads", *files, "--format", "json"],
                       capture_output=True, text=True, timeout=120, env=env)
    doc = json.loads(r.stdout)
    [rec] = doc["flight_recordings"]
    top = rec["cpu"]["top_methods"][0]
    # javac (the source launcher) runs in the recording too, spread over many methods: the hot one still leads
    second = rec["cpu"]["top_methods"][1]
    assert top["method"] == "jfrtest.HotLoop$Pricing.score(long)" and top["samples"] >= 2 * second["samples"]
    site = rec["allocation"]["top_sites"][0]
    assert site["class"] == "byte[]" and site["frame"].startswith("jfrtest.HotLoop$Receipts.render(int)")
    assert rec["gc"] and rec["gc"][0]["count"] > 0
    mon = rec["monitor_enter"]["top"][0]
    assert mon["class"] == "java.lang.Object" and mon["frame"].startswith("jfrtest.HotLoop$Ledger.post()")
    park = rec["park"]["top"][0]
    assert "ReentrantLock" in park["class"] and park["frame"].startswith("jfrtest.HotLoop$Ledger.journal()")
    assert rec["monitor_enter"]["total_s"] > 0.02 * rec["monitor_enter"]["events"]  # every wait is > 20 ms
    assert doc["threads"]["across"]["dumps"] == 3


def test_incident_prompt_carries_the_thread_and_jfr_sections(jvm_files, tmp_path):
    import ctxgrab

    d = jvm_files["dump1"].parent
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(json.dumps({
        "defaults": {"at": "2026-03-02T12:00:00Z", "timeout_s": 60, "deadline_s": 90},
        "services": {"ledger": {"thread_dumps": [str(d / "j*-*.txt")], "flight_recordings": [str(d / "*.jfr")]}},
    }))
    r = ctxgrab.incident("ledger", config=cfg)
    names = [s["name"] for s in r.signals]
    assert {"deadlock", "pool_exhausted", "thread_leak", "saturation"} <= set(names), names
    assert r.kind == "saturation"  # the pool waits for database connections
    sig = {s["name"]: s for s in r.signals}
    assert "audit-writer holds ThreadTrouble$AuditLog and wants ThreadTrouble$Ledger in ThreadTrouble.writeAuditThenLedger" in \
        sig["deadlock"]["summary"]
    assert f"pool pool-1-thread-* {POOL}/{POOL} busy, {POOL - 2} WAITING on Semaphore$NonfairSync in " \
           "ThreadTrouble$ConnectionPool.getConnection (waiting for a database connection)" in \
        sig["pool_exhausted"]["summary"]
    assert sig["pool_exhausted"]["facts"]["pools"][0]["lock_class"] == "java.util.concurrent.Semaphore$NonfairSync"
    assert sig["thread_leak"]["summary"].startswith("pool leaky-* grew 10 → 30 → 60 threads across 3 thread dumps")
    assert "### JVM threads" in r.markdown and "### JFR recording" in r.markdown
    assert "jfrtest.HotLoop$Pricing.score(long)" in r.markdown
