"""Numbers as a person quotes them: ``7.8 GiB``, ``850 ms``, ``15.2%``, ``1,532``.

The one place that decides how the prompt writes bytes, durations, ratios and counts.
Memory is written in IEC units (``GiB``, ``MiB``: divided by 1024ⁿ), the way the JVM
(``-Xmx8g`` is 8 GiB) and Kubernetes (``8Gi``) count it, so a setting and the metric it
bounds read the same. These are also the Jinja filters every template can use
(``{{ x | bytes }}``); :func:`parse_size` reads the sizes settings are written in.

>>> format_bytes(2 * 1024**3), format_ms(0.85 * 1000), format_pct(0.152), format_num(1532)
('2.0 GiB', '850 ms', '15.2%', '1,532')
>>> format_bytes(6_000_000_000), format_bytes(parse_size("-Xmx8g".removeprefix("-Xmx")))
('5.6 GiB', '8.0 GiB')
"""

from __future__ import annotations

import math
import re

__all__ = ["format_bytes", "format_ms", "format_seconds", "format_pct", "format_num", "format_value",
           "format_rate", "parse_size", "BYTE_UNITS"]

#: IEC multiples, largest first: what :func:`format_bytes` writes.
BYTE_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def _bad(x: object) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def format_bytes(n: float | int | None) -> str:
    """IEC binary multiples: ``format_bytes(8 * 1024**3) == '8.0 GiB'``, ``6e9`` bytes is ``5.6 GiB``."""
    if _bad(n):
        return "n/a"
    n = float(n)  # type: ignore[arg-type]
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, scale in BYTE_UNITS:
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


def format_rate(x: float | None, unit: str = "/s") -> str:
    """A rate per second: ``format_rate(1234.5) == '1,234/s'``; ``n/a`` when unknown (never a made-up 0)."""
    return "n/a" if _bad(x) else format_num(x) + unit


# Sizes as settings write them: the JVM (-Xmx8g, 512m, 64k) and Spring's DataSize (10MB) are
# binary; Kubernetes writes IEC with an "i" (8Gi) and SI without (8G). Without "i" the JVM's binary
# reading wins unless the caller knows the value is a Kubernetes quantity (si=True).
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)([bB]?)\s*$")


def parse_size(text: str | int | float | None, *, si: bool = False) -> int | None:
    """Bytes in a size as settings write it; ``None`` when it is not a size.

    >>> parse_size("8g"), parse_size("512m"), parse_size("10MB"), parse_size("8Gi"), parse_size("1024")
    (8589934592, 536870912, 10485760, 8589934592, 1024)
    >>> parse_size("500M", si=True), parse_size("none")
    (500000000, None)
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return int(text)
    m = _SIZE.match(str(text))
    if not m:
        return None
    num, prefix, iec, _b = m.groups()
    power = " kmgt".index(prefix.lower()) if prefix else 0
    base = 1000 if (si and not iec and prefix) else 1024
    return int(float(num) * base**power)
