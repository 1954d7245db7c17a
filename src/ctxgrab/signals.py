"""Signals: small deterministic rules over the evidence, each with the numbers that fired it.

Each rule reads Evidence payloads only (never a source) and returns a signal::

    {"name": "error_spike",
     "summary": "5xx ratio 15.2% since 11:00 UTC vs 0.3% before (×51)",
     "facts": {"before": 0.003, "after": 0.152, ...}}

The signals pick the prompt's kind (:func:`choose_kind`): the template that asks
the right question. Every threshold is a named constant here and is explained in
``docs/signals.md``.

>>> choose_kind([{"name": "error_spike"}, {"name": "recent_deploy"}])[0]
'error_spike'
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from .evidence import Evidence, coverage_of
from .timeutil import format_duration, parse_time
from .analysis.series import TREND_MIN_POINTS, TREND_MIN_SPAN_S
from .units import format_bytes, format_ms, format_pct, format_value

__all__ = ["derive", "choose_kind", "time_to_limit", "limits", "oom_kind", "coverage_notes", "onset", "KINDS",
           "Signal"]

Signal = dict[str, Any]

# --- thresholds (docs/signals.md explains each) ---
SPIKE_RATIO = 3.0  # a level this many times the level before it is a spike
SPIKE_MIN_RATIO_VALUE = 0.01  # ... and an error ratio must reach at least 1% to matter
LOG_SPIKE_MIN_ERRORS = 20  # error records needed before a log-rate spike counts
LATENCY_RATIO = 2.0  # p99 (or p50) at least doubled
TREND_MIN_R2 = 0.6  # a trend must explain this much variance to be projected
MEMORY_NEAR_LIMIT = 0.9  # heap at 90% of max is pressure even without a clean trend
MEMORY_HORIZON_H = 48.0  # growth that reaches the limit within this many hours is a leak signal
SATURATION_SHARE = 0.9  # a bounded resource at 90% of its limit is saturated
DEPLOY_LEAD_S = 3600.0  # a deploy up to an hour before the window still counts as recent
DOWNSTREAM_OWN_SHARE = 0.5  # a slow dependency's own spans must hold half its critical-path time to be called slow
# downstream_latency uses LATENCY_RATIO; downstream_errors SPIKE_RATIO and SPIKE_MIN_RATIO_VALUE (on the
# dependency's share of failed calls); the traces analysis names the dependency (HEADLINE_SHARE there).
COVERAGE_MIN_SHARE = 0.5  # evidence that saw less than half the window says how little it saw

# Kinds, strongest first: a memory leak explains errors and latency, a saturated
# pool explains errors, an error spike explains latency. An OutOfMemoryError of any
# kind, or a container killed for memory, asks the memory question.
KINDS = [
    ("memory_leak", "memory_leak", "Memory leak"),
    ("oom", "memory_leak", "Memory leak"),
    ("saturation", "saturation", "Resource saturation"),
    ("error_spike", "error_spike", "Error spike"),
    ("downstream_errors", "error_spike", "Error spike"),
    ("latency_regression", "latency", "Latency regression"),
    ("downstream_latency", "latency", "Latency regression"),
]
KIND_TITLES = {template: title for _, template, title in KINDS} | {"incident": "Incident"}


def _name(text: Any, limit: int = 80) -> str:
    """A production name (service, operation, pool, thread) for a summary: one line, clipped.

    Summaries are plain text; the render seam escapes them where they enter the prompt."""
    body = " ".join(str(text).split())
    return body if len(body) <= limit else body[: limit - 1] + "…"


def _trend_ok(span_s: float | None, points: int | None) -> bool:
    """A trend may be quoted and projected: enough span and points (docs/signals.md)."""
    return (span_s or 0) >= TREND_MIN_SPAN_S and (points or 0) >= TREND_MIN_POINTS


def time_to_limit(last: float, slope_per_hour: float, limit: float) -> float | None:
    """Hours until ``last`` reaches ``limit`` at ``slope_per_hour``; None when it never does."""
    if slope_per_hour <= 0 or limit <= last:
        return None if limit > last or slope_per_hour <= 0 else 0.0
    return (limit - last) / slope_per_hour


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M UTC")


def baseline_name(m: dict[str, Any]) -> str:
    label = m.get("baseline_label")
    return label or "the previous window"


def _label_key(labels: dict[str, Any] | None) -> str:
    return json.dumps(labels or {}, sort_keys=True)


def _metrics(evidence: Iterable[Evidence]) -> dict[str, dict[str, Any]]:
    """First-series summary per metric id (with unit, title and limit_of).

    For a per-pod metric the first series is the worst pod's (the collector orders them),
    so trends and limits are that pod's, never a fleet sum's.
    """
    out = {}
    for ev in evidence:
        if ev.kind == "metrics" and ev.ok and ev.data.get("series"):
            first = ev.data["series"][0]
            out[ev.data.get("id", ev.name)] = first["summary"] | {
                "unit": ev.data.get("unit"),
                "title": ev.title,
                "limit_of": ev.data.get("limit_of"),
                "labels": first.get("labels") or {},
                "baseline_label": ev.data.get("baseline_label"),
                "pods": (ev.data.get("instances") or {}).get("count"),
                "_by_labels": {_label_key(x.get("labels")): x["summary"] for x in ev.data["series"]},
            }
    return out


def _limits(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """metric id → the summary of the metric that bounds it (the same pod's, when both are per pod)."""
    out = {}
    for m in metrics.values():
        used = metrics.get(m.get("limit_of") or "")
        if used is None:
            continue
        same_pod = m["_by_labels"].get(_label_key(used.get("labels")))
        out[m["limit_of"]] = (same_pod | {k: m[k] for k in ("unit", "title", "limit_of")}) if same_pod else m
    return out


def _norm_key(key: str) -> str:
    # Spring's relaxed binding: server.maxWebsocketSessions ~ server.max-websocket-sessions.
    return key.replace("-", "").replace("_", "").lower()


def _setting_limits(evidence: Iterable[Evidence]) -> dict[str, dict[str, Any]]:
    """Normalised setting key → its value as a number (bytes for sizes), from the settings evidence."""
    out: dict[str, dict[str, Any]] = {}
    for ev in evidence:
        if ev.kind == "settings" and ev.ok:
            for f in ev.data.get("files") or []:
                for kv in f.get("values") or []:
                    value: float | None = kv.get("bytes")
                    unit = "bytes" if value is not None else None
                    if value is None:
                        try:
                            value = float(str(kv.get("value")).strip())
                        except ValueError:
                            continue
                    out[_norm_key(kv["key"])] = {"source": "setting", "name": kv["key"], "value": value,
                                                 "unit": unit, "raw": kv.get("value"), "where": f.get("path")}
    return out


def _container_limit(evidence: Iterable[Evidence]) -> dict[str, Any] | None:
    for ev in evidence:
        if ev.kind == "deploys" and ev.ok:
            got = [p.get("memory_limit_bytes") for p in ev.data.get("pods") or [] if p.get("memory_limit_bytes")]
            if got:
                return {"source": "container", "name": "container memory limit", "value": max(got),
                        "unit": "bytes", "raw": None, "where": "kubernetes"}
    return None


def limits(evidence: list[Evidence]) -> dict[str, list[dict[str, Any]]]:
    """Metric id → what bounds it, from every source: another metric (``limit_of``), a setting
    (``bounded_by: [-Xmx]`` in the pack, read from the settings evidence) or the container's
    memory limit (``bounded_by: [container:memory]``, from the Kubernetes evidence).

    Each limit is ``{"source": metric|setting|container, "name", "value", "unit", "raw", "where"}``;
    templates show it beside the metric and the saturation signal compares against it.
    """
    metrics = _metrics(evidence)
    settings = _setting_limits(evidence)
    container = None
    out: dict[str, list[dict[str, Any]]] = {}
    for mid, lim in _limits(metrics).items():
        out.setdefault(mid, []).append({"source": "metric", "name": lim["title"], "value": lim["last"],
                                        "unit": lim.get("unit"), "raw": None, "where": None})
    for ev in evidence:
        if ev.kind != "metrics" or not ev.ok:
            continue
        mid = ev.data.get("id", ev.name)
        for key in ev.data.get("bounded_by") or []:
            if key == "container:memory":
                container = container or _container_limit(evidence)
                hit = container
            else:
                hit = settings.get(_norm_key(key))
            if hit and hit not in out.get(mid, []):
                out.setdefault(mid, []).append(hit)
    return out


def _limit_text(lim: dict[str, Any]) -> str:
    if lim["source"] == "message":
        return f"{format_bytes(lim['value'])} (the limit the error message names)"
    if lim["source"] == "setting":
        shown = format_value(lim["value"], lim.get("unit")) if lim.get("unit") else lim.get("raw")
        return f"{lim['name']} = {shown}"
    return f"the {format_value(lim['value'], lim.get('unit'))} {lim['name'].lower()}" if lim["source"] == "container" \
        else f"{lim['name']} {format_value(lim['value'], lim.get('unit'))}"


# OutOfMemoryError messages as HotSpot writes them, and the limit each one hit.
_OOM_KINDS = (
    ("java heap space", "heap", ("-Xmx", "-XX:MaxHeapSize")),
    ("gc overhead limit exceeded", "GC overhead", ("-Xmx", "-XX:MaxHeapSize")),
    ("requested array size exceeds vm limit", "array size", ()),
    ("metaspace", "metaspace", ("-XX:MaxMetaspaceSize",)),
    ("compressed class space", "compressed class space", ("-XX:CompressedClassSpaceSize",)),
    ("direct buffer memory", "direct buffer", ("-XX:MaxDirectMemorySize",)),
    ("unable to create native thread", "native thread", ("-Xss",)),
    ("unable to create new native thread", "native thread", ("-Xss",)),
)
_OOM_LIMIT = re.compile(r"OutOfMemoryError:[^\n]*?\blimit: (\d+)\)")
_OOM_METRIC = {"heap": "heap_used", "GC overhead": "heap_used", "metaspace": "metaspace",
               "direct buffer": "direct_buffers", "native thread": "threads"}


def oom_kind(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The kind of OutOfMemoryError in ``text`` and the settings that bound it; None if there is none.

    >>> oom_kind("java.lang.OutOfMemoryError: Direct buffer memory")
    ('direct buffer', ('-XX:MaxDirectMemorySize',))
    >>> oom_kind("java.lang.OutOfMemoryError: unable to create native thread: possibly out of memory")[0]
    'native thread'
    """
    low = text.lower()
    at = low.find("outofmemoryerror")
    if at < 0:
        return None
    rest = low[at:at + 300]
    for needle, kind, keys in _OOM_KINDS:
        if needle in rest:
            return kind, keys
    return "unspecified", ()


def _oom(evidence: list[Evidence], metrics: dict[str, dict[str, Any]],
         bounds: dict[str, list[dict[str, Any]]]) -> Signal | None:
    """Any OutOfMemoryError in the logs, or containers killed for memory (OOMKilled)."""
    found: dict[str, dict[str, Any]] = {}
    for ev in evidence:
        if ev.kind in ("logs", "loki") and ev.ok:
            for p in ev.data.get("patterns") or []:
                text = " ".join(str(p.get(k) or "") for k in ("exception", "example", "template", "message"))
                hit = oom_kind(text)
                if hit and ("OutOfMemoryError" in str(p.get("exception") or "") or "OutOfMemoryError" in text):
                    entry = found.setdefault(hit[0], {"kind": hit[0], "keys": hit[1], "count": 0, "first_seen": None})
                    entry["count"] += int(p.get("count") or 0)
                    if m := _OOM_LIMIT.search(text):
                        entry["message_limit"] = int(m.group(1))
                    fs = p.get("first_seen")
                    if fs and (entry["first_seen"] is None or fs < entry["first_seen"]):
                        entry["first_seen"] = fs
    killed = 0
    for ev in evidence:
        if ev.kind == "deploys" and ev.ok:
            killed += int(((ev.data.get("restarts") or {}).get("termination_reasons") or {}).get("OOMKilled") or 0)
    if not found and not killed:
        return None
    settings = _setting_limits(evidence)
    parts, kinds = [], []
    for entry in sorted(found.values(), key=lambda e: -e["count"]):
        lim = next((settings[_norm_key(k)] for k in entry["keys"] if _norm_key(k) in settings), None)
        if lim is None and entry.get("message_limit"):
            # JDK 17 says it itself: "Cannot reserve 1048576 bytes of direct buffer memory (..., limit: 4194304)"
            lim = {"source": "message", "name": "limit in the error message", "value": entry["message_limit"],
                   "unit": "bytes", "raw": None, "where": None}
        mid = _OOM_METRIC.get(entry["kind"])
        if lim is None and mid:
            lim = next(iter(bounds.get(mid) or []), None)
        text = f"OutOfMemoryError ({entry['kind']}) ×{entry['count']:,}"
        if entry["first_seen"]:
            text += f", first at {_hhmm(parse_time(entry['first_seen']).timestamp())}"
        if lim:
            text += f"; the limit it hit: {_limit_text(lim)}"
            used = metrics.get(mid or "")
            if used and lim.get("value"):
                text += f" ({format_pct(used['max'] / lim['value'], 0)} at its peak)"
        elif entry["keys"]:
            text += f"; bounded by {entry['keys'][0]} (not found in the settings: the JVM default applies)"
        parts.append(text)
        kinds.append({"kind": entry["kind"], "count": entry["count"], "first_seen": entry["first_seen"],
                      "limit": lim})
    if killed:
        lim = _container_limit(evidence)
        parts.append(f"{killed} container{'s' if killed != 1 else ''} killed for memory (OOMKilled)"
                     + (f" at {_limit_text(lim)}" if lim else ""))
        kinds.append({"kind": "container OOMKilled", "count": killed, "limit": lim})
    return {"name": "oom", "summary": "; ".join(parts), "facts": {"ooms": kinds}}


def _memory_leak(evidence: list[Evidence], metrics: dict[str, dict[str, Any]]) -> Signal | None:
    # GC log first: the live set after the collections that should reclaim it.
    for ev in evidence:
        if ev.kind == "gc" and ev.ok:
            verdict = ev.data.get("verdict") or {}
            live = ev.data.get("live_set") or {}
            if verdict.get("leak_suspected") and live.get("first_bytes") is not None:
                facts = {
                    "source": "gc",
                    "first_bytes": live["first_bytes"],
                    "last_bytes": live["last_bytes"],
                    "slope_bytes_per_hour": live.get("slope_bytes_per_hour"),
                    "r2": live.get("r2"),
                }
                span_s = (live.get("span_hours") or 0) * 3600
                trend = _trend_ok(span_s, live.get("points"))
                text = (f"live set after GC {format_bytes(live['first_bytes'])} → {format_bytes(live['last_bytes'])}"
                        f" over {format_duration(span_s)}")
                if not trend:
                    # Too little to extrapolate: the numbers, without a rate or a time to the limit.
                    facts["slope_bytes_per_hour"] = None
                    text += (f" ({live.get('points', 0)} points: too short a span for a trend; "
                             f"it needs {format_duration(TREND_MIN_SPAN_S)} and {TREND_MIN_POINTS} points)")
                elif live.get("slope_bytes_per_hour"):
                    text += f" (+{format_bytes(live['slope_bytes_per_hour'])}/h, R² {live.get('r2', 0):.2f})"
                limit = ev.data.get("heap_max_bytes")
                if limit:
                    facts["limit_bytes"] = limit
                    text += f", {format_pct(live['last_bytes'] / limit, 0)} of the {format_bytes(limit)} max heap"
                    hours = time_to_limit(live["last_bytes"], live.get("slope_bytes_per_hour") or 0, limit) \
                        if trend else None
                    if hours is not None:
                        facts["hours_to_limit"] = hours
                        text += (f"; full in {format_duration(hours * 3600)} at this rate" if hours > 0
                                 else "; already at the limit")
                return {"name": "memory_leak", "summary": text, "facts": facts}
    used, limit = metrics.get("heap_used"), _limits(metrics).get("heap_used")
    if not used or used.get("trend_per_hour", 0) <= 0 or used.get("r2", 0) < TREND_MIN_R2:
        return None
    if not _trend_ok(used.get("span_s"), used.get("points")):
        return None  # minutes of samples do not make a leak claim
    facts = {
        "source": "metrics",
        "first_bytes": used["first"],
        "last_bytes": used["last"],
        "slope_bytes_per_hour": used["trend_per_hour"],
        "r2": used["r2"],
    }
    text = (f"heap used {format_bytes(used['first'])} → {format_bytes(used['last'])} over "
            f"{format_duration(used['span_s'])} (+{format_bytes(used['trend_per_hour'])}/h, R² {used['r2']:.2f})")
    if (used.get("pods") or 0) > 1:
        who = ", ".join(f"{k}={v}" for k, v in sorted(used["labels"].items()))
        text += f" on the worst of {used['pods']} pods ({who})"
        facts["pods"], facts["worst_pod"] = used["pods"], used["labels"]
    if not limit:
        return None  # growth without a known limit is not yet a leak claim
    facts["limit_bytes"] = limit["last"]
    share = used["last"] / limit["last"]
    text += f", {format_pct(share, 0)} of the {format_bytes(limit['last'])} max"
    hours = time_to_limit(used["last"], used["trend_per_hour"], limit["last"])
    if hours is not None:
        facts["hours_to_limit"] = hours
        text += f"; full in {format_duration(hours * 3600)} at this rate" if hours > 0 else "; already at the limit"
    if share < MEMORY_NEAR_LIMIT and (hours is None or hours > MEMORY_HORIZON_H):
        return None
    return {"name": "memory_leak", "summary": text, "facts": facts}


def _level_spike(m: dict[str, Any] | None, ratio: float, min_after: float = 0.0) -> dict[str, Any] | None:
    if not m or not m.get("change_point"):
        return None
    cp = m["change_point"]
    if cp["after"] <= 0 or cp["after"] < ratio * cp["before"] or cp["after"] < min_after:
        return None
    return cp


def _edge_spike(m: dict[str, Any] | None, ratio: float, min_after: float = 0.0) -> dict[str, Any] | None:
    """A level that rose before the window began: the window's mean against the baseline window's.

    A change at the window's edge has no change point inside the window (``--since 1h`` on an
    incident that began 1 h ago); the comparison with the previous window still sees it.
    """
    if not m or m.get("baseline_mean") is None or not m.get("mean"):
        return None
    before, after = m["baseline_mean"], m["mean"]
    if after < min_after or after <= 0 or (before > 0 and after < ratio * before):
        return None
    return {"before": before, "after": after, "at": m.get("start_ts"), "edge": True}


def _times(cp: dict[str, Any]) -> str:
    """``×51``, or ``from zero`` when the level before was 0."""
    return f"×{cp['after'] / cp['before']:.0f}" if cp["before"] > 0 else "from zero"


def _error_spike(evidence: list[Evidence], metrics: dict[str, dict[str, Any]], window_h: float) -> Signal | None:
    m = metrics.get("error_ratio")
    cp = _level_spike(m, SPIKE_RATIO, SPIKE_MIN_RATIO_VALUE)
    edge = None if cp else _edge_spike(m, SPIKE_RATIO, SPIKE_MIN_RATIO_VALUE)
    if edge:
        return {
            "name": "error_spike",
            "summary": (f"5xx ratio {format_pct(edge['after'])} on average in the window vs "
                        f"{format_pct(edge['before'])} in {baseline_name(m)} ({_times(edge)}); it was already up "
                        f"when the window began"),
            "facts": {"source": "metrics", "before": edge["before"], "after": edge["after"], "versus": "baseline",
                      "ratio": edge["after"] / edge["before"] if edge["before"] > 0 else None},
        }
    if cp:
        return {
            "name": "error_spike",
            "summary": (f"5xx ratio {format_pct(cp['after'])} since {_hhmm(cp['at'])} vs "
                        f"{format_pct(cp['before'])} before ({_times(cp)})"),
            "facts": {"source": "metrics", "before": cp["before"], "after": cp["after"], "since_ts": cp["at"],
                      "ratio": cp["after"] / cp["before"] if cp["before"] > 0 else None},
        }
    for ev in evidence:
        if ev.kind in ("logs", "loki") and ev.ok:
            now = ev.data.get("error_records")
            base = ev.data.get("baseline_error_records")
            if now is None or base is None or now < LOG_SPIKE_MIN_ERRORS:
                continue
            if ev.data.get("baseline_empty"):
                continue  # an empty baseline window is no evidence of a spike
            if now >= SPIKE_RATIO * max(base, 1):
                return {
                    "name": "error_spike",
                    "summary": (f"{now:,} error log records in the last {window_h:.0f} h vs {base:,} in the "
                                f"baseline window (×{now / max(base, 1):.0f})"),
                    "facts": {"source": "logs", "errors": now, "baseline_errors": base},
                }
    return None


def _latency(metrics: dict[str, dict[str, Any]]) -> Signal | None:
    for mid in ("latency_p99", "latency_p50"):
        cp = _level_spike(metrics.get(mid), LATENCY_RATIO)
        edge = None if cp else _edge_spike(metrics.get(mid), LATENCY_RATIO)
        if edge:
            label = "p99" if mid.endswith("p99") else "p50"
            return {
                "name": "latency_regression",
                "summary": (f"{label} latency {format_value(edge['after'], 'seconds')} on average in the window vs "
                            f"{format_value(edge['before'], 'seconds')} in {baseline_name(metrics[mid])} "
                            f"({'×%.1f' % (edge['after'] / edge['before']) if edge['before'] > 0 else 'from zero'}); "
                            "it was already up when the window began"),
                "facts": {"metric": mid, "before_s": edge["before"], "after_s": edge["after"], "versus": "baseline"},
            }
        if cp:
            label = "p99" if mid.endswith("p99") else "p50"
            return {
                "name": "latency_regression",
                "summary": (f"{label} latency {format_value(cp['after'], 'seconds')} since {_hhmm(cp['at'])} vs "
                            f"{format_value(cp['before'], 'seconds')} before "
                            f"({'×%.1f' % (cp['after'] / cp['before']) if cp['before'] > 0 else 'from zero'})"),
                "facts": {"metric": mid, "before_s": cp["before"], "after_s": cp["after"], "since_ts": cp["at"]},
            }
    return None


def _saturation(evidence: list[Evidence], metrics: dict[str, dict[str, Any]],
                bounds: dict[str, list[dict[str, Any]]]) -> Signal | None:
    hits = []
    for mid in sorted(bounds):
        if mid in ("heap_used", "heap_max") or mid not in metrics:
            continue  # the heap has its own signal
        used = metrics[mid]
        # The tightest bound of those known (a setting, another metric, the container limit).
        limit = min((b for b in bounds[mid] if (b.get("value") or 0) > 0), key=lambda b: b["value"], default=None)
        if limit is None:
            continue
        share = max(used["last"], used.get("p95", used["last"])) / limit["value"]
        if share >= SATURATION_SHARE:
            unit = used["unit"]
            pinned = used.get("r2", 0) < TREND_MIN_R2 and used["min"] >= SATURATION_SHARE * limit["value"]
            if limit["source"] == "metric":
                text = (f"{used['title']} {'pinned at' if pinned else 'at'} {format_value(used['last'], None)} of "
                        f"{format_value(limit['value'], unit)} ({format_pct(used['last'] / limit['value'], 0)})")
            else:
                text = (f"{used['title']} {'pinned at' if pinned else 'at'} {format_value(used['last'], unit)}, "
                        f"{format_pct(used['last'] / limit['value'], 0)} of {_limit_text(limit)}")
            if pinned and used.get("span_s"):
                text += f" for the whole {format_duration(used['span_s'])}"
            if (used.get("pods") or 0) > 1:
                text += f" (worst of {used['pods']} pods)"
            hours = time_to_limit(used["last"], used.get("trend_per_hour", 0), limit["value"])
            fact = {"metric": mid, "used": used["last"], "limit": limit["value"], "limit_source": limit["source"],
                    "limit_name": limit["name"], "share": used["last"] / limit["value"], "pinned": pinned}
            if hours is not None and used.get("r2", 0) >= TREND_MIN_R2 and _trend_ok(used.get("span_s"),
                                                                                     used.get("points")):
                fact["hours_to_limit"] = hours
                text += f", at the limit in {format_duration(hours * 3600)}" if hours > 0 else ", at the limit"
            hits.append((text, fact))
    for ev in evidence:
        if ev.kind == "postgres" and ev.ok:
            conn = ev.data.get("connections") or {}
            used, limit = conn.get("used"), conn.get("max")
            if used and limit and used / limit >= SATURATION_SHARE:
                hits.append((f"database connections {used} of max_connections {limit} "
                             f"({format_pct(used / limit, 0)})", {"metric": "db_connections", "used": used,
                                                                  "limit": limit, "share": used / limit}))
    if not hits:
        return None
    return {"name": "saturation", "summary": "; ".join(t for t, _ in hits), "facts": {"resources": [f for _, f in hits]}}


def _new_exception(evidence: list[Evidence]) -> Signal | None:
    found = []
    for ev in evidence:
        if ev.kind in ("logs", "loki") and ev.ok:
            for p in ev.data.get("patterns", []):
                if p.get("new") and p.get("exception"):
                    found.append(p)
    if not found:
        return None
    found.sort(key=lambda p: -p.get("count", 0))
    top = found[0]
    what = top.get("trace_summary") or top["exception"]
    more = f" (+{len(found) - 1} more new)" if len(found) > 1 else ""
    return {
        "name": "new_exception",
        "summary": f"{what} ×{top.get('count', 0):,}, first at {_hhmm(parse_time(top['first_seen']).timestamp())}, "
                   f"not seen in the baseline window{more}",
        "facts": {"exceptions": [{"exception": p["exception"], "count": p.get("count"),
                                  "first_seen": p.get("first_seen")} for p in found[:5]]},
    }


def _recent_deploy(evidence: list[Evidence], window_start: datetime | None, window_len_s: float) -> Signal | None:
    for ev in evidence:
        if ev.kind == "deploys" and ev.ok and ev.data.get("current"):
            cur = ev.data["current"]
            since = ev.data.get("since_current_s")
            if since is None:
                continue
            recent = ev.data.get("in_window") or since <= window_len_s + DEPLOY_LEAD_S
            if not recent:
                continue
            weight = f" on a {cur['canary_weight']}% canary" if cur.get("canary_weight") is not None else ""
            rollback = " (a rollback of an earlier version)" if ev.data.get("rollback_of") else ""
            return {
                "name": "recent_deploy",
                "summary": f"{cur['version']} deployed {format_duration(since)} ago{weight}{rollback}",
                "facts": {"version": cur["version"], "time": cur["time"], "since_s": since,
                          "canary_weight": cur.get("canary_weight")},
            }
    return None


def _trace_headlines(evidence: list[Evidence]) -> list[dict[str, Any]]:
    """The traces summaries' headline facts, each with the focus service under ``service``."""
    return [ev.data["headline"] | {"service": ev.data.get("service")} for ev in evidence
            if ev.kind == "traces" and ev.ok and ev.data.get("headline")]


def _downstream_latency(evidence: list[Evidence]) -> Signal | None:
    """A dependency holds most of the slow traces' critical path and its p99 at least doubled."""

    for h in _trace_headlines(evidence):
        d = h.get("slow")
        if not d:
            continue
        if d.get("onset_by") == "latency" and d.get("before") and d.get("since"):
            before, after, since = d["before"]["p99_ms"], d["since"]["p99_ms"], d["onset"]
        elif d.get("baseline"):
            before, after, since = d["baseline"]["p99_ms"], d["p99_ms"], None
        else:
            continue
        if not before or not after or after < LATENCY_RATIO * before:
            continue
        if d.get("remote_share") is not None and d["remote_share"] < DOWNSTREAM_OWN_SHARE * d["critical_share"]:
            continue  # the downstream's own spans are fast: the time is the caller's wait (GC, pool, network)
        top = d.get("critical_top") or {}
        inner = ""
        if top and top.get("service") != h["service"]:
            inner = f" (most of it {_name(top['service'], 80)} {_name(top['operation'], 100)})"
        text = (f"{format_pct(d['critical_share'], 0)} of the slowest traces' time is in {_name(d['name'], 80)} "
                f"{_name(d['operation'], 100)}{inner}, p99 {format_ms(before)} → {format_ms(after)}")
        text += f" since {_hhmm(parse_time(since).timestamp())}" if since else " vs the baseline window"
        return {"name": "downstream_latency", "summary": text,
                "facts": {"dependency": d["name"], "operation": d["operation"], "critical_share": d["critical_share"],
                          "p99_before_ms": before, "p99_after_ms": after, "since": since}}
    return None


def _downstream_errors(evidence: list[Evidence]) -> Signal | None:
    """A dependency's calls fail at least SPIKE_RATIO times as often as before, and at least 1% of them."""

    for h in _trace_headlines(evidence):
        d = h.get("failing")
        if not d:
            continue
        if d.get("onset_by") == "errors" and d.get("before") and d.get("since"):
            before, after, since = d["before"]["error_ratio"], d["since"]["error_ratio"], d["onset"]
        elif d.get("baseline"):
            before, after, since = d["baseline"]["error_ratio"], d["error_ratio"], None
        else:
            continue
        if after is None or before is None or after < SPIKE_MIN_RATIO_VALUE or after < SPIKE_RATIO * before:
            continue
        text = (f"{_name(d['name'], 80)} {_name(d['operation'], 100)} fails {format_pct(after)} of calls"
                + (f" since {_hhmm(parse_time(since).timestamp())}" if since else "")
                + f" vs {format_pct(before)} {'before' if since else 'in the baseline'}")
        retry = h.get("retry")
        if retry and retry.get("dependency") == d["name"] and retry.get("operation") == d["operation"]:
            text += f", {retry['after_error']:,} retried"
        return {"name": "downstream_errors", "summary": text,
                "facts": {"dependency": d["name"], "operation": d["operation"], "error_ratio_before": before,
                          "error_ratio_after": after, "since": since, "errors": d["errors"], "calls": d["calls"]}}
    return None


def _thread_evidence(evidence: list[Evidence]) -> list[Evidence]:
    return [ev for ev in evidence if ev.kind == "threads" and ev.ok]


def _short_class(name: str | None) -> str:
    """``java.util.concurrent.locks.ReentrantLock$NonfairSync`` → ``ReentrantLock$NonfairSync``."""
    return (name or "?").rsplit(".", 1)[-1]


def _frame_method(frame: str | None) -> str:
    """``com.acme.Cache.get(Cache.java:12)`` → ``Cache.get``."""
    if not frame:
        return "?"
    head = frame.split("(", 1)[0].rsplit(".", 2)
    return ".".join(head[-2:])


def _deadlock(evidence: list[Evidence]) -> Signal | None:

    for ev in _thread_evidence(evidence):
        dls = ev.data.get("deadlocks") or []
        if not dls:
            continue
        first = dls[0]["threads"]
        parts = [f"{_name(t['thread'], 60)} holds {_short_class(t['holds']['class'])} and wants "
                 f"{_short_class(t['wants']['class'])} in {_frame_method(t.get('waits_in'))}" for t in first[:4]]
        more = f" (+{len(dls) - 1} more deadlock{'s' if len(dls) > 2 else ''})" if len(dls) > 1 else ""
        return {
            "name": "deadlock",
            "summary": f"{len(first)} threads deadlocked: " + "; ".join(parts) + more,
            "facts": {"deadlocks": [{"threads": [t["thread"] for t in d["threads"]], "found_by": d["found_by"]}
                                    for d in dls]},
        }
    return None


def _short_exception(name: str | None) -> str:
    return (name or "exception").rsplit(".", 1)[-1]


def _change_range(d: dict[str, Any]) -> str:
    c = f"(+{d['added']} −{d['removed']})" if d.get("added") is not None else ""
    return c


def _suspect_change(evidence: list[Evidence]) -> Signal | None:
    """The change between the last known good and the current version touches what fails."""
    for ev in evidence:
        if ev.kind != "change" or not ev.ok:
            continue
        d = ev.data
        to_v = (d.get("to") or {}).get("version")
        links = d.get("links") or []
        frames = [l for l in links if l.get("what") == "frame" and l.get("in_change")]
        classes = [l for l in links if l.get("what") == "class"]
        settings = [l for l in links if l.get("what") == "setting"]
        texts: list[str] = []
        commits: list[str] = []
        if frames:
            f = frames[0]
            new = "new " if f.get("new") else ""
            at = f['frame'].split('(')[-1].rstrip(')')
            span = f.get("lines")
            where = (f"in lines {span['first']}–{span['last']}" if span and span["first"] != span["last"]
                     else f"in line {span['first']}" if span else "in a file")
            texts.append(f"{new}{_short_exception(f.get('exception'))} at {at}, {where} changed by {to_v} "
                         f"commit {f['commit']} \"{f['subject']}\"")
            commits.append(f["commit"])
        elif classes:
            c = classes[0]
            texts.append(f"{c['class'].rsplit('.', 1)[-1]} ({c['why']}) changed in {to_v} by "
                         f"{', '.join(c.get('commits') or [])}")
            commits += [x for x in c.get("commits") or [] if x not in commits]
        elif settings:
            s0 = settings[0]
            texts.append(f"setting {s0['key']} changed {s0.get('old')} → {s0.get('new')} in {to_v} "
                         f"({', '.join(s0.get('commits') or [])})")
            commits += [x for x in s0.get("commits") or [] if x not in commits]
        if not texts:
            continue
        more = len(frames) + len(classes) + len(settings) - len(texts)
        return {
            "name": "suspect_change",
            "summary": "; ".join(texts),
            "facts": {"from_version": (d.get("from") or {}).get("version"), "to_version": to_v,
                      "commits": commits, "links": len(frames) + len(classes) + len(settings)},
        }
    return None


def _pool_exhausted(evidence: list[Evidence]) -> Signal | None:

    for ev in _thread_evidence(evidence):
        pools = ev.data.get("exhausted") or []
        if not pools:
            continue
        texts, facts = [], []
        for p in pools[:3]:
            w = p["wait"]
            method = _frame_method(w.get("frame"))
            lock = _short_class(w.get("lock_class")) if w.get("lock_class") else ""
            # The lock's class is left out when the frame already names it (RedisCache.get waits on RedisCache).
            on = f" on {lock}" if lock and not method.startswith(lock.split("$")[0] + ".") else ""
            conn = " (waiting for a database connection)" if w.get("on_connections") else ""
            if not texts:  # one short line: the first pool; all of them, with lock holders, in the facts
                texts.append(f"pool {_name(p['pool'], 60)} {p['busy']}/{p['total']} busy, {w['threads']} "
                             f"{w['state']}{on} in {method}{conn}")
            facts.append({"pool": p["pool"], "busy": p["busy"], "total": p["total"], "waiting": w["threads"],
                          "state": w["state"], "lock_class": w.get("lock_class"), "holder": w.get("holder"),
                          "frame": w.get("frame"), "on_connections": bool(w.get("on_connections"))})
        more = f" (+{len(pools) - 1} pool{'s' if len(pools) > 2 else ''})" if len(pools) > 1 else ""
        return {"name": "pool_exhausted", "summary": texts[0] + more, "facts": {"pools": facts}}
    return None


def _thread_leak(evidence: list[Evidence]) -> Signal | None:

    for ev in _thread_evidence(evidence):
        across = ev.data.get("across") or {}
        leaks = [g for g in across.get("growth") or [] if g.get("leak")]
        if not leaks:
            continue
        g = leaks[0]
        span = across.get("span_s")
        rate = f", +{g['per_minute']:,.0f} threads/min" if g.get("per_minute") is not None else ""
        over = f" over {format_duration(span)}" if span and span >= 1 else ""
        more = f" (+{len(leaks) - 1} more growing pools)" if len(leaks) > 1 else ""
        return {
            "name": "thread_leak",
            "summary": (f"pool {_name(g['pool'], 60)} grew {' → '.join(str(c) for c in g['counts'])} threads across "
                        f"{across.get('dumps')} thread dumps{over}{rate}, never shrinking{more}"),
            "facts": {"pools": [{"pool": x["pool"], "counts": x["counts"], "per_minute": x.get("per_minute")}
                                for x in leaks], "span_s": span},
        }
    return None


def _connection_pool_saturation(signals: list[Signal]) -> None:
    """A thread pool exhausted on its database connections is a saturated resource too."""
    hits = [p for s in signals if s["name"] == "pool_exhausted" for p in s["facts"]["pools"] if p["on_connections"]]
    if not hits:
        return
    resources = [{"metric": "thread_pool", "pool": p["pool"], "used": p["busy"], "limit": p["total"],
                  "share": p["busy"] / p["total"], "waiting_for": "connection"} for p in hits]

    text = "; ".join(f"{p['waiting']} of {p['total']} threads of pool {_name(p['pool'], 60)} wait for a database "
                     "connection" for p in hits)
    sat = next((s for s in signals if s["name"] == "saturation"), None)
    if sat is None:
        at = next(i for i, s in enumerate(signals) if s["name"] == "pool_exhausted")
        signals.insert(at, {"name": "saturation", "summary": text, "facts": {"resources": resources}})
    else:
        sat["summary"] += "; " + text
        sat["facts"]["resources"].extend(resources)


def derive(evidence: list[Evidence], window: Any = None) -> list[Signal]:
    """Every signal that fires, in a fixed order (causes before symptoms)."""
    metrics = _metrics(evidence)
    bounds = limits(evidence)
    window_h = window.hours if window is not None else 0.0
    out = [
        _memory_leak(evidence, metrics),
        _oom(evidence, metrics, bounds),
        _saturation(evidence, metrics, bounds),
        _deadlock(evidence),
        _pool_exhausted(evidence),
        _thread_leak(evidence),
        _error_spike(evidence, metrics, window_h),
        _latency(metrics),
        _downstream_errors(evidence),
        _downstream_latency(evidence),
        _new_exception(evidence),
        _suspect_change(evidence),
        _recent_deploy(evidence, getattr(window, "start", None), window_h * 3600),
    ]
    signals = [s for s in out if s]
    _connection_pool_saturation(signals)
    return signals


def choose_kind(signals: list[Signal]) -> tuple[str, list[str]]:
    """The template for these signals and the names of the signals that chose it."""
    names = [s["name"] for s in signals]
    for signal_name, template, _ in KINDS:
        if signal_name in names:
            return template, [signal_name]
    if "new_exception" in names:
        return "error_spike", ["new_exception"]
    return "incident", []


def onset(signals: list[Signal]) -> float | None:
    """When the incident began, as the signals date it (unix seconds): the earliest level shift or new exception."""
    times = []
    for sig in signals:
        f = sig.get("facts") or {}
        if f.get("since_ts"):
            times.append(float(f["since_ts"]))
        for ex in f.get("exceptions") or []:
            if ex.get("first_seen"):
                times.append(parse_time(ex["first_seen"]).timestamp())
    return min(times) if times else None


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def coverage_notes(evidence: list[Evidence], window: Any, signals: list[Signal]) -> list[str]:
    """One line per evidence whose span misses the window or the onset (see docs/signals.md, coverage).

    A GC log of 2 minutes in a 3 h window, a heap dump taken months after it (its header
    time is shown), log records that end before the window: each is said, with the span seen.
    """
    if window is None:
        return []
    w0, w1 = window.start.timestamp(), window.end.timestamp()
    length = max(w1 - w0, 1.0)
    start_of = onset(signals)
    notes = []
    for ev in evidence:
        cov = coverage_of(ev)
        if cov is None or cov.first is None or cov.last is None:
            continue
        a, b = cov.first.timestamp(), cov.last.timestamp()
        seen = f"{cov.what} from {_when(a)} to {_when(b)}" if b > a else f"{cov.what} at {_when(a)}"
        if b < w0:
            notes.append(f"{ev.title}: {seen}, {format_duration(w0 - b)} before the window begins; "
                         "it says nothing about the window")
        elif a > w1:
            notes.append(f"{ev.title}: {seen}, {format_duration(a - w1)} after the window ends; "
                         "it shows a later state, not the incident")
        elif b > a:
            inside = min(b, w1) - max(a, w0)
            parts = []
            if inside < COVERAGE_MIN_SHARE * length:
                parts.append(f"covers {format_duration(inside)} of the {format_duration(length)} window")
            if start_of is not None and w0 <= start_of <= w1 and not (a <= start_of <= b):
                parts.append(f"misses the onset at {_hhmm(start_of)}")
            if parts:
                notes.append(f"{ev.title}: {seen}; " + ", ".join(parts))
    return notes
