"""Growth between two class histograms compares every class, not each histogram's top 20.

The histograms are in the layout OpenJDK 17's ``jmap -histo`` / ``jcmd GC.class_histogram``
prints (see the example in ctxgrab.analysis.histogram, copied from a JDK 17 run).
"""

from __future__ import annotations

from pathlib import Path

from ctxgrab.analysis.dominators import analyze_heap_file


def _histo(rows: list[tuple[str, int, int]]) -> str:
    rows = sorted(rows, key=lambda r: -r[2])
    lines = ["12345:", " num     #instances         #bytes  class name (module)",
             "-------------------------------------------------------"]
    for i, (name, n, b) in enumerate(rows, 1):
        lines.append(f"{i:5d}:{n:14d}{b:15d}  {name}")
    lines.append(f"Total{sum(r[1] for r in rows):14d}{sum(r[2] for r in rows):15d}")
    return "\n".join(lines) + "\n"


def test_class_from_outside_the_top_20_that_grew_twentyfold_is_found(tmp_path: Path) -> None:
    steady = [(f"com.acme.Steady{i}", 1000, 10_000_000 - i * 100_000) for i in range(30)]
    before = steady + [("com.acme.ws.SessionHolder", 100, 4_800)]  # 31st by size: outside any top 20
    after = steady + [("com.acme.ws.SessionHolder", 2_500, 120_000)]
    (tmp_path / "before.histo.txt").write_text(_histo(before))
    (tmp_path / "after.histo.txt").write_text(_histo(after))
    rep = analyze_heap_file(str(tmp_path / "after.histo.txt"), baseline=str(tmp_path / "before.histo.txt"))
    growth = rep["growth"]
    top = growth["classes"][0]
    assert top["class"] == "com.acme.ws.SessionHolder"
    assert top["instances_delta"] == 2_400 and top["shallow_bytes_delta"] == 115_200
    assert "most in com.acme.ws.SessionHolder" in growth["verdict"]
    assert "_class_table" not in rep  # compared, then left out of the payload
