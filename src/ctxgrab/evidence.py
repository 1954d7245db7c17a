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

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Status", "Evidence"]


class Status(str, Enum):
    """How a collection ended."""

    ok = "ok"
    empty = "empty"  # the source answered but held nothing for this window
    error = "error"  # the source failed; ``reason`` says how
    timeout = "timeout"  # the collector did not finish within its deadline
    skipped = "skipped"  # not run (not configured, not applicable)


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
