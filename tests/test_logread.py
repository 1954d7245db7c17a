"""Reading log files: timestamps, records, JSON lines, bad bytes, rotation, .gz and the window seek."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctxgrab.errors import InputError
from ctxgrab.logread import (
    MAX_LINE_BYTES,
    ReadStats,
    expand_paths,
    find_offset,
    parse_timestamp,
    read_records,
    read_window,
    split_header,
)
from ctxgrab.timeutil import Window

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("2026-03-02T10:15:00.123Z ERROR x", datetime(2026, 3, 2, 10, 15, 0, 123000, tzinfo=UTC)),
        ("2026-03-02 10:15:00,5 INFO x", datetime(2026, 3, 2, 10, 15, 0, 500000, tzinfo=UTC)),
        ("2026-03-02T12:15:00+02:00 x", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("2026/03/02 10:15:00 x", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("[2026-03-02 10:15:00] x", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("Sun Dec 04 04:47:44 2005 notice", datetime(2005, 12, 4, 4, 47, 44, tzinfo=UTC)),
        ("[Sun Dec 04 04:47:44 2005] [notice] x", datetime(2005, 12, 4, 4, 47, 44, tzinfo=UTC)),
        ("Mar  2 10:15:00 host sshd[1]: x", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("1772446500 x", datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
        ("1772446500123 x", datetime(2026, 3, 2, 10, 15, 0, 123000, tzinfo=UTC)),
        ('10.0.0.1 - - [02/Mar/2026:11:15:00 +0100] "GET / HTTP/1.1" 200', datetime(2026, 3, 2, 10, 15, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_formats(line: str, expected: datetime) -> None:
    assert parse_timestamp(line, year=2026)[0] == expected


def test_parse_timestamp_rejects_non_times() -> None:
    assert parse_timestamp("\tat com.acme.X.run(X.java:1)")[0] is None
    assert parse_timestamp("2026-13-45T99:00:00Z bogus")[0] is None


def test_split_header_logback_and_python_styles() -> None:
    assert split_header(" [main] ERROR c.a.PaymentService - charge failed") == (
        "ERROR", "c.a.PaymentService", "charge failed")
    assert split_header(" WARNING payments.ledger - slow") == ("WARN", "payments.ledger", "slow")
    assert split_header(" just a message with no level") == (None, None, "just a message with no level")


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_stack_trace_lines_stay_with_their_record(tmp_path: Path) -> None:
    p = _write(tmp_path / "app.log", (
        "2026-03-02T10:00:00Z INFO [main] c.a.App - started\n"
        "2026-03-02T10:00:01Z ERROR [exec-1] c.a.Pay - failed\n"
        "java.lang.NullPointerException: null\n"
        "\tat c.a.Pay.run(Pay.java:42)\n"
        "\t... 3 more\n"
        "2026-03-02T10:00:02Z INFO [main] c.a.App - next\n"
    ))
    recs = list(read_records(p))
    assert [r.message for r in recs] == ["started", "failed", "next"]
    assert recs[1].trace is not None and recs[1].trace.splitlines()[1] == "\tat c.a.Pay.run(Pay.java:42)"
    assert recs[1].line_count == 4 and recs[1].level == "ERROR" and recs[1].logger == "c.a.Pay"


def test_json_lines_fields(tmp_path: Path) -> None:
    lines = [
        {"@timestamp": "2026-03-02T10:00:00Z", "level": "warning", "message": "slow ledger", "logger_name": "c.a.L"},
        {"ts": 1772445601.5, "severity": "ERROR", "msg": "boom", "exception": {
            "class": "java.lang.IllegalStateException", "message": "bad", "stacktrace": ["c.a.B.run(B.java:3)"]}},
        {"time": 1772445602000, "log": {"level": "info"}, "event": "nested level"},
    ]
    p = _write(tmp_path / "app.json", "\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    stats = ReadStats()
    recs = list(read_records(p, stats))
    assert [r.message for r in recs[:3]] == ["slow ledger", "boom", "nested level"]
    assert [r.level for r in recs[:3]] == ["WARN", "ERROR", "INFO"]
    assert recs[0].logger == "c.a.L" and recs[0].time == T0
    assert recs[1].time == T0 + timedelta(seconds=1.5)
    assert recs[1].trace == "java.lang.IllegalStateException: bad\n\tat c.a.B.run(B.java:3)"
    assert recs[2].time == T0 + timedelta(seconds=2)
    # a broken JSON line in an auto-detected file is a continuation of the previous record, not lost
    assert "{not json" in (recs[2].trace or "")


def test_bad_bytes_are_counted_never_fatal(tmp_path: Path) -> None:
    big = b"x" * (MAX_LINE_BYTES * 2 + 10)
    p = _write(tmp_path / "bad.log", b"".join([
        b"2026-03-02T10:00:00Z INFO ok\n",
        b"2026-03-02T10:00:01Z WARN bad \xff\xfe utf8\n",
        b"2026-03-02T10:00:02Z INFO nul\x00\x00 here\n",
        b"2026-03-02T10:00:03Z INFO " + big + b"\n",
        b"2026-03-02T10:00:04Z ERROR after the giant line\n",
    ]))
    stats = ReadStats()
    recs = list(read_records(p, stats))
    assert len(recs) == 5
    assert recs[1].message == "bad \ufffd\ufffd utf8"
    assert recs[2].message == "nul here"
    assert len(recs[3].message) < MAX_LINE_BYTES
    assert recs[4].message == "after the giant line"
    assert (stats.invalid_utf8_lines, stats.nul_lines, stats.long_lines) == (1, 1, 1)
    assert stats.lines_read == 5
    assert any("bad.log @ byte" in p and "invalid UTF-8" in p for p in stats.problems)


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    body = "".join(f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}Z INFO line {i} " + "y" * 50 + "\n" for i in range(2000))
    blob = gzip.compress(body.encode())
    p = _write(tmp_path / "cut.log.gz", blob[: len(blob) // 2])
    stats = ReadStats()
    recs = list(read_records(p, stats))
    assert 0 < len(recs) < 2000
    assert any("read stopped" in x for x in stats.problems)


def test_untimed_file_lines_are_records(tmp_path: Path) -> None:
    p = _write(tmp_path / "plain.txt", "alpha 1\nbeta 2\n\tat x.Y.z(Y.java:1)\ngamma\n")
    recs = list(read_records(p))
    assert [r.message for r in recs] == ["alpha 1", "beta 2", "gamma"]
    assert recs[1].trace == "\tat x.Y.z(Y.java:1)"


def test_rotated_and_gz_files_read_oldest_first(tmp_path: Path) -> None:
    def lines(hour: int) -> str:
        return "".join(f"2026-03-02T{hour:02d}:{m:02d}:00Z INFO tick {m}\n" for m in range(60))

    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(lines(8).encode()))
    _write(tmp_path / "app.log.1", lines(9))
    _write(tmp_path / "app.log", lines(10))
    _write(tmp_path / "other.txt", lines(10))
    paths = expand_paths(tmp_path / "app.log")
    assert [p.name for p in paths] == ["app.log.2.gz", "app.log.1", "app.log"]
    w = Window(datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 10, 30, tzinfo=UTC))
    inside, before, stats = read_window(paths, w, w.before())
    assert len(inside) == 60 and len(before) == 60
    assert inside[0].time == w.start and inside[-1].time == datetime(2026, 3, 2, 10, 29, tzinfo=UTC)
    assert before[0].time == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def test_files_wholly_outside_the_window_are_skipped(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.log", "".join(f"2026-03-01T10:{m:02d}:00Z INFO old\n" for m in range(60)))
    b = _write(tmp_path / "b.log", "".join(f"2026-03-02T10:{m:02d}:00Z INFO new\n" for m in range(60)))
    w = Window(T0, T0 + timedelta(hours=1))
    inside, _, stats = read_window([a, b], w)
    assert len(inside) == 60 and stats.files_skipped == [str(a)]


def _sorted_log(path: Path, n: int, step_s: float = 1.0) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            t = T0 + timedelta(seconds=i * step_s)
            f.write(f"{t.isoformat().replace('+00:00', 'Z')} INFO [w-{i % 8}] c.a.Svc - request {i} done in {i % 97} ms\n")
            if i % 500 == 0:
                f.write("java.lang.IllegalStateException: periodic\n\tat c.a.Svc.run(Svc.java:7)\n")
    return path


def test_find_offset_lands_just_before_the_first_record_at_target(tmp_path: Path) -> None:
    p = _sorted_log(tmp_path / "big.log", 40_000)
    target = T0 + timedelta(seconds=25_000)
    off = find_offset(p, target, min_span=4096)
    data = p.read_bytes()
    first_at_target = data.index(b"2026-03-02T16:56:40Z")  # T0 + 25,000 s
    assert off <= first_at_target and first_at_target - off <= 4096 + 200


def test_window_seek_matches_a_full_scan_and_reads_little(tmp_path: Path) -> None:
    p = _sorted_log(tmp_path / "big.log", 40_000)
    w = Window(T0 + timedelta(seconds=20_000), T0 + timedelta(seconds=20_400))
    sought, _, s_stats = read_window([p], w)
    scanned, _, f_stats = read_window([p], w, seek=False)
    assert [(r.time, r.message, r.trace) for r in sought] == [(r.time, r.message, r.trace) for r in scanned]
    assert len(sought) == 400 and sought[0].trace is not None  # record 20,000 carries a stack trace
    assert s_stats.seeks == 1 and f_stats.seeks == 0
    assert s_stats.bytes_read < f_stats.bytes_read / 20


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such log file"):
        read_window([tmp_path / "nope.log"], None)


def test_unopenable_path_is_an_input_error_naming_it(tmp_path: Path) -> None:
    d = tmp_path / "logs.d"
    d.mkdir()
    with pytest.raises(InputError, match=r"logs\.d: cannot open log file"):
        list(read_records(d))
