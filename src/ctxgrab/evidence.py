"""Evidence: what one collector found, or why it found nothing.

Every collector returns exactly one :class:`Evidence`. Nothing else crosses the
collector boundary: a failure is Evidence with status ``error`` or ``timeout``
and a one-line ``reason`` a person can act on, so the rest of the prompt still
renders.

``data`` is the typed payload of the collector's ``kind``, kept JSON-friendly
(str, int, float, bool, None, lists and dicts of those) so that redaction can walk
it, ``--format json`` can print it and ``--save`` can store it. The payload of each
kind is documented in ``docs/templates.md``.

Example::

    >>> ev = Evidence.failed("metrics", "heap_used", "JVM heap used",
    ...                      "Prometheus unreachable: connection refused")
    >>> ev.status.value, ev.reason
    ('error', 'Prometheus unreachable: connection refused')
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Status", "Evidence", "Coverage", "coverage_of"]


class Status(str, Enum):
    """How a collection ended."""

    ok = "ok"
    empty = "empty"  # the source answered but held nothing for this window
    error = "error"  # the source failed; ``reason`` says how
    timeout = "timeout"  # the collector did not finish within its deadline
    skipped = "skipped"  # not run (not configured, not applicable)


def _as_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    try:
        return _as_time(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


class Coverage(BaseModel):
    """The span of time the evidence saw: the first and last timestamp of what it read.

    A heap dump is a point (``first == last``: the time in its header). The renderer
    compares it with the window and says when it misses the window or the onset.
    A collector fills it with :meth:`of`::

        Evidence(kind="traces", ..., coverage=Coverage.of(span_start_times, what="spans"))
    """

    model_config = ConfigDict(extra="forbid")

    first: datetime | None = None
    last: datetime | None = None
    what: str = Field("data", description="what was seen: log records, GC events, samples, the dump")

    @classmethod
    def of(cls, times: Iterable[Any], what: str = "data") -> "Coverage | None":
        """Coverage of timestamps (datetimes, unix seconds or ISO strings); None when there are none."""
        seen = [t for t in (_as_time(x) for x in times) if t is not None]
        return cls(first=min(seen), last=max(seen), what=what) if seen else None


class Evidence(BaseModel):
    """The result of one collector instance in one run."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="collector kind: logs, metrics, gc, heap, deploys, settings, ...")
    name: str = Field(description="instance name, unique within a run")
    title: str = Field(description="human label shown in the prompt")
    status: Status = Status.ok
    reason: str | None = Field(default=None, description="one line, set when status is not ok")
    source: str | None = Field(default=None, description="where the data came from (path, URL)")
    data: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    duration_ms: float = 0.0
    coverage: Coverage | None = Field(default=None, description="the span of time this evidence saw")

    @property
    def ok(self) -> bool:
        return self.status is Status.ok

    @property
    def is_gap(self) -> bool:
        """Something the prompt should say is missing: an error, a timeout or nothing found.

        Skipped collectors (an optional metric a backend does not expose) are not gaps.
        """
        return self.status in (Status.error, Status.timeout, Status.empty)

    @classmethod
    def failed(
        cls,
        kind: str,
        name: str,
        title: str,
        reason: str,
        *,
        status: Status = Status.error,
        source: str | None = None,
    ) -> "Evidence":
        """Evidence for a collection that produced nothing usable."""
        return cls(kind=kind, name=name, title=title, status=status, reason=_one_line(reason), source=source)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def coverage_of(ev: Evidence) -> Coverage | None:
    """The evidence's coverage: the one its collector set, else read from its payload.

    Payloads saved before ``coverage`` existed (schema 1) still say what they saw:
    metric series their first and last point, GC logs their span, log patterns their
    first and last record, heap dumps the time in their header.
    """
    if ev.coverage is not None or not ev.ok:
        return ev.coverage
    d = ev.data
    if ev.kind == "metrics":
        series = d.get("series") or []
        return Coverage.of([t for s in series for t in (s["summary"].get("start_ts"), s["summary"].get("end_ts"))],
                           "samples")
    if ev.kind == "gc":
        span = d.get("span") or {}
        return Coverage.of([span.get("start"), span.get("end")], "GC events")
    if ev.kind in ("logs", "loki"):
        pats = d.get("patterns") or []
        return Coverage.of([t for p in pats for t in (p.get("first_seen"), p.get("last_seen"))], "log records")
    if ev.kind == "heap" and d.get("timestamp_ms"):
        return Coverage.of([d["timestamp_ms"] / 1000.0], "the dump")
    return None
