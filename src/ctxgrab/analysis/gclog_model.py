"""The data a GC log parser produces: one :class:`GcEvent` per collection or pause.

Kept separate from the parsers so the JDK 9+ (unified) and the JDK 8 (``-XX:+PrintGCDetails``)
parsers produce the same shape and one summary reads both.

Event kinds (``GcEvent.kind``):

``young``         a young (minor) collection: G1 ``Pause Young (Normal)``, ``DefNew``, ``ParNew``, ``PSYoungGen``
``mixed``         a G1 mixed collection (young plus some old regions)
``full``          a full, stop-the-world collection of the whole heap
``remark``        the remark pause that ends concurrent marking (G1, CMS)
``cleanup``       G1's cleanup pause
``initial_mark``  CMS initial mark (G1's initial mark is a young pause)
``degenerated``   a Shenandoah degenerated cycle: the concurrent cycle lost the race against allocation
``phase``         another short pause of a concurrent collector (ZGC ``Pause Mark Start``, Shenandoah ``Pause Init Mark``)
``cycle``         the end of a concurrent cycle (ZGC ``Garbage Collection``, G1 ``Concurrent Mark Cycle``,
                  Shenandoah's last ``Concurrent cleanup``, CMS concurrent phases); not a pause
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GcEvent", "ParsedLog", "UNIT_BYTES", "to_bytes"]

UNIT_BYTES = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}

PAUSE_KINDS = frozenset({"young", "mixed", "full", "remark", "cleanup", "initial_mark", "degenerated", "phase"})


def to_bytes(number: str, unit: str) -> int:
    """``to_bytes("24.0", "M") == 25165824``; a decimal comma is accepted (``"2,5"``)."""
    if number.isdigit():  # the usual "512M": no float parsing
        return int(number) * UNIT_BYTES[unit[0].upper()]
    return int(float(number.replace(",", ".")) * UNIT_BYTES[unit[0].upper()])


@dataclass(slots=True)
class GcEvent:
    """One collection, pause or cycle end, as read from the log.

    ``uptime_s`` is seconds since JVM start and ``wall_s`` the Unix time of the line; either
    may be missing, depending on the log's decorations.
    """

    kind: str
    name: str
    uptime_s: float | None
    wall_s: float | None = None
    gc_id: int | None = None
    duration_ms: float | None = None
    before_bytes: int | None = None
    after_bytes: int | None = None
    capacity_bytes: int | None = None
    cause: str | None = None
    young_before_bytes: int | None = None
    young_after_bytes: int | None = None
    live_bytes: int | None = None  # ZGC: live bytes found by marking (exact, not "heap after")
    source: str = ""  # "file:line" of the line that completed the event

    @property
    def pause(self) -> bool:
        return self.kind in PAUSE_KINDS and self.duration_ms is not None


@dataclass
class ParsedLog:
    """Everything one parse found, before any summarising."""

    format: str  # "unified" or "jdk8"
    collector: str | None = None
    heap_max_bytes: int | None = None
    region_bytes: int | None = None
    events: list[GcEvent] = field(default_factory=list)
    triggers: dict[str, int] = field(default_factory=dict)  # why concurrent cycles started
    allocation_stalls: int = 0
    allocation_stall_ms: float = 0.0
    to_space_exhausted: int = 0
    out_of_memory: int = 0
    concurrent_cancelled: int = 0
    lines_total: int = 0
    lines_used: int = 0  # lines that fed an event or a fact
    lines_unknown: int = 0  # lines that are not GC log lines of this format at all
    truncated_last_line: bool = False
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    restarts: int = 0  # JVM restarts seen (uptime going back); only the last run is kept
    jvm_start_wall_s: float | None = None  # Unix time of JVM start, when time and uptime are both logged
