"""The compiled masking scanner against mask(), its specification, line by line.

The scanner (``ctxgrab.analysis._maskscan``, numba) re-implements mask()'s regex passes; the
contract is exact equality on every line it handles, and a hand-back (``None`` / hash 0) for
every line it does not. Corpora: the 32,000 Loghub ``Content`` lines (read in place from
``/work/shared/data/loghub``, never copied), the benchmark's generated never-repeating lines,
every line of ``tests/data/logs`` and adversarial text from hypothesis.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ctxgrab.analysis import _maskscan, logpatterns  # noqa: E402
from ctxgrab.analysis.logpatterns import LogRecord, PatternMiner, mask, mine  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from loghub import LOGHUB, content_lines  # noqa: E402 - the Loghub data stays in ../shared
DATA = Path(__file__).parent / "data" / "logs"


@pytest.fixture(scope="module", autouse=True)
def scanner():
    if _maskscan.load() is None:
        pytest.skip("the numba scanner did not compile here")
    return _maskscan


def _compare(lines: list[str]) -> tuple[int, list[tuple[str, str, str]]]:
    """(lines handed back to mask(), mismatches as (line, scanner, mask))."""
    texts = _maskscan.texts(lines)
    handed_back = 0
    bad = []
    for line, got in zip(lines, texts):
        if got is None:
            handed_back += 1
        elif got != mask(line):
            bad.append((line, got, mask(line)))
    return handed_back, bad


def test_loghub_content_lines_mask_identically():
    if not LOGHUB.is_dir():
        pytest.skip(f"no Loghub data at {LOGHUB}")
    lines = content_lines()
    assert len(lines) == 32_000
    handed_back, bad = _compare(lines)
    assert bad == []
    # the scanner does the work: only non-ASCII lines go back to mask()
    assert handed_back == sum(1 for ln in lines if not ln.isascii())
    assert handed_back < len(lines) // 100


def test_generated_unique_lines_mask_identically():
    from bench_logs_speed import unique_lines

    lines = unique_lines(20_000)
    handed_back, bad = _compare(lines)
    assert bad == []
    assert handed_back == 0


def test_every_sample_log_line_masks_identically():
    lines: list[str] = []
    for path in sorted(DATA.iterdir()):
        if path.suffix in (".log", ".jsonl"):
            lines += path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    assert len(lines) > 200
    handed_back, bad = _compare(lines)
    assert bad == []
    assert handed_back == sum(1 for ln in lines if not ln.isascii())


# Pieces that sit on the edges of the masks: units, clocks, dates, months, booleans, hex, paths,
# quotes, key=value, every kind of whitespace, and text the scanner must hand back (non-ASCII,
# an Arabic-Indic digit that regex \d accepts, a lone surrogate from a badly encoded file).
_PIECES = [
    "0", "1", "7", "12", "123", "1234", "99999", "0x", "0X1f", "x", "v", "B", "KB", "KiB", "MB", "bytes", "b",
    "ms", "s", "sec", "secs", "seconds", "min", "minutes", "h", "hrs", "hours", "ns", "us", "µs", "ab", "Z",
    ":", "::", "://", "/", "//", ".", "..", "-", "+", "=", "==", ",", ";", "(", ")", "[", "]", "{", "}",
    "\"", "'", "|", "<", ">", "~", "@", "%", "_", " ", "  ", "\t", "\n", "\x1c", "\r", "\x0b", "T",
    "2026-03-01", "10:00", "10:00:00", ".123", ",5", "+01:00", "-0530", "Jan", "Mon", "Sunday", "Dec",
    "true", "false", "null", "None", "True", "False", "http", "https://a.b/c", "a:", "e:true",
    "12345678-1234-1234-1234-123456789abc", "10.0.0.1", "1.2.3", "/var/log/x", "key", "é", "٣", "\udcff",
    "\x00", "\x7f",
]
_pieces = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=40).map("".join)
_long = st.builds(lambda p, k: p * k, st.sampled_from(["1", "a1", "1.", "/a", "=\"", "0x1", "9 ms "]),
                  st.integers(1, 3000))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_pieces, _long), min_size=1, max_size=30))
def test_adversarial_text_masks_identically_or_is_handed_back(lines):
    handed_back, bad = _compare(lines)
    assert bad == []
    h1, h2 = _maskscan.hashes(lines)
    for line, a, b in zip(lines, h1.tolist(), h2.tolist()):
        assert (a == 0) == (b == 0)
        assert (a == 0) == (not line.isascii() or len(line) > _maskscan.MAX_LINE_BYTES)


def test_equal_masks_hash_equal_and_different_masks_differ():
    from bench_logs_speed import unique_lines

    lines = unique_lines(5_000)
    h1, h2 = _maskscan.hashes(lines)
    by_text: dict[str, set[tuple[int, int]]] = {}
    for line, a, b in zip(lines, h1.tolist(), h2.tolist()):
        by_text.setdefault(mask(line), set()).add((a, b))
    assert all(len(v) == 1 for v in by_text.values())
    assert len({next(iter(v)) for v in by_text.values()}) == len(by_text)


def _mixed_lines(n: int) -> list[str]:
    rng = random.Random(3)
    from bench_logs_speed import unique_lines

    lines = unique_lines(n)
    # lines the scanner hands back, interleaved: their new signatures must be numbered in order
    for i in range(0, n, 37):
        lines[i] = f"Grüße von {rng.randrange(100)} Benutzern nach {rng.randrange(9)} ms"
    lines[5] = "x" * (_maskscan.MAX_LINE_BYTES + 1) + " 42"
    return lines


def test_add_many_gives_the_numbers_add_gives():
    lines = _mixed_lines(6_000)
    slow = PatternMiner()
    expected = [slow.add(m) for m in lines]
    fast = PatternMiner(scan_after=0)
    got = fast.add_many(lines[:2500]) + fast.add_many(lines[2500:])
    assert got == expected
    assert fast.signatures == slow.signatures
    assert fast.counts == slow.counts
    assert fast.assign() == slow.assign()


def test_add_many_on_repeated_shapes_gives_the_numbers_add_gives():
    rng = random.Random(4)
    base = _mixed_lines(800)
    # lines that differ only in non-zero digits share a shape; one record holds a newline
    lines = [base[rng.randrange(len(base))].replace("7", str(rng.randrange(1, 10))) for _ in range(12_000)]
    lines[4000] = "first line\nsecond line 42"
    slow = PatternMiner()
    expected = [slow.add(m) for m in lines]
    fast = PatternMiner(scan_after=0)
    got: list[int] = []
    for k in range(0, len(lines), 1000):
        got += fast.add_many(lines[k:k + 1000])
    assert got == expected
    assert fast.counts == slow.counts
    assert len(fast._shapes) > 0


def test_add_many_below_the_threshold_stays_on_mask(monkeypatch):
    monkeypatch.setattr(_maskscan, "hashes", lambda lines: pytest.fail("scanner used below the threshold"))
    m = PatternMiner(scan_after=1_000)
    assert m.add_many(["user 7 logged in", "user 9 logged in", "disk full"]) == [0, 0, 1]


def test_a_first_hash_collision_is_detected_and_masked_by_mask(monkeypatch):
    real = _maskscan.hashes

    def colliding(lines):
        h1, h2 = real(lines)
        h1[h1 != 0] = 12345  # every line the same first hash: the second one tells them apart
        return h1, h2

    monkeypatch.setattr(_maskscan, "hashes", colliding)
    lines = _mixed_lines(500)
    slow = PatternMiner()
    expected = [slow.add(m) for m in lines]
    assert PatternMiner(scan_after=0).add_many(lines) == expected


def test_without_numba_add_many_uses_mask(monkeypatch):
    monkeypatch.setattr(logpatterns, "_SCANNER_STATE", [])
    monkeypatch.setattr(_maskscan, "loaded", lambda: False)
    monkeypatch.setattr(_maskscan, "available", lambda: False)
    lines = _mixed_lines(300)
    slow = PatternMiner()
    assert PatternMiner(scan_after=0).add_many(lines) == [slow.add(m) for m in lines]


def test_the_compiled_scanner_is_in_numbas_cache_after_a_load():
    assert _maskscan.loaded()
    assert _maskscan.warm()  # a later process reads it instead of compiling


def test_a_cold_cache_is_warmed_in_the_background_and_the_run_goes_on_without_it(monkeypatch):
    # compiling takes about a minute, longer than a collector's deadline: never inside a run
    started = []
    monkeypatch.setattr(logpatterns, "_SCANNER_STATE", [])
    monkeypatch.setattr(_maskscan, "loaded", lambda: False)
    monkeypatch.setattr(_maskscan, "warm", lambda: False)
    monkeypatch.setattr(_maskscan, "load", lambda: pytest.fail("compiled inside the run"))
    monkeypatch.setattr(_maskscan, "warm_up_in_background", lambda: started.append(1))
    lines = _mixed_lines(300)
    slow = PatternMiner()
    assert PatternMiner(scan_after=0).add_many(lines) == [slow.add(m) for m in lines]
    assert started == [1]
    assert PatternMiner(scan_after=0).add_many(lines[:5]) == [slow.add(m) for m in lines[:5]]
    assert started == [1]  # the answer is kept for a minute, not asked for every batch


def test_binary_junk_and_a_10_mb_line_are_handed_to_mask():
    rng = random.Random(9)
    junk = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))).decode("utf-8", "surrogateescape")
            for _ in range(300)]
    ascii_junk = ["".join(chr(rng.randrange(128)) for _ in range(rng.randrange(1, 400))) for _ in range(300)]
    handed_back, bad = _compare(ascii_junk)
    assert bad == [] and handed_back == 0  # ASCII control bytes are the scanner's to mask
    big = "payload=" + "ab1 " * (10 * 2**20 // 4)
    lines = junk + ascii_junk + [big]
    slow = PatternMiner()
    expected = [slow.add(m) for m in lines]
    assert PatternMiner(scan_after=0).add_many(lines) == expected
    assert _maskscan.texts([big]) == [None]


def test_mine_with_the_scanner_gives_the_same_result(monkeypatch):
    lines = _mixed_lines(9_000)
    recs = [LogRecord(m, level="ERROR" if i % 11 == 0 else "INFO", trace="java.lang.IllegalStateException: x\n"
                      "\tat a.b.C.run(C.java:7)" if i % 97 == 0 else None) for i, m in enumerate(lines)]
    base = [LogRecord(m) for m in lines[:3000:3]]
    slow = mine(recs, base, max_patterns=None, with_assignments=True)
    monkeypatch.setattr(logpatterns, "_SCAN_AFTER_LINES", 0)
    fast = mine(recs, base, max_patterns=None, with_assignments=True)
    assert [p.to_dict() for p in fast.patterns] == [p.to_dict() for p in slow.patterns]
    assert fast.assignments == slow.assignments
    assert (fast.records, fast.baseline_records, fast.baseline_error_records) == \
        (slow.records, slow.baseline_records, slow.baseline_error_records)
