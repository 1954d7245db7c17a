"""Files that are not time-sorted: concatenated pods, interleaved pods with skewed clocks, shuffled samples.

Each must give exactly the records inside the window, and say that the file was read in full.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ctxgrab.logread import read_window, sorted_by_sample
from ctxgrab.timeutil import Window

UTC = timezone.utc
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 11, 0, tzinfo=UTC))


def _line(t: datetime, pod: str, i: int, level: str = "INFO") -> str:
    stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    return f"{stamp} {level} [{pod}-worker-{i % 4}] c.a.payments.Api - request {i} served by {pod} in {i % 97} ms"


def _pod(pod: str, minutes: int = 200, per_minute: int = 20, level: str = "INFO") -> list[tuple[datetime, str]]:
    out = []
    for k in range(minutes * per_minute):
        t = START + timedelta(seconds=k * 60 / per_minute)
        out.append((t, _line(t, pod, k, level)))
    return out


def _expected(lines: list[tuple[datetime, str]]) -> list[str]:
    return sorted(ln for t, ln in lines if WINDOW.start <= t < WINDOW.end)


def _read(path: Path) -> tuple[list[str], object]:
    inside, _, stats = read_window([path], WINDOW, WINDOW.before())
    return sorted(r.source and _text(r) for r in inside), stats


def _text(rec) -> str:
    return rec.message


def _messages(lines: list[tuple[datetime, str]]) -> list[str]:
    return sorted(ln.split(" - ", 1)[1] for t, ln in lines if WINDOW.start <= t < WINDOW.end)


def test_two_pods_concatenated(tmp_path: Path) -> None:
    a, b = _pod("pod-a"), _pod("pod-b", level="ERROR")
    p = tmp_path / "app.log"
    p.write_text("\n".join(ln for _, ln in a + b) + "\n")
    assert p.stat().st_size > 512 * 1024  # large enough that the window would be found by binary search
    got, stats = _read(p)
    assert got == _messages(a + b)
    assert len(got) == 2 * 60 * 20
    assert stats.unsorted_files == [str(p)]
    assert any("not in time order" in x and "read in full" in x for x in stats.problems)


def test_interleaved_pods_with_skewed_clocks(tmp_path: Path) -> None:
    a = _pod("pod-a")
    b = [(t - timedelta(seconds=40), _line(t - timedelta(seconds=40), "pod-b", i))
         for i, (t, _) in enumerate(_pod("pod-b"))]
    merged = [x for pair in zip(a, b) for x in pair]  # arrival order, not time order
    p = tmp_path / "app.log"
    p.write_text("\n".join(ln for _, ln in merged) + "\n")
    got, stats = _read(p)
    assert got == _messages(a + b)
    assert stats.unsorted_files == [str(p)]


def test_shuffled_file(tmp_path: Path) -> None:
    lines = _pod("pod-a")
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    p = tmp_path / "sample.log"
    p.write_text("\n".join(ln for _, ln in shuffled) + "\n")
    ok, when = sorted_by_sample(p)
    assert not ok and when is not None
    got, stats = _read(p)
    assert got == _messages(lines)
    assert stats.unsorted_files == [str(p)]


def test_sorted_file_still_seeks(tmp_path: Path) -> None:
    lines = _pod("pod-a")
    p = tmp_path / "app.log"
    p.write_text("\n".join(ln for _, ln in lines) + "\n")
    got, stats = _read(p)
    assert got == _messages(lines)
    assert stats.seeks == 1 and stats.unsorted_files == []
    assert stats.bytes_read < p.stat().st_size * 0.8  # the seek skipped the first hour


def test_out_of_order_block_found_by_the_read(tmp_path: Path) -> None:
    # Sorted except for a block of window records written late, just after the window: the sampled
    # offsets may miss it, the record check does not, and the file is read again in full.
    lines = _pod("pod-a")
    late = [(t, _line(t, "late", i)) for i, t in enumerate(
        WINDOW.start + timedelta(minutes=30, seconds=k) for k in range(5))]
    cut = next(i for i, (t, _) in enumerate(lines) if t >= WINDOW.end)
    body = lines[:cut] + late + lines[cut:]
    p = tmp_path / "app.log"
    p.write_text("\n".join(ln for _, ln in body) + "\n")
    got, stats = _read(p)
    assert got == _messages(lines + late)
