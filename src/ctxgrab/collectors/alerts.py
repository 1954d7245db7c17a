"""Alerts for the service: what fires now, and what fired inside the window.

Three views, all filtered to alerts that carry every one of the service's
``labels`` with the same value (the same rule a PromQL selector applies):

- Prometheus ``/api/v1/alerts``: firing and pending alerts of its rules, now;
- Alertmanager ``/api/v2/alerts`` (``active``, ``silenced``, ``inhibited``,
  ``unprocessed``): what was routed, and whether it is silenced or inhibited;
- the ``ALERTS`` series over the window (``query_range``): when each alert fired
  and for how long, including alerts that have resolved since (Alertmanager and
  ``/api/v1/alerts`` forget those).

Params: ``source`` (a prometheus/victoriametrics source name, or None) and
``alertmanagers`` (names of alertmanager sources). A source that fails becomes a
warning; only when every one fails is the evidence an error.

Payload (``data``)::

    {"selector": 'namespace="prod",service="payments"',
     "active": [{"alertname", "state": "firing|pending", "severity", "since_ts",
                 "summary", "labels", "origin": ["prometheus", "alertmanager"],
                 "silenced": false, "inhibited": false}],
     "history": [{"alertname", "severity", "firing_s", "episodes": [{start, end, duration_s, ongoing}]}],
     "history_total": 1, "step_s": 60}

Example config hookup (the planner adds one instance per service)::

    sources:
      prom: {type: prometheus, url: "http://prometheus:9090"}
      am: {type: alertmanager, url: "http://alertmanager:9093"}
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from ..analysis.series import episodes, pick_step
from ..evidence import Evidence, Status
from ..packs import selector
from ..timeutil import parse_time
from . import CollectRequest
from .metrics import LIVE_TYPES, AsyncPromClient, PromFault, _deadline, _request_timeout, live_client

__all__ = ["KIND", "collect", "matches", "merge_active", "history_from_series", "MAX_ALERTS"]

KIND = "alerts"
MAX_ALERTS = 10  # active alerts and history rows shown; the payload says how many there were
_IGNORED = {"alertname", "alertstate", "__name__"}


def matches(alert_labels: dict[str, str], service_labels: dict[str, str]) -> bool:
    """An alert belongs to the service when it carries every service label with the same value.

    >>> matches({"alertname": "HeapHigh", "service": "payments", "namespace": "prod"}, {"service": "payments"})
    True
    >>> matches({"alertname": "DiskFull", "instance": "db-1"}, {"service": "payments"})
    False
    """
    return all(alert_labels.get(k) == v for k, v in service_labels.items())


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


def _one_line(text: Any, limit: int = 200) -> str | None:
    if not text:
        return None
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("alertstate", "__name__")))


def merge_active(
    prometheus: list[dict[str, Any]], alertmanager: list[dict[str, Any]], service_labels: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per alert (same labels) from both APIs; firing before pending, then oldest first.

    ``prometheus`` items are ``/api/v1/alerts`` alerts, ``alertmanager`` items ``/api/v2/alerts`` alerts.
    """
    rows: dict[Any, dict[str, Any]] = {}
    for a in prometheus:
        labels = a.get("labels") or {}
        if not matches(labels, service_labels):
            continue
        row = rows.setdefault(_key(labels), _row(labels, a.get("annotations") or {}))
        row["state"] = a.get("state") or row["state"]
        row["since_ts"] = _ts(a.get("activeAt")) or row["since_ts"]
        try:
            row["value"] = float(a.get("value")) if a.get("value") is not None else None
        except (TypeError, ValueError):
            row["value"] = None
        row["origin"].append("prometheus")
    for a in alertmanager:
        labels = a.get("labels") or {}
        if not matches(labels, service_labels):
            continue
        row = rows.setdefault(_key(labels), _row(labels, a.get("annotations") or {}))
        status = a.get("status") or {}
        row["state"] = row["state"] if row["state"] != "unknown" else "firing"
        row["since_ts"] = row["since_ts"] or _ts(a.get("startsAt"))
        row["silenced"] = bool(status.get("silencedBy"))
        row["inhibited"] = bool(status.get("inhibitedBy"))
        row["receivers"] = sorted(r.get("name", "") for r in a.get("receivers") or [])
        row["origin"].append("alertmanager")
    order = {"firing": 0, "pending": 1}
    return sorted(rows.values(), key=lambda r: (order.get(r["state"], 2), r["since_ts"] or 0, r["alertname"]))


def _row(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "alertname": labels.get("alertname", "?"),
        "state": "unknown",
        "severity": labels.get("severity"),
        "since_ts": None,
        "summary": _one_line(annotations.get("summary") or annotations.get("description")),
        "labels": {k: v for k, v in sorted(labels.items()) if k not in _IGNORED},
        "origin": [],
        "silenced": False,
        "inhibited": False,
        "value": None,
    }


def history_from_series(series: list[dict[str, Any]], step_s: float, until_s: float) -> list[dict[str, Any]]:
    """Firing episodes per alert from ``ALERTS`` ``query_range`` series (``alertstate="firing"`` only).

    >>> s = [{"labels": {"alertname": "A", "alertstate": "firing"}, "points": [(0, 1), (60, 1), (120, 1)]}]
    >>> h = history_from_series(s, 60, until_s=1000)
    >>> h[0]["alertname"], h[0]["firing_s"], h[0]["episodes"][0]["ongoing"]
    ('A', 120.0, False)
    """
    out = []
    for s in series:
        labels = s["labels"]
        if labels.get("alertstate", "firing") != "firing" or not s["points"]:
            continue
        eps = episodes([t for t, _ in s["points"]], step_s, until_s=until_s)
        out.append({
            "alertname": labels.get("alertname", "?"),
            "severity": labels.get("severity"),
            "labels": {k: v for k, v in sorted(labels.items()) if k not in _IGNORED},
            "episodes": eps,
            "firing_s": sum(e["duration_s"] for e in eps),
            "first_ts": eps[0]["start"],
        })
    out.sort(key=lambda h: (h["first_ts"], h["alertname"]))
    return out


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    title = params.get("title") or "Alerts"
    base = {"kind": KIND, "name": params.get("name") or "alerts", "title": title}
    labels = request.service_config.labels if request.service in request.config.services else {}
    prom_name = params.get("source")
    am_names = list(params.get("alertmanagers") or [])
    sources = request.config.sources
    if prom_name and (prom_name not in sources or sources[prom_name].type not in LIVE_TYPES):
        prom_name = None
    if not prom_name and not am_names:
        return Evidence.failed(**base, reason="no Prometheus or Alertmanager source configured", status=Status.skipped)
    if not labels:
        return Evidence.failed(
            **base, status=Status.skipped,
            reason="the service has no labels, so no alert can be attributed to it — fix: set services.<name>.labels",
        )
    deadline = _deadline(request)
    step_s = pick_step(request.window.length.total_seconds())
    results: dict[str, Any] = {}
    failures: list[str] = []
    warnings: list[str] = []
    used: list[str] = []

    async def prom_active(client: AsyncPromClient) -> None:
        try:
            reply = await client.get("/api/v1/alerts", None, deadline)
            results["prom_active"] = (reply.data or {}).get("alerts") or []
            if not results["prom_active"] and sources[prom_name].type == "victoriametrics" and not am_names:
                warnings.append("VictoriaMetrics lists active alerts only when -vmalert.proxyURL is set; "
                                "an empty list may mean none are known here (add an alertmanager source)")
            warnings.extend(f"{client.what} warning: {w}" for w in reply.warnings)
        except PromFault as fault:
            note = str(fault)
            if sources[prom_name].type == "victoriametrics":
                note += " (VictoriaMetrics serves alerts only with -vmalert.proxyURL)"
            warnings.append(f"active alerts not read: {note}")

    async def prom_history(client: AsyncPromClient) -> None:
        lo, hi = request.window.start.timestamp(), request.window.end.timestamp()
        query = f'ALERTS{{alertstate="firing",{selector(labels)}}}'
        try:
            reply = await client.query_range(query, lo, hi, step_s, deadline)
            from .metrics import _series_from_data

            results["history"] = history_from_series(_series_from_data(reply.data, "ALERTS"), step_s, hi)
            warnings.extend(f"{client.what} warning: {w}" for w in reply.warnings)
        except PromFault as fault:
            failures.append(f"alert history: {fault}")
        except Exception as e:  # noqa: BLE001 - a malformed reply is a gap, not a crash
            failures.append(f"alert history: {e}")

    async def prom_both(name: str) -> None:
        try:
            async with live_client(request, name, sources[name], _request_timeout(request, sources[name])) as client:
                used.append(f"{sources[name].type} {client.public_url}")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(prom_active, client)
                    tg.start_soon(prom_history, client)
        except PromFault as fault:
            failures.append(str(fault))

    async def am_active(name: str) -> None:
        src = sources.get(name)
        if src is None:
            failures.append(f"alertmanager source {name!r} is not defined")
            return
        try:
            async with live_client(request, name, src, _request_timeout(request, src), what="Alertmanager") as client:
                query = [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
                query += [("filter", selector({k: v})) for k, v in sorted(labels.items())]
                reply = await client.get("/api/v2/alerts", query, deadline, False)
            if not isinstance(reply.data, list):
                raise PromFault(f"Alertmanager at {client.public_url}: /api/v2/alerts did not return a list")
            results.setdefault("am_active", []).extend(reply.data)
            used.append(f"alertmanager {client.public_url}")
        except PromFault as fault:
            failures.append(str(fault))

    with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
        async with anyio.create_task_group() as tg:
            if prom_name:
                tg.start_soon(prom_both, prom_name)
            for name in am_names:
                tg.start_soon(am_active, name)
    got_any = any(k in results for k in ("prom_active", "history", "am_active"))
    if not got_any:
        reason = "; ".join(failures + [w for w in warnings if w.startswith("active alerts not read")])
        return Evidence.failed(**base, reason=reason or "no answer in time", status=Status.error,
                               source=", ".join(used) or None)
    warnings += failures
    active = merge_active(results.get("prom_active", []), results.get("am_active", []), labels)
    history = results.get("history", [])
    data = {
        "selector": selector(labels),
        "active": active[:MAX_ALERTS],
        "active_total": len(active),
        "history": history[:MAX_ALERTS],
        "history_total": len(history),
        "history_read": "history" in results,
        "step_s": step_s,
    }
    return Evidence(**base, source=", ".join(used), data=data, warnings=warnings)
