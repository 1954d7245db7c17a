"""Signals: small deterministic rules over the evidence, each with the numbers that fired it.

>>> # e.g. {"name": "error_spike", "summary": "5xx ratio 15.2% vs 0.3% before 11:00 (×51)", ...}

Thresholds are documented in ``docs/signals.md``.
"""

from __future__ import annotations

from typing import Any

from .evidence import Evidence
from .units import format_pct, format_value

__all__ = ["derive", "Signal"]

Signal = dict[str, Any]

# A metric mean this many times its level before the change point is a spike.
SPIKE_RATIO = 3.0
# Memory trend: the last value within this share of the limit, or growth that reaches the limit.
NEAR_LIMIT = 0.9
MIN_R2 = 0.6


def _metric(evidence: list[Evidence], metric_id: str) -> dict[str, Any] | None:
    for ev in evidence:
        if ev.kind == "metrics" and ev.ok and ev.data.get("id") == metric_id and ev.data.get("series"):
            return ev.data["series"][0]["summary"] | {"unit": ev.data.get("unit"), "title": ev.title}
    return None


def _memory(evidence: list[Evidence]) -> Signal | None:
    used, limit = _metric(evidence, "heap_used"), _metric(evidence, "heap_max")
    if not used or used.get("trend_per_hour", 0) <= 0 or used.get("r2", 0) < MIN_R2:
        return None
    facts: dict[str, Any] = {
        "first_bytes": used["first"],
        "last_bytes": used["last"],
        "span_s": used["span_s"],
        "slope_bytes_per_hour": used["trend_per_hour"],
        "r2": used["r2"],
    }
    text = (f"heap used {format_value(used['first'], 'bytes')} → {format_value(used['last'], 'bytes')} "
            f"over {used['span_s'] / 3600:.0f} h (+{format_value(used['trend_per_hour'], 'bytes')}/h, "
            f"R² {used['r2']:.2f})")
    if limit:
        facts["limit_bytes"] = limit["last"]
        text += f", {format_pct(used['last'] / limit['last'], 0)} of the {format_value(limit['last'], 'bytes')} max"
        remaining = limit["last"] - used["last"]
        if remaining > 0:
            facts["hours_to_limit"] = remaining / used["trend_per_hour"]
            text += f"; at this rate the limit is reached in {facts['hours_to_limit']:.1f} h"
        if used["last"] < NEAR_LIMIT * limit["last"] and facts.get("hours_to_limit", 0) > 24:
            return None
    return {"name": "memory_growth", "summary": text, "facts": facts}


def _spike(evidence: list[Evidence], metric_id: str, name: str, label: str) -> Signal | None:
    s = _metric(evidence, metric_id)
    if not s or not s.get("change_point"):
        return None
    cp = s["change_point"]
    if cp["before"] <= 0 or cp["after"] < SPIKE_RATIO * cp["before"]:
        return None
    unit = s["unit"]
    return {
        "name": name,
        "summary": (f"{label} {format_value(cp['after'], unit)} since {_hhmm(cp['at'])} "
                    f"vs {format_value(cp['before'], unit)} before (×{cp['after'] / cp['before']:.0f})"),
        "facts": {"before": cp["before"], "after": cp["after"], "since_ts": cp["at"], "ratio": cp["after"] / cp["before"]},
    }


def _hhmm(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M UTC")


def _deploy(evidence: list[Evidence]) -> Signal | None:
    for ev in evidence:
        if ev.kind == "deploys" and ev.ok and ev.data.get("in_window"):
            cur = ev.data["current"]
            hours = ev.data["since_current_s"] / 3600
            weight = f" on a {cur['canary_weight']}% canary" if cur.get("canary_weight") is not None else ""
            return {
                "name": "recent_deploy",
                "summary": f"{cur['version']} deployed {hours:.1f} h ago{weight}",
                "facts": {"version": cur["version"], "time": cur["time"], "since_s": ev.data["since_current_s"]},
            }
    return None


def derive(evidence: list[Evidence]) -> list[Signal]:
    """Every signal that fires, strongest first."""
    out = [
        _memory(evidence),
        _spike(evidence, "error_ratio", "error_spike", "5xx ratio"),
        _spike(evidence, "latency_p99", "latency_regression", "p99 latency"),
        _deploy(evidence),
    ]
    return [s for s in out if s]
