"""Format inference on real-format samples: timestamps, levels, the message without its header, exact windows.

The samples are in tests/data/logs/ (SOURCES.md says which documented format each follows).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctxgrab.analysis.logformat import infer_format, level_word, zone
from ctxgrab.logread import ReadStats, read_records, read_window
from ctxgrab.timeutil import Window

UTC = timezone.utc
DATA = Path(__file__).parent / "data" / "logs"
MTIME = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()
T = [datetime(2026, 3, 2, 10, m, tzinfo=UTC) for m in (0, 5, 10, 15)]

# file -> (levels of the four records, message of the third record)
CASES = {
    "spring-boot-3.log": (["INFO", "WARN", "ERROR", "INFO"],
                          "Servlet.service() for servlet [dispatcherServlet] threw exception"),
    "spring-boot-2.log": (["INFO", "WARN", "ERROR", "INFO"], "Charge 4711 failed: timeout"),
    "logback.log": (["INFO", "WARN", "ERROR", "INFO"], "charge 18 failed"),
    "log4j-zookeeper.log": (["INFO", "WARN", "ERROR", "INFO"],
                            "Unexpected exception causing shutdown while sock still open"),
    "kafka-server.log": (["INFO", "WARN", "ERROR", "INFO"],
                         "Error while electing leader for partition payments-3 (kafka.controller.KafkaController)"),
    "elasticsearch.log": (["INFO", "WARN", "ERROR", "INFO"], "fatal error in thread [main], exiting"),
    "python-logging.log": (["DEBUG", "WARN", "ERROR", "CRITICAL"], "error message"),
    "logrus.log": (["INFO", "WARN", "ERROR", "INFO"], "The ice breaks! number=100 omg=true"),
    "logfmt-grafana.log": (["INFO", "WARN", "ERROR", "INFO"], "Request Completed method=GET path=/api/x status=500"),
    "zap.jsonl": (["INFO", "WARN", "ERROR", "INFO"], "failed to fetch URL"),
    "zap-console.log": (["INFO", "WARN", "ERROR", "INFO"],
                        'failed to fetch URL\t{"url": "http://example.com", "attempt": 3}'),
    "bunyan.jsonl": (["INFO", "WARN", "ERROR", "INFO"], "request failed"),
    "journald.jsonl": (["INFO", "WARN", "ERROR", "INFO"], "charge failed: connection reset"),
    "mongodb.jsonl": (["INFO", "WARN", "ERROR", "INFO"], "WiredTiger error"),
    "mongodb-legacy.log": (["INFO", "WARN", "ERROR", "INFO"], "assertion 13435 not master and slaveOk=false"),
    "postgresql.log": (["INFO", "WARN", "ERROR", "INFO", "FATAL"],
                       'duplicate key value violates unique constraint "payments_pkey"'),
    "redis.log": (["INFO", "WARN", "WARN", "INFO"], "Background saving error"),
    "nginx-error.log": (["INFO", "WARN", "ERROR", "CRITICAL"],
                        '*7 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.9, '
                        'server: _, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/"'),
    "apache-error.log": (["INFO", "WARN", "ERROR", "INFO"],
                         "File does not exist: /usr/local/apache2/htdocs/favicon.ico"),
    "access-combined.log": ([None] * 4, '"GET /pay/17 HTTP/1.1" 404 0 "-" "curl/8.5.0"'),
    "haproxy.log": ([None] * 4, None),
    "envoy-access.log": ([None] * 4, None),
    "envoy-app.log": (["INFO", "WARN", "ERROR", "INFO"], "cds: add/update cluster 'payments' failed"),
    "klog.log": (["INFO", "WARN", "ERROR", "INFO"], "error syncing 'payments/api': deployment not found, requeuing"),
    "syslog-3164.log": (["INFO", "WARN", "ERROR", "INFO"], "charge failed: connection reset"),
    "syslog-5424.log": (["INFO", "WARN", "CRITICAL", "INFO"], "'su root' failed for lonvick on /dev/pts/8"),
    "syslog-plain.log": ([None] * 4, "[12345.678901] Out of memory: Killed process 812 (java)"),
    "w3c-iis.log": ([None] * 4, "10.0.0.1 POST /pay - 80 - 10.0.0.52 Mozilla/5.0 503 0 0 30012"),
    "w3c-time-only.log": ([None] * 4, "POST /foo/pay.html"),
    "mysql-slow.log": ([None] * 4, "UPDATE payments SET state = 'done' WHERE id = 17;"),
    "mysql-slow-57.log": ([None] * 4, "UPDATE payments SET state = 'done' WHERE id = 17;"),
    "hdfs-compact.log": (["INFO", "WARN", "ERROR", "INFO"],
                         "writeBlock blk_7128 received exception java.io.IOException: Connection reset by peer"),
    "spark-short.log": (["INFO", "WARN", "ERROR", "INFO"], "Exception in task 2.0 in stage 5.0 (TID 231)"),
    "pipe-compact.log": ([None] * 4, "onReceive action: android.intent.action.SCREEN_ON"),
    "proxifier-bracket.log": ([None] * 4, "block.dropbox.com:443 error : Could not connect to proxy "
                              "proxy.example.com:5070 - connection attempt failed with error 10061"),
    "android-logcat.log": (["INFO", "WARN", "ERROR", "DEBUG"], "FATAL EXCEPTION: main"),
    "windows-cbs.log": (["INFO", "WARN", "ERROR", "INFO"], "00000001 (F) STATUS_OBJECT_NAME_NOT_FOUND #171"),
    "zone-abbrev.log": ([None] * 4, "charge failed: connection reset"),
    "epoch-prefix.log": ([None] * 4, None),
}


@pytest.fixture
def sample(tmp_path: Path):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copy(DATA / name, dst)
        os.utime(dst, (MTIME, MTIME))  # year-less layouts take the year from the file's mtime
        return dst

    return copy


def test_every_sample_has_a_case() -> None:
    files = {p.name for p in DATA.iterdir() if p.name != "SOURCES.md"}
    assert files == set(CASES)
    sources = (DATA / "SOURCES.md").read_text()
    assert all(name.split(".")[0] in sources for name in files)


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_times_levels_and_message(name: str, sample) -> None:
    levels, third = CASES[name]
    stats = ReadStats()
    recs = list(read_records(sample(name), stats))
    assert [r.level for r in recs] == levels
    times = [r.time for r in recs]
    assert all(t is not None for t in times), times
    assert [t.replace(microsecond=0) for t in times if t] == sorted(
        [t.replace(microsecond=0) for t in times if t])
    assert {t.replace(microsecond=0) for t in times if t} == set(T)
    if third is not None:
        assert recs[2].message == third
    for r in recs:  # the header is not in the message
        assert "2026" not in r.message[:12] and "10:1" not in r.message[:12], r.message
        assert not r.message.startswith(("INFO", "WARN", "ERROR", "[", "-")) or name in (
            "syslog-plain.log", "redis.log"), r.message
    assert not [p for p in stats.problems if "no timestamps" in p]


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_window_is_exact(name: str, sample) -> None:
    w = Window(datetime(2026, 3, 2, 10, 4, tzinfo=UTC), datetime(2026, 3, 2, 10, 12, tzinfo=UTC))
    inside, before, stats = read_window([sample(name)], w, w.before())
    got = sorted({r.time.replace(microsecond=0) for r in inside})
    assert got == [T[1], T[2]]
    assert len(inside) == (3 if name == "postgresql.log" else 2)
    assert [r.time.replace(microsecond=0) for r in before] == [T[0]]


def test_new_year_rollover(tmp_path: Path) -> None:
    p = tmp_path / "syslog"
    p.write_text("Dec 31 23:59:58 web-1 app[1]: last of the year\n"
                 "Jan  1 00:00:02 web-1 app[1]: first of the year\n")
    mtime = datetime(2026, 1, 1, 0, 5, tzinfo=UTC).timestamp()
    os.utime(p, (mtime, mtime))
    recs = list(read_records(p))
    assert [r.time for r in recs] == [datetime(2025, 12, 31, 23, 59, 58, tzinfo=UTC),
                                      datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)]
    w = Window(datetime(2025, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    inside, _, _ = read_window([p], w)
    assert [r.message for r in inside] == ["last of the year", "first of the year"]


def test_zone_abbreviation_is_honoured() -> None:
    fmt = infer_format(["Mon Mar  2 02:00:00 PDT 2026 app[1]: hi"] * 3)
    assert fmt.parse("Mon Mar  2 02:00:00 PDT 2026 app[1]: hi")[0] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_configured_time_zone(tmp_path: Path) -> None:
    p = tmp_path / "app.log"
    p.write_text("2026-03-02 11:05:00,000 ERROR c.a.X - in the window\n"
                 "2026-03-02 11:30:00,000 ERROR c.a.X - after it\n")
    w = Window(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 10, tzinfo=UTC))
    inside, _, _ = read_window([p], w, tz=zone("Europe/Berlin"))  # 11:05 CET = 10:05 UTC
    assert [r.message for r in inside] == ["in the window"]
    inside, _, _ = read_window([p], w)  # UTC: nothing inside
    assert inside == []
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Mars/Olympus")


def test_unparseable_layout_is_stated(tmp_path: Path) -> None:
    p = tmp_path / "plain.txt"
    p.write_text("starting up\nERROR something broke\nall done\n")
    stats = ReadStats()
    recs = list(read_records(p, stats))
    assert [r.message for r in recs] == ["starting up", "something broke", "all done"]
    assert recs[1].level == "ERROR"
    assert any(f"no timestamps found in {p}" in x for x in stats.problems)


@pytest.mark.parametrize("value, numeric, expected", [
    ("error", "auto", "ERROR"), ("[WARN ]", "auto", "WARN"), ("ERROR:", "auto", "ERROR"), (30, "auto", "INFO"),
    (50, "auto", "ERROR"), (3, "syslog", "ERROR"), ("4", "syslog", "WARN"), ("eror", "auto", "ERROR"),
    ("boom", "auto", None),
])
def test_level_words(value, numeric, expected) -> None:
    assert level_word(value, numeric=numeric) == expected


def test_message_starting_with_a_number_keeps_it() -> None:
    lines = [f"2026-03-02 10:00:0{i} {n} items processed" for i, n in enumerate((3, 17, 250, 4, 9))]
    fmt = infer_format(lines)
    assert fmt.parse(lines[1])[3] == "17 items processed"


def test_epoch_milliseconds_and_nanoseconds() -> None:
    ms = infer_format(["1772445600123 GET /a", "1772445601123 GET /b"])
    assert ms.parse("1772445600123 GET /a")[0] == datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)
    ns = infer_format(["1772445600123456789 x", "1772445601123456789 y"])
    assert ns.parse("1772445600123456789 x")[0] == datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert ns.parse("1772445600123456789 x")[0] - ms.parse("1772445600123 GET /a")[0] == timedelta(microseconds=456)


def test_python_basic_config_lines_without_time(tmp_path: Path) -> None:
    p = tmp_path / "py.log"
    p.write_text("INFO:payments.api:started\nERROR:root:connection refused\n")
    recs = list(read_records(p))
    assert [(r.level, r.logger, r.message) for r in recs] == [
        ("INFO", "payments.api", "started"), ("ERROR", "root", "connection refused")]
