"""Numbers as a person quotes them: ``7.8 GB``, ``850 ms``, ``15.2%``, ``1,532``.

These are also the Jinja filters every template can use (``{{ x | bytes }}``).

>>> format_bytes(2 * 1024**3), format_ms(0.85 * 1000), format_pct(0.152), format_num(1532)
('2.0 GB', '850 ms', '15.2%', '1,532')
"""

from __future__ import annotations

import math

__all__ = ["format_bytes", "format_ms", "format_seconds", "format_pct", "format_num", "format_value"]


def _bad(x: object) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def format_bytes(n: float | int | None) -> str:
    """Binary multiples, labelled the way dashboards label them (GB = GiB)."""
    if _bad(n):
        return "n/a"
    n = float(n)  # type: ignore[arg-type]
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, scale in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            v = n / scale
            return f"{sign}{v:.1f} {unit}" if v < 100 else f"{sign}{v:.0f} {unit}"
    return f"{sign}{n:.0f} B"


def format_ms(ms: float | None) -> str:
    """Milliseconds: ``0.4 ms``, ``12 ms``, ``850 ms``, ``1.9 s``, ``2.5 min``."""
    if _bad(ms):
        return "n/a"
    ms = float(ms)  # type: ignore[arg-type]
    if abs(ms) < 10:
        return f"{ms:.1f} ms"
    if abs(ms) < 1000:
        return f"{ms:.0f} ms"
    if abs(ms) < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60000:.1f} min"


def format_seconds(s: float | None) -> str:
    """Seconds as a latency: ``format_seconds(0.85) == '850 ms'``."""
    return "n/a" if _bad(s) else format_ms(float(s) * 1000)  # type: ignore[arg-type]


def format_pct(ratio: float | None, digits: int = 1) -> str:
    """A ratio (0.152) as a percentage (``15.2%``)."""
    if _bad(ratio):
        return "n/a"
    v = float(ratio) * 100  # type: ignore[arg-type]
    if v != 0 and abs(v) < 0.1:
        return f"{v:.2f}%"
    return f"{v:.{digits}f}%"


def format_num(x: float | int | None, digits: int = 1) -> str:
    """Thousands separators; at most ``digits`` decimals, none for whole numbers."""
    if _bad(x):
        return "n/a"
    x = float(x)  # type: ignore[arg-type]
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.{digits}f}"
    return f"{x:.{max(digits, 2)}g}" if x else "0"


def format_value(x: float | None, unit: str | None) -> str:
    """Format a value by its unit name: bytes, seconds, ms, ratio, percent, or a plain number."""
    if _bad(x):
        return "n/a"
    unit = (unit or "").lower()
    if unit in ("bytes", "byte", "b"):
        return format_bytes(x)
    if unit in ("seconds", "second", "s"):
        return format_seconds(x)
    if unit in ("ms", "milliseconds"):
        return format_ms(x)
    if unit in ("ratio",):
        return format_pct(x)
    if unit in ("percent", "%"):
        return f"{float(x):.1f}%"  # type: ignore[arg-type]
    suffix = {"rps": " req/s", "per_second": "/s", "ops": " ops/s"}.get(unit, f" {unit}" if unit else "")
    return format_num(x) + suffix
