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

from datetime import datetime, timezone
from typing import Any, Iterable

from .evidence import Evidence
from .timeutil import format_duration, parse_time
from .units import format_bytes, format_ms, format_pct, format_value

__all__ = ["derive", "choose_kind", "time_to_limit", "KINDS", "Signal"]

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

# Kinds, strongest first: a memory leak explains errors and latency, a saturated
# pool explains errors, an error spike explains latency.
KINDS = [
    ("memory_leak", "memory_leak", "Memory leak"),
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


def time_to_limit(last: float, slope_per_hour: float, limit: float) -> float | None:
    """Hours until ``last`` reaches ``limit`` at ``slope_per_hour``; None when it never does."""
    if slope_per_hour <= 0 or limit <= last:
        return None if limit > last or slope_per_hour <= 0 else 0.0
    return (limit - last) / slope_per_hour


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M UTC")


def _metrics(evidence: Iterable[Evidence]) -> dict[str, dict[str, Any]]:
    """First-series summary per metric id (with unit, title and limit_of)."""
    out = {}
    for ev in evidence:
        if ev.kind == "metrics" and ev.ok and ev.data.get("series"):
            out[ev.data.get("id", ev.name)] = ev.data["series"][0]["summary"] | {
                "unit": ev.data.get("unit"),
                "title": ev.title,
                "limit_of": ev.data.get("limit_of"),
            }
    return out


def _limits(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """metric id → the summary of the metric that bounds it."""
    return {m["limit_of"]: m for m in metrics.values() if m.get("limit_of") in metrics}


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
                text = (f"live set after GC {format_bytes(live['first_bytes'])} → {format_bytes(live['last_bytes'])}"
                        f" over {format_duration(live.get('span_hours', 0) * 3600)}")
                if live.get("slope_bytes_per_hour"):
                    text += f" (+{format_bytes(live['slope_bytes_per_hour'])}/h, R² {live.get('r2', 0):.2f})"
                limit = ev.data.get("heap_max_bytes")
                if limit:
                    facts["limit_bytes"] = limit
                    text += f", {format_pct(live['last_bytes'] / limit, 0)} of the {format_bytes(limit)} max heap"
                    hours = time_to_limit(live["last_bytes"], live.get("slope_bytes_per_hour") or 0, limit)
                    if hours is not None:
                        facts["hours_to_limit"] = hours
                        text += f"; full in {format_duration(hours * 3600)} at this rate"
                return {"name": "memory_leak", "summary": text, "facts": facts}
    used, limit = metrics.get("heap_used"), _limits(metrics).get("heap_used")
    if not used or used.get("trend_per_hour", 0) <= 0 or used.get("r2", 0) < TREND_MIN_R2:
        return None
    facts = {
        "source": "metrics",
        "first_bytes": used["first"],
        "last_bytes": used["last"],
        "slope_bytes_per_hour": used["trend_per_hour"],
        "r2": used["r2"],
    }
    text = (f"heap used {format_bytes(used['first'])} → {format_bytes(used['last'])} over "
            f"{format_duration(used['span_s'])} (+{format_bytes(used['trend_per_hour'])}/h, R² {used['r2']:.2f})")
    if not limit:
        return None  # growth without a known limit is not yet a leak claim
    facts["limit_bytes"] = limit["last"]
    share = used["last"] / limit["last"]
    text += f", {format_pct(share, 0)} of the {format_bytes(limit['last'])} max"
    hours = time_to_limit(used["last"], used["trend_per_hour"], limit["last"])
    if hours is not None:
        facts["hours_to_limit"] = hours
        text += f"; full in {format_duration(hours * 3600)} at this rate"
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


def _times(cp: dict[str, Any]) -> str:
    """``×51``, or ``from zero`` when the level before was 0."""
    return f"×{cp['after'] / cp['before']:.0f}" if cp["before"] > 0 else "from zero"


def _error_spike(evidence: list[Evidence], metrics: dict[str, dict[str, Any]], window_h: float) -> Signal | None:
    m = metrics.get("error_ratio")
    cp = _level_spike(m, SPIKE_RATIO, SPIKE_MIN_RATIO_VALUE)
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


def _saturation(evidence: list[Evidence], metrics: dict[str, dict[str, Any]]) -> Signal | None:
    hits = []
    for mid, limit in sorted(_limits(metrics).items()):
        if mid == "heap_used":
            continue  # memory has its own signal
        used = metrics[mid]
        if limit["last"] <= 0:
            continue
        share = max(used["last"], used.get("p95", used["last"])) / limit["last"]
        if share >= SATURATION_SHARE:
            unit = used["unit"]
            text = (f"{used['title']} at {format_value(used['last'], None)} of {format_value(limit['last'], unit)} "
                    f"({format_pct(used['last'] / limit['last'], 0)})")
            hours = time_to_limit(used["last"], used.get("trend_per_hour", 0), limit["last"])
            fact = {"metric": mid, "used": used["last"], "limit": limit["last"], "share": used["last"] / limit["last"]}
            if hours is not None and used.get("r2", 0) >= TREND_MIN_R2:
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
    window_h = window.hours if window is not None else 0.0
    out = [
        _memory_leak(evidence, metrics),
        _saturation(evidence, metrics),
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
