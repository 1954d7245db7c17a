"""Time windows, durations and timestamps, all timezone-aware UTC.

>>> parse_duration("1h30m")
datetime.timedelta(seconds=5400)
>>> w = Window.ending(parse_time("2026-03-02T12:00:00Z"), parse_duration("2h"))
>>> w.start.isoformat(), w.hours
('2026-03-02T10:00:00+00:00', 2.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = ["Window", "parse_duration", "parse_time", "format_duration", "format_time"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``90s``, ``15m``, ``2h``, ``1h30m``, ``7d`` or a number of seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)):
        return _seconds(float(text), text)
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return _seconds(float(s), text)
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 2h, 1h30m, 7d)")
    return _seconds(total, text)


# Longer than any window a source keeps data for, and far from datetime's limits (years 1..9999),
# so window arithmetic never overflows.
MAX_DURATION = timedelta(days=3660)


def _seconds(seconds: float, text: object) -> timedelta:
    if not (0 <= seconds <= MAX_DURATION.total_seconds()):  # also NaN and inf
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:37] + "…"
        raise ValueError(f"duration out of range: {shown} (at most {MAX_DURATION.days} days)")
    return timedelta(seconds=seconds)


def parse_time(text: str | int | float | datetime) -> datetime:
    """Parse an ISO 8601 time (``Z`` or offset; naive means UTC) or a Unix timestamp."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=timezone.utc)
    if isinstance(text, (int, float)):
        return _from_timestamp(float(text), text)
    s = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return _from_timestamp(float(s), text)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 such as 2026-03-02T12:00:00Z)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _from_timestamp(seconds: float, text: object) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"not a time: {text!r} (Unix timestamp out of range)") from None


def format_duration(td: timedelta | float) -> str:
    """``2 h``, ``45 min``, ``1 h 30 min``, ``3 d 4 h``, ``12 s``."""
    seconds = td.total_seconds() if isinstance(td, timedelta) else float(td)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d" + (f" {hours} h" if hours else "")


def format_time(dt: datetime) -> str:
    """``2026-03-02 12:00 UTC`` (seconds shown only when not zero)."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC" if dt.second else "%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> "Window":
        try:
            return cls(end - length, end)
        except OverflowError:
            raise ValueError(f"a window of {format_duration(length)} ending {end.isoformat()} starts before "
                             "year 1") from None

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def hours(self) -> float:
        return self.length.total_seconds() / 3600

    def before(self) -> "Window":
        """The window of the same length just before this one (the default baseline)."""
        return self.shifted(self.length)

    def shifted(self, delta: timedelta) -> "Window":
        try:
            return Window(self.start - delta, self.end - delta)
        except OverflowError:
            raise ValueError(f"the window {self.start.isoformat()} shifted back {format_duration(delta)} starts "
                             "before year 1") from None

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "length": format_duration(self.length)}
