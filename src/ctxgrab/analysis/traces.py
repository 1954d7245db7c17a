"""Traces: where the time and the errors went, as a few hundred tokens of facts.

Pure functions over spans, no I/O. Three decoders turn the payloads people have
into :class:`Span` objects that keep only what the summary needs:

- :func:`spans_from_otlp`: an OTLP/JSON ``ExportTraceServiceRequest``
  (``{"resourceSpans": [...]}``, Tempo's ``{"batches": [...]}`` too). Ids in hex
  as the OTLP/JSON spec writes them, or base64 as protobuf's own JSON mapping and
  Tempo's ``/api/traces`` write them; enums as integers or names; 64-bit numbers
  as strings or numbers.
- :func:`spans_from_jaeger`: one trace of the Jaeger query API (``startTime`` and
  ``duration`` in µs, services in ``processes``, ``error=true`` tags, ``exception``
  logs).

:func:`summarize` then reports, for the focus service:

- entry operations (its server spans): count, error ratio, p50/p99, window against baseline;
- downstream dependencies (its client/producer spans, named by ``peer.service``,
  ``server.address``, ``db.system`` or ``messaging.system``): calls, error ratio,
  p99, and their share of the slow traces' **critical path** (self time along the
  longest path of each slow trace, summed);
- error spans grouped by service, operation, status message and exception type, one
  example each (exception message and stack);
- call paths new in the window or vanished since the baseline; retries (the same
  child repeated under one parent after a failed attempt) and fan-out outliers;
- the onset of the change (the call after which slow or failed calls are
  over-represented), and a one-line ``verdict``.

Every list is capped and the payload says how many items it left out.

>>> s = Span.make("a" * 32, "b" * 16, "", "payments", "POST /charge", KIND_SERVER, 0, 5_000_000)
>>> s.duration_ms
5.0
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

__all__ = [
    "Span",
    "ReadStats",
    "spans_from_otlp",
    "spans_from_jaeger",
    "summarize",
    "normalize_id",
    "quantile",
    "KIND_SERVER",
    "KIND_CLIENT",
    "MAX_ITEMS",
]

KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
               "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5, "unspecified": 0, "internal": 1, "server": 2,
               "client": 3, "producer": 4, "consumer": 5}
_STATUS_ERROR = 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}

#: Items kept per list of the summary (the prompt shows a few hundred tokens).
MAX_ITEMS = {"operations": 5, "dependencies": 5, "errors": 3, "critical_path": 5, "paths": 4, "retries": 3,
             "fanout": 3}
SLOW_SHARE = 0.1  # the slowest 10% of the window's traces are the "slow traces"
MAX_SLOW_TRACES = 2000
HEADLINE_SHARE = 0.3  # a dependency with this share of the slow traces' critical path leads the headline
MIN_CALLS = 5  # a dependency or operation needs this many calls for a ratio or p99 to be quoted
ONSET_MIN_BAD = 5  # bad calls after the onset needed to name one
ONSET_RATIO = 3.0  # bad share after the onset at least this many times the share before
FANOUT_RATIO = 3.0  # children at least this many times the typical count of the parent operation ...
FANOUT_MIN_EXTRA = 10  # ... and at least this many more
MAX_EXAMPLE_CHARS = 2000
MAX_DEPTH = 500  # deeper span trees are cut (and counted) in the critical-path walk

_HEX = re.compile(r"[0-9a-fA-F]+")
_intern: dict[str, str] = {}


def _s(text: Any) -> str:
    """Interned string: a million spans share a few hundred service and operation names."""
    t = text if isinstance(text, str) else ("" if text is None else str(text))
    return _intern.setdefault(t, t) if len(_intern) < 200_000 else t


def normalize_id(raw: Any, size: int) -> str:
    """Lowercase hex of ``size`` bytes, from hex or base64; zero-padded (64-bit Jaeger trace ids).

    >>> normalize_id("AAAAAAAAAAAAAAAAAAAAAQ==", 16)
    '00000000000000000000000000000001'
    >>> normalize_id("ABC", 8)
    '0000000000000abc'
    """
    if not raw or not isinstance(raw, str):
        return ""
    if _HEX.fullmatch(raw) and len(raw) <= size * 2 and not (len(raw) % 4 == 0 and raw.endswith("=")):
        return raw.lower().rjust(size * 2, "0")
    try:
        b = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.lower()[: size * 2]
    return b.hex().rjust(size * 2, "0")


@dataclass(slots=True)
class Span:
    """One span, reduced to what the summary reads (times in Unix nanoseconds)."""

    trace: str
    sid: str
    parent: str
    service: str
    name: str
    kind: int
    start: int
    end: int
    error: bool = False
    message: str = ""
    dep: str = ""  # downstream name for client/producer spans
    exc_type: str = ""
    exc_text: str = ""  # exception message and stack, error spans only
    status_code: str = ""

    @classmethod
    def make(cls, trace: str, sid: str, parent: str, service: str, name: str, kind: int, start: int, end: int,
             **kw: Any) -> "Span":
        return cls(trace, sid, parent, _s(service), _s(name), kind, start, max(end, start), **kw)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) / 1e6


@dataclass
class ReadStats:
    """What decoding saw: counts, and the first few problems with where they were."""

    lines: int = 0
    bad_lines: int = 0
    spans: int = 0
    bad_spans: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 5:
            self.problems.append(text[:300])


def _int(v: Any) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, float) and math.isfinite(v):
        return int(v)
    raise ValueError(f"not an integer: {str(v)[:40]!r}")


def _any_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return _int(v["intValue"])
        except ValueError:
            return v["intValue"]
    if "arrayValue" in v:
        return [_any_value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    return None


def _attrs(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and "key" in kv:
                out[kv["key"]] = _any_value(kv.get("value"))
    return out


_DEP_KEYS = ("peer.service", "server.address", "net.peer.name", "db.system", "messaging.system", "rpc.service",
             "http.host")


def _dependency(attrs: dict[str, Any]) -> str:
    for key in _DEP_KEYS:
        v = attrs.get(key)
        if v:
            if key == "db.system" and attrs.get("db.name"):
                return f"{v} {attrs['db.name']}"
            if key == "messaging.system" and attrs.get("messaging.destination.name"):
                return f"{v} {attrs['messaging.destination.name']}"
            return str(v)
    return ""


def _exception(events: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """(type, "message\\nstack") of the first exception event."""
    for ev in events:
        if ev.get("name") == "exception" or "exception.type" in ev.get("attrs", {}):
            a = ev.get("attrs", {})
            etype = str(a.get("exception.type") or "")
            msg = str(a.get("exception.message") or "")
            stack = str(a.get("exception.stacktrace") or "")
            text = stack if stack and msg and msg in stack else "\n".join(x for x in (
                f"{etype}: {msg}" if etype else msg, stack) if x)
            return etype, text[:MAX_EXAMPLE_CHARS]
    return "", ""


def _kind(v: Any) -> int:
    if isinstance(v, int):
        return v if 0 <= v <= 5 else 0
    return _KIND_NAMES.get(str(v), 0)


def spans_from_otlp(payload: Any, stats: ReadStats | None = None) -> Iterator[Span]:
    """Spans of one OTLP/JSON ``ExportTraceServiceRequest`` (or Tempo ``batches``, or Jaeger v3 ``result``)."""
    stats = stats if stats is not None else ReadStats()
    if not isinstance(payload, dict):
        stats.problem(f"not an OTLP object: {type(payload).__name__}")
        return
    if "result" in payload and isinstance(payload["result"], dict):
        payload = payload["result"]
    if "trace" in payload and isinstance(payload["trace"], dict):
        payload = payload["trace"]
    batches = payload.get("resourceSpans")
    if batches is None:
        batches = payload.get("batches")
    if not isinstance(batches, list):
        return
    for rs in batches:
        if not isinstance(rs, dict):
            continue
        res = _attrs((rs.get("resource") or {}).get("attributes"))
        service = _s(res.get("service.name") or "unknown_service")
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for ss in scopes if isinstance(scopes, list) else []:
            for sp in (ss or {}).get("spans") or []:
                try:
                    yield _otlp_span(sp, service)
                    stats.spans += 1
                except (ValueError, TypeError, AttributeError, KeyError) as e:
                    stats.bad_spans += 1
                    stats.problem(f"span skipped: {e}")


_HEX_CHARS = "0123456789abcdef"
_WANTED = frozenset(_DEP_KEYS) | {"db.name", "messaging.destination.name", "http.response.status_code",
                                  "http.status_code"}


def _id(raw: Any, size: int) -> str:
    """:func:`normalize_id` with a fast path for the common case: lowercase hex of the right length."""
    if raw.__class__ is str and len(raw) == 2 * size and not raw.strip(_HEX_CHARS):
        return raw
    return normalize_id(raw, size)


def _pick(items: Any) -> dict[str, Any]:
    """Only the attributes the summary reads (spans carry dozens it does not)."""
    out: dict[str, Any] = {}
    if items.__class__ is list:
        for kv in items:
            if kv.__class__ is dict:
                k = kv.get("key")
                if k in _WANTED:
                    out[k] = _any_value(kv.get("value"))
    return out


def _otlp_span(sp: dict[str, Any], service: str) -> Span:
    g = sp.get
    trace = _id(g("traceId"), 16)
    sid = _id(g("spanId"), 8)
    if not trace or not sid:
        raise ValueError("span without traceId or spanId")
    kind = g("kind", 0)
    if kind.__class__ is not int or not 0 <= kind <= 5:
        kind = _kind(kind)
    st = sp["startTimeUnixNano"]
    start = int(st) if st.__class__ is str and st.isdigit() else _int(st)
    et = g("endTimeUnixNano") or st
    end = int(et) if et.__class__ is str and et.isdigit() else _int(et)
    status = g("status")
    code = status.get("code", 0) if status else 0
    if code.__class__ is str:
        code = _STATUS_NAMES.get(code, 0)
    error = code == _STATUS_ERROR
    parent = g("parentSpanId")
    s = Span(trace, sid, _id(parent, 8) if parent else "", service, _s(g("name") or ""), kind, start,
             end if end > start else start, error)
    if kind == KIND_CLIENT or kind == KIND_PRODUCER or error:
        attrs = _pick(g("attributes"))
        if kind == KIND_CLIENT or kind == KIND_PRODUCER:
            s.dep = _s(_dependency(attrs))
        http = attrs.get("http.response.status_code") or attrs.get("http.status_code")
        if http:
            s.status_code = _s(str(http))
    if error:
        s.message = str(status.get("message") or "")[:500]  # type: ignore[union-attr]
        events = [{"name": e.get("name"), "attrs": _attrs(e.get("attributes"))}
                  for e in g("events") or [] if isinstance(e, dict)]
        s.exc_type, s.exc_text = _exception(events)
        s.exc_type = _s(s.exc_type)
    return s


def spans_from_jaeger(trace: Any, stats: ReadStats | None = None) -> Iterator[Span]:
    """Spans of one trace object of the Jaeger query API (``/api/traces`` ``data[]`` item)."""
    stats = stats if stats is not None else ReadStats()
    if not isinstance(trace, dict):
        return
    processes = trace.get("processes") or {}
    for sp in trace.get("spans") or []:
        try:
            tags = {t.get("key"): t.get("value") for t in sp.get("tags") or [] if isinstance(t, dict)}
            proc = processes.get(sp.get("processID")) or sp.get("process") or {}
            parent = ""
            for ref in sp.get("references") or []:
                if ref.get("refType", "CHILD_OF") == "CHILD_OF" and ref.get("traceID") in (None, sp.get("traceID")):
                    parent = ref.get("spanID") or ""
                    break
            start_us, dur_us = _int(sp["startTime"]), _int(sp.get("duration") or 0)
            kind = _kind(str(tags.get("span.kind") or "internal").lower())
            error = str(tags.get("error")).lower() == "true" or tags.get("otel.status_code") == "ERROR"
            s = Span.make(normalize_id(sp.get("traceID"), 16), normalize_id(sp.get("spanID"), 8),
                          normalize_id(parent, 8), proc.get("serviceName") or "unknown_service",
                          sp.get("operationName") or "", kind, start_us * 1000, (start_us + dur_us) * 1000,
                          error=error)
            if not s.trace or not s.sid:
                raise ValueError("span without traceID or spanID")
            if kind in (KIND_CLIENT, KIND_PRODUCER):
                s.dep = _s(_dependency(tags))
            http = tags.get("http.response.status_code") or tags.get("http.status_code")
            if http:
                s.status_code = _s(str(http))
            if error:
                s.message = str(tags.get("otel.status_description") or "")[:500]
                events = []
                for log in sp.get("logs") or []:
                    fields = {f.get("key"): f.get("value") for f in log.get("fields") or [] if isinstance(f, dict)}
                    events.append({"name": fields.get("event"), "attrs": fields})
                s.exc_type, s.exc_text = _exception(events)
                s.exc_type = _s(s.exc_type)
            stats.spans += 1
            yield s
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            stats.bad_spans += 1
            stats.problem(f"Jaeger span skipped: {e}")


# --- summary -----------------------------------------------------------------------------------------------


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values (None when empty)."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


class _Stat:
    __slots__ = ("durs", "errors", "times")

    def __init__(self) -> None:
        self.durs: list[float] = []
        self.errors = 0
        self.times: list[tuple[int, float, bool]] = []  # (start, ms, error) for onset search

    def add(self, s: Span, keep_times: bool = False) -> None:
        ms = (s.end - s.start) / 1e6
        self.durs.append(ms)
        self.errors += s.error
        if keep_times:
            self.times.append((s.start, ms, s.error))

    def facts(self) -> dict[str, Any]:
        d = sorted(self.durs)
        n = len(d)
        return {"count": n, "errors": self.errors, "error_ratio": _r(self.errors / n, 4) if n else None,
                "p50_ms": _r(quantile(d, 0.5)), "p99_ms": _r(quantile(d, 0.99))}


def _onset(times: list[tuple[int, float, bool]], slow_ms: float | None) -> tuple[int, str] | None:
    """Start time of the call after which bad calls (errors, or slower than ``slow_ms``) are over-represented.

    The split maximises the excess of bad calls after it over the overall share
    (a one-sided CUSUM); it is named only when the share after is at least
    ONSET_RATIO times the share before and ONSET_MIN_BAD bad calls follow it.
    """
    if len(times) < 2 * MIN_CALLS:
        return None
    times = sorted(times)
    for what in ("errors", "latency"):
        if what == "latency" and slow_ms is None:
            continue
        bad = [(e if what == "errors" else ms > slow_ms) for _, ms, e in times]  # type: ignore[operator]
        total = sum(bad)
        if total < ONSET_MIN_BAD:
            continue
        p = total / len(bad)
        best, best_k, acc = 0.0, None, 0.0
        for k in range(len(bad) - 1, -1, -1):
            acc += bad[k] - p
            if acc > best:
                best, best_k = acc, k
        if best_k is None or best_k == 0:
            continue
        after = sum(bad[best_k:])
        share_after = after / (len(bad) - best_k)
        share_before = sum(bad[:best_k]) / best_k
        if after >= ONSET_MIN_BAD and share_after >= ONSET_RATIO * max(share_before, 1e-9) and share_after > 0.05:
            return times[best_k][0], what
    return None


def _critical_path(root: Span, children: dict[str, list[Span]], by_op: Counter, by_dep: Counter,
                   stats: dict[str, int], by_dep_op: Counter | None = None, remote: Counter | None = None,
                   service: str = "") -> None:
    """Add the self time of every span on ``root``'s critical path to ``by_op`` (and ``by_dep``).

    Walk from the end of a span backwards: the child that finishes last is on the
    path, then the child finishing last before that one started, and so on; the
    gaps between them are the span's own (self) time. Time under a client span is
    also counted for its dependency, however deep the downstream spans go.
    """
    def credit(span: Span, dep: str, gap: int) -> None:
        """``gap`` of ``span``'s own time: to its operation, and to the dependency it is under."""
        by_op[(span.service, span.name)] += gap
        if dep:
            by_dep[dep] += gap
            if by_dep_op is not None:
                by_dep_op[(dep, span.service, span.name)] += gap
            if remote is not None and span.service != service:
                remote[dep] += gap

    stack: list[tuple[Span, int, str, int]] = [(root, root.end, "", 0)]
    visited: set[str] = set()  # parent links can form cycles in hostile or broken data
    while stack:
        span, until, dep, depth = stack.pop()
        if span.sid in visited:
            continue
        visited.add(span.sid)
        if not dep and span.kind in (KIND_CLIENT, KIND_PRODUCER) and span.service == service:
            dep = f"{span.dep or span.name}\x00{span.name}"  # the focus service's call: its dependency key
        cursor = min(span.end, until)
        kids = children.get(span.sid) or ()
        if depth >= MAX_DEPTH:
            stats["cut"] += 1
            kids = ()
        for child in sorted(kids, key=lambda c: -c.end):
            if child.start >= cursor or child.end <= span.start:
                continue
            c_end = min(child.end, cursor)
            if cursor > c_end:
                credit(span, dep, cursor - c_end)
            stack.append((child, c_end, dep, depth + 1))
            cursor = max(child.start, span.start)
        if cursor > span.start:
            credit(span, dep, cursor - span.start)


_MASKS = (
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<num>"),
)


def _mask(message: str) -> str:
    """A status message with its variable parts (numbers, hex ids, UUIDs) masked, for grouping."""
    text = message[:200]
    for rx, repl in _MASKS:
        text = rx.sub(repl, text)
    return text


def _path_of(span: Span, index: dict[str, Span]) -> str:
    services = [span.service]
    p = index.get(span.parent)
    hops = 0
    while p is not None and hops < 50:
        if p.service != services[-1]:
            services.append(p.service)
        p = index.get(p.parent)
        hops += 1
    return " → ".join(reversed(services)) + ": " + span.name


@dataclass
class _Side:
    """Aggregates of one window (the incident window or the baseline)."""

    ops: dict[tuple[str, str], _Stat] = field(default_factory=lambda: defaultdict(_Stat))
    deps: dict[tuple[str, str], _Stat] = field(default_factory=lambda: defaultdict(_Stat))
    paths: Counter = field(default_factory=Counter)
    traces: int = 0
    spans: int = 0


def summarize(
    spans: Iterable[Span],
    *,
    service: str | None = None,
    window: tuple[int, int] | None = None,
    baseline: tuple[int, int] | None = None,
    sampling: dict[str, Any] | None = None,
    max_items: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The ``traces`` evidence payload (see ``docs/templates.md``).

    ``window`` and ``baseline`` are ``(start_ns, end_ns)``; a trace belongs to the
    one its root (earliest) span starts in. Without a window every trace is in the
    window and there is no baseline. ``service`` is the focus service (default: the
    most common service of the root spans).
    """
    caps = dict(MAX_ITEMS, **(max_items or {}))
    by_trace: dict[str, list[Span]] = defaultdict(list)
    n_spans = 0
    for s in spans:
        by_trace[s.trace].append(s)
        n_spans += 1
    roots_of: dict[str, Span] = {}
    duplicates = 0
    for tid, group in by_trace.items():
        ids = {s.sid for s in group}
        if len(ids) < len(group):  # the same span exported twice (a retried export): count it once
            unique = list({s.sid: s for s in group}.values())
            duplicates += len(group) - len(unique)
            group[:] = unique
        roots = [s for s in group if not s.parent or s.parent not in ids]
        roots_of[tid] = min(roots or group, key=lambda s: (s.start, -s.end))
    requested = service
    if service is not None and roots_of and not any(s.service == service for g in by_trace.values() for s in g):
        service = None  # no span of that service: summarise the most common root service instead, and say so
    if service is None:
        counts = Counter(r.service for r in roots_of.values())
        service = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if counts else (requested or "")

    win, base = _Side(), _Side()
    outside = 0
    window_traces: list[str] = []
    first_ns = last_ns = None
    err_groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    retry_groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    fanout: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    incomplete = 0
    for tid, group in by_trace.items():
        root = roots_of[tid]
        t0 = root.start
        if window is None or window[0] <= t0 < window[1]:
            side = win
            window_traces.append(tid)
        elif baseline is not None and baseline[0] <= t0 < baseline[1]:
            side = base
        else:
            outside += 1
            continue
        first_ns = t0 if first_ns is None else min(first_ns, t0)
        last_ns = t0 if last_ns is None else max(last_ns, t0)
        side.traces += 1
        side.spans += len(group)
        index = {s.sid: s for s in group}
        if sum(1 for s in group if not s.parent or s.parent not in index) > 1:
            incomplete += 1
        is_win = side is win
        kids: dict[str, list[Span]] = defaultdict(list)
        for s in group:
            if s.parent:
                kids[s.parent].append(s)
            if s.service == service:
                if s.kind == KIND_SERVER or (s is root and s.kind in (KIND_UNSPECIFIED, KIND_INTERNAL, KIND_CONSUMER)):
                    side.ops[(s.service, s.name)].add(s, True)
                elif s.kind in (KIND_CLIENT, KIND_PRODUCER):
                    side.deps[(s.dep or s.name, s.name)].add(s, True)
            if s.kind in (KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER):
                side.paths[_path_of(s, index)] += 1
            if is_win and s.error:
                key = (s.service, s.name, _mask(s.message), s.exc_type)
                g = err_groups.get(key)
                if g is None:
                    g = err_groups[key] = {"service": s.service, "operation": s.name, "status_message": key[2],
                                           "exception_type": s.exc_type, "count": 0, "first_ns": s.start,
                                           "last_ns": s.start, "example": s.exc_text or s.message,
                                           "http_status": s.status_code or None, "dependency": s.dep or None}
                g["count"] += 1
                g["first_ns"] = min(g["first_ns"], s.start)
                g["last_ns"] = max(g["last_ns"], s.start)
                if not g["example"] and (s.exc_text or s.message):
                    g["example"] = s.exc_text or s.message
        if is_win:
            for parent_id, cs in kids.items():
                parent = index.get(parent_id)
                if parent is None:
                    continue
                if len(cs) > 1:
                    fanout[(parent.service, parent.name)].append((len(cs), tid))
                    seen: dict[tuple[str, str, str], list[Span]] = defaultdict(list)
                    for c in cs:
                        if c.kind in (KIND_CLIENT, KIND_PRODUCER):
                            seen[(c.service, c.dep or c.name, c.name)].append(c)
                    for key, calls in seen.items():
                        if len(calls) < 2:
                            continue
                        calls.sort(key=lambda c: c.start)
                        after_error = sum(1 for a, b in zip(calls, calls[1:]) if a.error and b.start >= a.end - 1)
                        g = retry_groups.setdefault(key, {"service": key[0], "dependency": key[1],
                                                          "operation": key[2], "parent": parent.name,
                                                          "parents": 0, "extra_calls": 0, "after_error": 0,
                                                          "max_attempts": 0, "parents_after_error": 0})
                        g["parents"] += 1
                        g["extra_calls"] += len(calls) - 1
                        g["after_error"] += after_error
                        g["parents_after_error"] += after_error > 0
                        g["max_attempts"] = max(g["max_attempts"], len(calls))
                else:
                    fanout[(parent.service, parent.name)].append((1, tid))

    # --- slow traces and their critical path ---
    durations = sorted(((roots_of[t].end - roots_of[t].start), t) for t in window_traces)
    n_slow = min(MAX_SLOW_TRACES, max(1, math.ceil(len(durations) * SLOW_SHARE))) if durations else 0
    slow = durations[-n_slow:] if n_slow else []
    by_op: Counter = Counter()
    by_dep: Counter = Counter()
    by_dep_op: Counter = Counter()
    remote: Counter = Counter()  # dependency -> critical-path time inside the downstream's own spans
    instrumented: set[str] = set()  # dependencies whose calls have spans of another service below them
    cp_stats = {"cut": 0}
    for _, tid in slow:
        group = by_trace[tid]
        children: dict[str, list[Span]] = defaultdict(list)
        for s in group:
            if s.parent:
                children[s.parent].append(s)
        _critical_path(roots_of[tid], children, by_op, by_dep, cp_stats, by_dep_op, remote, service)
        for s in group:
            if s.kind in (KIND_CLIENT, KIND_PRODUCER) and s.service == service:
                if any(c.service != service for c in children.get(s.sid, ())):
                    instrumented.add(f"{s.dep or s.name}\x00{s.name}")
    inside: dict[str, tuple[str, str, int]] = {}  # dependency -> the span inside it holding most of its time
    for (dep_key, svc, op), t in sorted(by_dep_op.items(), key=lambda kv: -kv[1]):
        inside.setdefault(dep_key, (svc, op, t))
    cp_total = sum(by_op.values())

    # --- entry operations ---
    ops = []
    for key, st in win.ops.items():
        f = st.facts()
        b = base.ops.get(key)
        entry = {"service": key[0], "name": key[1], **f, "baseline": b.facts() if b else None,
                 "onset": None, "onset_by": None, "before": None, "since": None}
        _add_onset(entry, st, b)
        ops.append(entry)
    ops.sort(key=lambda o: (-(o["errors"] or 0) if (o["error_ratio"] or 0) >= 0.01 else 0, -o["count"]))

    # --- dependencies ---
    deps = []
    for key, st in win.deps.items():
        f = st.facts()
        b = base.deps.get(key)
        bf = b.facts() if b and b.durs else None
        entry: dict[str, Any] = {"name": key[0], "operation": key[1], "calls": f["count"], "errors": f["errors"],
                                 "error_ratio": f["error_ratio"], "p50_ms": f["p50_ms"], "p99_ms": f["p99_ms"],
                                 "baseline": ({"calls": bf["count"], "errors": bf["errors"],
                                               "error_ratio": bf["error_ratio"], "p99_ms": bf["p99_ms"]}
                                              if bf else None),
                                 "critical_share": _r(by_dep.get(f"{key[0]}\x00{key[1]}", 0) / cp_total, 4)
                                 if cp_total else None,
                                 "onset": None, "onset_by": None, "before": None, "since": None,
                                 "critical_top": None, "remote_share": None}
        dkey = f"{key[0]}\x00{key[1]}"
        if cp_total and dkey in instrumented:
            entry["remote_share"] = _r(remote.get(dkey, 0) / cp_total, 4)
        top = inside.get(f"{key[0]}\x00{key[1]}")
        if top and cp_total:
            entry["critical_top"] = {"service": top[0], "operation": top[1], "share": _r(top[2] / cp_total, 4)}
        _add_onset(entry, st, b)
        deps.append(entry)
    deps.sort(key=lambda d: (-(d["critical_share"] or 0), -d["errors"], -d["calls"]))

    # --- error groups ---
    errors = sorted(err_groups.values(), key=lambda g: (-g["count"], g["service"], g["operation"]))
    for g in errors:
        g["first_seen"], g["last_seen"] = _iso(g.pop("first_ns")), _iso(g.pop("last_ns"))
    error_spans = sum(g["count"] for g in errors)

    # --- call-graph change ---
    new_paths, vanished = [], []
    if base.traces:
        new_paths = sorted(({"path": p, "count": n} for p, n in win.paths.items() if p not in base.paths and n >= 2),
                           key=lambda x: (-x["count"], x["path"]))
        vanished = sorted(({"path": p, "baseline_count": n} for p, n in base.paths.items()
                           if p not in win.paths and n >= 2), key=lambda x: (-x["baseline_count"], x["path"]))

    # --- retries and fan-out ---
    retries = sorted((g for g in retry_groups.values() if g["after_error"]), key=lambda g: -g["after_error"])
    repeats = sorted((g for g in retry_groups.values() if not g["after_error"]), key=lambda g: -g["extra_calls"])
    fan = []
    for (svc, name), counts in fanout.items():
        c = sorted(n for n, _ in counts)
        typical = quantile(c, 0.5) or 0
        worst, tid = max(counts)
        if len(c) >= MIN_CALLS and worst >= FANOUT_RATIO * typical and worst >= typical + FANOUT_MIN_EXTRA:
            fan.append({"service": svc, "operation": name, "max_children": worst, "typical_children": typical,
                        "trace_id": tid, "parents": len(c)})
    fan.sort(key=lambda f: -f["max_children"] / max(f["typical_children"], 1))

    cp_top = [{"service": s, "operation": o, "ms": round(t / 1e6, 1), "share": _r(t / cp_total, 4)}
              for (s, o), t in by_op.most_common(caps["critical_path"])] if cp_total else []

    def capped(items: list[Any], name: str) -> list[Any]:
        omitted[name] = max(0, len(items) - caps[name])
        return items[: caps[name]]

    omitted: dict[str, int] = {}
    data: dict[str, Any] = {
        "service": service,
        "service_requested": requested if requested not in (None, service) else None,
        "verdict": "",
        "headline": {},
        "onset": None,
        "sampling": {"how": "every span given", "traces_matched": None} | dict(sampling or {}) | {"traces_read": len(by_trace), "spans_read": n_spans,
                                            "traces_in_window": win.traces, "spans_in_window": win.spans,
                                            "traces_in_baseline": base.traces if baseline else None,
                                            "traces_outside": outside, "traces_incomplete": incomplete,
                                            "duplicate_spans": duplicates},
        "span": {"start": _iso(first_ns), "end": _iso(last_ns)},
        "operations": capped(ops, "operations"),
        "dependencies": capped(deps, "dependencies"),
        "critical_path": {"traces": len(slow), "threshold_ms": _r(slow[0][0] / 1e6) if slow else None,
                          "total_ms": round(cp_total / 1e6, 1), "top": cp_top, "cut_depth": cp_stats["cut"]},
        "errors": capped(errors, "errors"),
        "error_spans": error_spans,
        "paths": {"new": capped(new_paths, "paths"), "vanished": vanished[: caps["paths"]],
                  "vanished_omitted": max(0, len(vanished) - caps["paths"])},
        "retries": capped(retries, "retries"),
        "repeated_calls": repeats[:2],
        "fanout": capped(fan, "fanout"),
        "omitted": {},
    }
    data["omitted"] = {k: v for k, v in omitted.items() if v}
    onsets = sorted(d["onset"] for d in data["dependencies"] + data["operations"] if d["onset"])
    data["onset"] = onsets[0] if onsets else None
    data["headline"] = _headline(data)
    data["verdict"] = _verdict(data["headline"], error_spans)
    return data


def _add_onset(entry: dict[str, Any], st: _Stat, b: _Stat | None) -> None:
    """Set ``onset``, ``onset_by`` and the ``before``/``since`` phases of one operation or dependency.

    Slow means slower than the baseline's p99 when the baseline has enough calls,
    else three times the window's median.
    """
    bf = b.facts() if b and b.durs else None
    p50 = quantile(sorted(st.durs), 0.5)
    slow_ms = bf["p99_ms"] if bf and bf["count"] >= MIN_CALLS * 4 else (3 * p50 if p50 else None)
    onset = _onset(st.times, slow_ms)
    if onset:
        t_on, what = onset
        pre = [(ms, e) for t, ms, e in (b.times if b else [])] + [(ms, e) for t, ms, e in st.times if t < t_on]
        post = [(ms, e) for t, ms, e in st.times if t >= t_on]
        entry.update(onset=_iso(t_on), onset_by=what, before=_phase(pre), since=_phase(post))


def _phase(values: list[tuple[float, bool]]) -> dict[str, Any] | None:
    if not values:
        return None
    d = sorted(ms for ms, _ in values)
    errs = sum(1 for _, e in values if e)
    return {"calls": len(values), "errors": errs, "error_ratio": _r(errs / len(values), 4),
            "p99_ms": _r(quantile(d, 0.99))}


def _fmt_ms(ms: float | None) -> str:
    from ..units import format_ms

    return format_ms(ms)


def _headline(data: dict[str, Any]) -> dict[str, Any]:
    """The facts the prompt leads with, in a dict (budget trimming never shortens it).

    ``slow``: the dependency holding the largest share (at least HEADLINE_SHARE) of
    the slow traces' critical path; ``failing``: the dependency with the most
    failed calls (error ratio at least 1%); ``self``: the focus service's own
    operation when no dependency holds the time; ``retry``: the top retry group;
    ``error``: the largest error group.
    """
    deps = data["dependencies"]
    out: dict[str, Any] = {"slow": None, "failing": None, "self": None, "retry": None, "error": None,
                           "onset": data["onset"]}
    if deps and deps[0].get("critical_share") and deps[0]["critical_share"] >= HEADLINE_SHARE:
        out["slow"] = deps[0]
    failing = [d for d in deps if d["error_ratio"] and d["calls"] >= MIN_CALLS and d["error_ratio"] >= 0.01]
    if failing:
        out["failing"] = max(failing, key=lambda d: (d["errors"], d["name"]))
    cp = data["critical_path"]["top"]
    if out["slow"] is None and cp:
        out["self"] = cp[0]
    if data["retries"]:
        out["retry"] = data["retries"][0]
    if data["errors"]:
        e = data["errors"][0]
        out["error"] = {k: e[k] for k in ("service", "operation", "exception_type", "count")}
    return out


def _verdict(h: dict[str, Any], error_spans: int) -> str:
    """The headline as one plain sentence (JSON output, ``ctxgrab traces`` on a terminal)."""
    parts = []
    d = h["slow"]
    if d:
        text = f"{d['critical_share'] * 100:.0f}% of the slowest traces' time is in {d['name']} {d['operation']}"
        if d.get("onset_by") == "latency" and d["before"] and d["since"]:
            text += (f", p99 {_fmt_ms(d['before']['p99_ms'])} → {_fmt_ms(d['since']['p99_ms'])} since "
                     f"{d['onset'][11:16]}")
        elif d.get("baseline") and d["baseline"].get("p99_ms") is not None:
            text += f", p99 {_fmt_ms(d['baseline']['p99_ms'])} → {_fmt_ms(d['p99_ms'])}"
        parts.append(text)
    d = h["failing"]
    if d:
        if d.get("onset_by") == "errors" and d["since"] and d["before"]:
            parts.append(f"{d['name']} {d['operation']} fails {d['since']['error_ratio'] * 100:.1f}% of calls since "
                         f"{d['onset'][11:16]} ({d['before']['error_ratio'] * 100:.1f}% before)")
        else:
            parts.append(f"{d['name']} {d['operation']} fails {d['error_ratio'] * 100:.1f}% of calls")
    r = h["retry"]
    if r:
        parts.append(f"{r['after_error']:,} retries of {r['dependency']} {r['operation']} after a failed attempt")
    if not parts and h["self"]:
        c = h["self"]
        parts.append(f"{c['share'] * 100:.0f}% of the slowest traces' time is {c['service']} {c['operation']} "
                     "itself")
    if not parts and h["error"]:
        e = h["error"]
        parts.append(f"{error_spans:,} error spans, most in {e['service']} {e['operation']}"
                     + (f" ({e['exception_type']})" if e["exception_type"] else ""))
    return "; ".join(parts) or "no slow or failing dependency found in these traces"
