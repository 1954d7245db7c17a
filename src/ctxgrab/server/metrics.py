"""Prometheus text-format metrics for one server instance (no global registry).

>>> m = Metrics()
>>> m.inc("ctxgrab_webhooks_received_total")
>>> "ctxgrab_webhooks_received_total 1" in m.render()
True
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics", "HELP"]

HELP = {
    "ctxgrab_webhooks_received_total": ("counter", "Webhook requests received on /webhooks/pagerduty"),
    "ctxgrab_webhooks_rejected_total": ("counter", "Webhook requests rejected, by reason (signature, too_large, malformed)"),
    "ctxgrab_webhooks_accepted_total": ("counter", "Webhook requests answered 202, by outcome (queued, requeued, coalesced, duplicate, ignored)"),
    "ctxgrab_jobs_queued_total": ("counter", "Jobs queued or queued again"),
    "ctxgrab_jobs_done_total": ("counter", "Jobs that finished a run"),
    "ctxgrab_jobs_failed_total": ("counter", "Jobs that failed for good"),
    "ctxgrab_jobs_retried_total": ("counter", "Job runs rescheduled after a failure, by cause"),
    "ctxgrab_jobs_abandoned_total": ("counter", "Job runs that stopped without writing, by cause (lease_lost: another replica holds the job)"),
    "ctxgrab_notes_total": ("counter", "Note writes, by action (created, updated, unchanged, kept)"),
    "ctxgrab_pagerduty_responses_total": ("counter", "PagerDuty REST responses, by status (error = no response)"),
    "ctxgrab_collection_duration_seconds": ("histogram", "Time to build one incident prompt"),
    "ctxgrab_jobs": ("gauge", "Jobs in the queue, by state"),
    "ctxgrab_circuit_open": ("gauge", "1 while the circuit breaker of a downstream is open"),
}

_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    """Thread-safe counters and one histogram; :meth:`render` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._hist: dict[str, list[float]] = {}

    def inc(self, name: str, by: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += by

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def observe(self, name: str, value_s: float) -> None:
        with self._lock:
            h = self._hist.setdefault(name, [0.0] * (len(_BUCKETS_S) + 2))  # buckets…, count, sum
            for i, le in enumerate(_BUCKETS_S):
                if value_s <= le:
                    h[i] += 1
            h[-2] += 1
            h[-1] += value_s

    def render(self, gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None = None) -> str:
        with self._lock:
            counters = dict(self._counters)
            hist = {k: list(v) for k, v in self._hist.items()}
        series: dict[str, list[str]] = defaultdict(list)
        for (name, labels), value in sorted({**counters, **(gauges or {})}.items()):
            series[name].append(f"{name}{_labels(labels)} {_num(value)}")
        for name, h in hist.items():
            for i, le in enumerate(_BUCKETS_S):
                series[name].append(f'{name}_bucket{{le="{le}"}} {_num(h[i])}')
            series[name].append(f'{name}_bucket{{le="+Inf"}} {_num(h[-2])}')
            series[name].append(f"{name}_count {_num(h[-2])}")
            series[name].append(f"{name}_sum {h[-1]:.6f}")
        out: list[str] = []
        for name in sorted(set(series) | set(HELP)):
            kind, text = HELP.get(name, ("untyped", name))
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(series.get(name, []))
        return "\n".join(out) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_esc(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
