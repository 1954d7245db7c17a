"""The pattern miner: masking, clustering, stack traces, baseline and ordering."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctxgrab.analysis.logpatterns import (
    LogRecord,
    PatternMiner,
    group_messages,
    mask,
    mine,
    normalize_level,
    parse_trace,
)

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("Connection from 10.0.0.7:5432 closed", "Connection from <ip> closed"),
        ("request 3f2b9c1e-8d7a-4b6c-9e5f-1a2b3c4d5e6f done", "request <uuid> done"),
        ("took 350 ms", "took <duration>"),
        ("took 1.5s", "took <duration>"),
        ("sent 1190 bytes (1.16 KB)", "sent <size>"),
        ("at 2026-03-02T10:15:00.123Z ok", "at <time> ok"),
        ("read /var/lib/app/data.db", "read <path>"),
        ("fetch https://api.example.com/v1/x?a=1", "fetch <url>"),
        ("flags=0x1f set", "flags=<*> set"),
        ("addr 0x7ffe1234 bad", "addr <hex> bad"),
        ("retry 3 of 5", "retry <num> of <num>"),
        ("user=alice logged in", "user=<*> logged in"),
        ("enabled: true", "enabled: <bool>"),
        ("block blk_-160899968 lost", "block <*> lost"),
        ("Started v2.14.1", "Started <version>"),
        ("plain words only", "plain words only"),
    ],
)
def test_mask_replaces_variable_parts_by_type(line: str, expected: str) -> None:
    assert mask(line) == expected


def test_mask_treats_non_zero_digits_alike_so_the_caches_are_exact() -> None:
    # The miner and the token cache key texts by turning 2-9 into 1: valid only if
    # masking never depends on which non-zero digit it sees. Zero stays: 0x starts hex.
    lines = ["at 2026-03-02T10:15:00Z user 12 moved 0x1f to 10.1.2.3 in 35 ms",
             "PCI 0000:02:0e.0 IRQ 177 v3.9.1 model 1x2", "took 250 bytes (2.5 KB) and 4s"]
    for line in lines:
        keyed = line.translate(str.maketrans("23456789", "11111111"))
        assert mask(line) == mask(keyed)
    assert mask("model 1x2") == "model <*>" and mask("addr 0x2") == "addr <hex>"


def test_grouping_separates_templates_and_merges_variables() -> None:
    msgs = [
        "session opened for user root",
        "session opened for user news",
        "session opened for user cyrus",
        "session opened for user test",
        "VM Started (Lifecycle Event)",
        "VM Paused (Lifecycle Event)",
        "VM Started (Lifecycle Event)",
        "Receiving block blk_1 src: /10.0.0.1:50010",
        "Receiving block blk_-2 src: /10.0.0.2:50010",
    ]
    ids = group_messages(msgs)
    assert ids[0] == ids[1] == ids[2] == ids[3]  # four user names: a variable
    assert ids[4] == ids[6] != ids[5]  # two states: different events
    assert ids[7] == ids[8]
    assert len({ids[0], ids[4], ids[5], ids[7]}) == 4


def test_miner_shows_typed_placeholders_where_members_agree() -> None:
    m = PatternMiner()
    sids = [m.add(f"Ledger call slow: {ms} ms (threshold 800 ms) user={u}") for ms, u in
            [(1200, "a"), (2004, "b"), (950, "c"), (3000, "d")]]
    texts = m.assign()
    assert {texts[s] for s in sids} == {"Ledger call slow: <duration> (threshold <duration>) user=<*>"}


def _rec(msg: str, minutes: float, level: str = "INFO", trace: str | None = None) -> LogRecord:
    return LogRecord(msg, time=T0 + timedelta(minutes=minutes), level=level, trace=trace)


def test_mine_counts_times_levels_and_ranks_by_severity_volume_and_change() -> None:
    window = (
        [_rec(f"Charged order {i} in {i % 90} ms", i) for i in range(50)]
        + [_rec(f"Cache miss for key k{i}", i, "DEBUG") for i in range(5)]
        + [_rec(f"Ledger timeout after {i} ms", 30 + i, "WARN") for i in range(3)]
        + [_rec(f"Payment failed for order {i}", 40 + i, "ERROR") for i in range(2)]
    )
    baseline = [_rec(f"Charged order {i} in 20 ms", -60 + i) for i in range(10)] + [
        _rec(f"Ledger timeout after {i} ms", -30, "WARN") for i in range(2)
    ]
    res = mine(window, baseline, max_patterns=3)
    assert res.patterns_total == 4 and res.patterns_omitted == 1
    first, second, third = res.patterns
    assert first.template == "Payment failed for order <num>" and first.level == "ERROR" and first.new
    assert first.count == 2 and first.first_seen == T0 + timedelta(minutes=40)
    assert first.last_seen == T0 + timedelta(minutes=41)
    # INFO x50, five times its baseline, before WARN x3 that barely grew; the new DEBUG x5 is omitted
    assert second.template == "Charged order <num> in <duration>" and not second.new
    assert second.baseline_count == 10 and second.count == 50
    assert third.template == "Ledger timeout after <duration>" and third.baseline_count == 2
    assert res.error_records == 2 and res.new_patterns == 2 and res.baseline_records == 12
    assert "Charged order 0 in 0 ms" == second.example


def test_ranking_growing_warn_beats_one_off_errors_and_lifecycle_sinks() -> None:
    # A pool-exhaustion incident during a rolling update (the shape of the case reported by users).
    window = [_rec(f"HikariPool-1 - Connection is not available, request timed out after {30000 + i} ms", i % 60,
                   "WARN") for i in range(1900)]
    window += [_rec(f"Unexpected error in job {k}: {w}", 5 + k, "ERROR")
               for k, w in enumerate(("disk quota", "bad header", "socket reset"))]
    window += [_rec(f"{what} {svc}", 1, "INFO") for what in ("Starting service", "Stopping service",
                                                            "Started Application in 3.2 seconds", "Shutting down")
               for svc in ("payments", "ledger", "risk")]
    window += [_rec(f"GET /health 200 {i} ms", i % 60, "INFO") for i in range(300)]
    baseline = [_rec(f"HikariPool-1 - Connection is not available, request timed out after {30000 + i} ms", -30,
                     "WARN") for i in range(21)]
    baseline += [_rec(f"GET /health 200 {i} ms", -30, "INFO") for i in range(300)]
    res = mine(window, baseline, max_patterns=None)
    order = [p.template for p in res.patterns]
    assert "Connection is not available" in order[0]
    assert res.patterns[0].baseline_count == 21 and res.patterns[0].count == 1900
    lifecycle = [i for i, t in enumerate(order) if t.startswith(("Starting", "Stopping", "Started", "Shutting"))]
    errors = [i for i, p in enumerate(res.patterns) if p.level == "ERROR"]
    assert lifecycle and errors and min(lifecycle) > max(errors)
    health = next(i for i, t in enumerate(order) if t.startswith("GET"))
    assert health > max(errors)


def test_empty_baseline_is_stated_and_makes_nothing_new() -> None:
    res = mine([_rec("boom 1", 0, "ERROR"), _rec("boom 2", 1, "ERROR")], [])
    assert res.baseline_empty and res.baseline_records == 0
    assert res.new_patterns == 0 and not res.patterns[0].new
    assert not mine([_rec("boom 1", 0, "ERROR")], [_rec("other", -5)]).baseline_empty


def test_mine_without_baseline_marks_nothing_new() -> None:
    res = mine([_rec("a 1", 0), _rec("a 2", 1)])
    assert res.patterns[0].new is False and res.patterns[0].baseline_count is None


def test_assignments_follow_input_order() -> None:
    recs = [_rec("disk full on /dev/sda1", 0, "ERROR"), _rec("user 1 in", 1), _rec("user 2 in", 2)]
    res = mine(recs, with_assignments=True)
    ids = res.assignments
    assert ids is not None and len(ids) == 3 and ids[1] == ids[2] != ids[0]
    assert {p.id for p in res.patterns} == set(ids)


def test_level_aliases() -> None:
    assert [normalize_level(x) for x in ("warning", "SEVERE", "err", "info", None)] == [
        "WARN", "ERROR", "ERROR", "INFO", None]


def _records_of(path: Path) -> list[LogRecord]:
    from ctxgrab.logread import read_records

    return list(read_records(path))


def test_real_java_traces_group_by_exception_and_top_frames() -> None:
    res = mine(_records_of(DATA / "java_stacktrace.log"))
    by_exc = {p.exception: p for p in res.patterns if p.exception}
    npe = by_exc["java.lang.NullPointerException"]
    assert npe.count == 3 and npe.level == "ERROR"
    assert npe.frames[0] == "PaymentService.process(PaymentService.java:13)"
    assert npe.trace_summary == "NullPointerException at PaymentService.process(PaymentService.java:13)"
    ise = by_exc["java.lang.IllegalStateException"]
    assert ise.count == 2
    assert ise.trace_summary.endswith("caused by NumberFormatException")
    assert res.patterns[-1].template == "Charging order <num>"  # errors come first
    assert "java.lang.NullPointerException" in npe.example


def test_real_python_tracebacks_group_by_final_exception() -> None:
    res = mine(_records_of(DATA / "python_traceback.log"))
    by_exc = {p.exception: p for p in res.patterns if p.exception}
    key_error = by_exc["KeyError"]
    assert key_error.count == 2
    assert key_error.frames == ["fetch_balance(ledger_client.py:25)", "settle(ledger_client.py:28)",
                                "<module>(ledger_client.py:41)"]
    chained = by_exc["RuntimeError"]
    assert chained.count == 2 and chained.frames[0] == "parse_amount(ledger_client.py:35)"
    assert chained.trace_summary.endswith("caused by ValueError")


def test_same_message_with_different_exceptions_are_different_patterns() -> None:
    t1 = "java.lang.IllegalStateException: x\n\tat a.b.Svc.run(Svc.java:10)"
    t2 = "java.io.IOException: y\n\tat a.b.Io.read(Io.java:5)"
    res = mine([_rec("Request failed", 0, "ERROR", t1), _rec("Request failed", 1, "ERROR", t1),
                _rec("Request failed", 2, "ERROR", t2)])
    assert sorted(p.count for p in res.patterns) == [1, 2]
    assert {p.exception for p in res.patterns} == {"java.lang.IllegalStateException", "java.io.IOException"}


def test_parse_trace_exception_named_in_the_log_line() -> None:
    info = parse_trace("Unhandled java.util.ConcurrentModificationException\n\tat java.util.HashMap.next(HashMap.java:1)")
    assert info is not None and info.exception == "java.util.ConcurrentModificationException"


def test_parse_trace_none_for_plain_continuations() -> None:
    assert parse_trace("some message\n  continued text") is None
