"""Class histograms: ``jmap -histo`` and ``jcmd <pid> GC.class_histogram`` text.

A histogram is the cheapest heap evidence (no dump, a second to take) but it only
has shallow sizes: it blames ``byte[]``, not the cache that holds them. Two
histograms of the same process taken apart still show which classes grow, so
ctxgrab reads them as well as HPROF dumps and reports them in the same shape as
:func:`ctxgrab.analysis.dominators.heap_report` (``retained_bytes`` is ``None``).

Example::

    >>> text = '''12345:
    ...  num     #instances         #bytes  class name (module)
    ... -------------------------------------------------------
    ...    1:         21991       20656160  [B (java.base@17.0.15)
    ...    2:         16823         403752  java.lang.String (java.base@17.0.15)
    ... Total         38814       21059912
    ... '''
    >>> h = parse_histogram(text)
    >>> h.rows[0].class_name, h.rows[0].instances, h.total_bytes
    ('byte[]', 21991, 21059912)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..units import format_bytes, format_pct
from .hprof import java_class_name

__all__ = ["HistogramRow", "ClassHistogram", "parse_histogram", "histogram_report", "looks_like_histogram"]

_ROW = re.compile(r"^\s*(\d+):\s+(\d+)\s+(\d+)\s+(\S+)(?:\s+\((.*)\))?\s*$")
_TOTAL = re.compile(r"^\s*Total\s+(\d+)\s+(\d+)\s*$")
_HEADER = re.compile(r"^\s*num\s+#instances\s+#bytes\s+class name", re.IGNORECASE)


@dataclass(frozen=True)
class HistogramRow:
    class_name: str  # Java form: byte[], java.lang.Object[], java.util.HashMap$Node
    instances: int
    shallow_bytes: int
    module: str | None = None


@dataclass
class ClassHistogram:
    rows: list[HistogramRow]
    total_instances: int
    total_bytes: int
    partial: bool = False
    warnings: list[str] = field(default_factory=list)


def _java_name(name: str) -> str:
    # Histograms print binary names with dots; only array descriptors need translating.
    return java_class_name(name) if name.startswith("[") else name


def looks_like_histogram(head: str) -> bool:
    """True when the first lines of a text look like a class histogram."""
    return bool(_HEADER.search(head) or any(_ROW.match(line) for line in head.splitlines()[:20]))


def parse_histogram(text: str, *, source: str = "<histogram>") -> ClassHistogram:
    """Parse histogram text; lines that fit no known shape become warnings naming the line.

    Raises :class:`InputError` when no row at all is found.
    """
    rows: list[HistogramRow] = []
    warnings: list[str] = []
    total: tuple[int, int] | None = None
    seen_header = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or set(line.strip()) <= {"-"}:
            continue
        m = _ROW.match(line)
        if m:
            rows.append(HistogramRow(_java_name(m.group(4)), int(m.group(2)), int(m.group(3)), m.group(5)))
            continue
        t = _TOTAL.match(line)
        if t:
            total = (int(t.group(1)), int(t.group(2)))
            continue
        if _HEADER.match(line):
            seen_header = True
            continue
        if not rows and not seen_header and re.match(r"^\s*\d+:\s*$", line):  # jcmd's "<pid>:" line
            continue
        if len(warnings) < 20:
            warnings.append(f"{source}:{lineno}: not a histogram row: {line.strip()[:80]!r}")
    if not rows:
        raise InputError(f"{source}: no class histogram rows found (expected lines like "
                         f"'   1:   21991   20656160  [B (java.base@17)')")
    partial = False
    inst = sum(r.instances for r in rows)
    size = sum(r.shallow_bytes for r in rows)
    if total is None:
        partial = True
        warnings.append(f"{source}: no 'Total' line: the histogram may be cut short")
    elif total != (inst, size):
        warnings.append(f"{source}: rows sum to {inst} instances / {size} bytes but Total says "
                        f"{total[0]} / {total[1]}")
    return ClassHistogram(rows=rows, total_instances=total[0] if total else inst,
                          total_bytes=total[1] if total else size, partial=partial, warnings=warnings)


def _class_table(rows: list[HistogramRow]) -> dict[str, tuple[int, int]]:
    # One class name can appear once per class loader: add them up.
    table: dict[str, tuple[int, int]] = {}
    for r in rows:
        n, b = table.get(r.class_name, (0, 0))
        table[r.class_name] = (n + r.instances, b + r.shallow_bytes)
    return table


def histogram_report(h: ClassHistogram, *, source: str = "<histogram>", top: int = 20) -> dict[str, Any]:
    """A report in the shape of ``heap_report`` (no retained sizes, no suspects)."""
    ranked = sorted(h.rows, key=lambda r: -r.shallow_bytes)
    rows = [{"class": r.class_name, "instances": r.instances, "shallow_bytes": r.shallow_bytes} for r in ranked]
    total = h.total_bytes
    top_rows = [dict(r, retained_bytes=None, retained_pct=None) for r in rows[:top]]
    first = ranked[0]
    verdict = (f"{first.class_name} takes {format_bytes(first.shallow_bytes)} "
               f"({format_pct(first.shallow_bytes / total if total else 0)} of the histogram). A class histogram "
               "has shallow sizes only: it shows what the memory is made of, not who holds it; a heap dump "
               "(retained sizes) or a second histogram later (growth) is needed for that.")
    return {
        "file": source,
        "format": "class histogram",
        "objects": h.total_instances,
        "total_live_bytes": total,
        "classes": len(h.rows),
        "histogram": rows[:top],
        # Every class: a class that grew twentyfold from outside the top rows must still be compared.
        "_class_table": _class_table(h.rows),
        "top_retainers": top_rows,
        "top_objects": [],
        "suspects": [],
        "verdict": verdict,
        "partial": h.partial,
        "warnings": list(h.warnings),
    }
