"""Collector ``staging``: how the service's staging twin compares with production.

"Reproduce in staging with production-like traffic" is only advice until someone says
how far staging is from production. This collector states it: which version staging
runs, its request rate against production's, and its table sizes against production's.
It runs after the other collectors (production's numbers are their Evidence) and
collects staging with the same collectors and packs, only with staging's labels and
entries (the service's ``staging:``).

Payload (``data``)::

    {"version": {"staging": "v2.3.2", "staging_time": "...", "production": "v2.3.2"},
     "rates": [{"metric": "http.request_rate", "title": "Request rate",
                "staging": 38.1, "production": 415.0, "share": 0.092}],   # window means
     "tables": [{"table": "payments", "staging_rows": 1.2e6, "production_rows": 5.0e7, "share": 0.024}],
     "labels": {"env": "staging"},
     "gaps": ["staging's request rate: no saved response staging.request_rate.json in ..."]}
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio

from ..evidence import Evidence, Status
from . import CollectRequest, load

__all__ = ["collect"]

KIND = "staging"
TITLE = "Staging against production"
# Pack metrics whose level says how much traffic a deployment takes.
RATE_UNITS = ("rps", "ops", "qps")


def _mean(ev: Evidence | None) -> float | None:
    if ev is None or not ev.ok or not ev.data.get("series"):
        return None
    values = [s["summary"].get("mean") for s in ev.data["series"] if s.get("summary")]
    values = [v for v in values if v is not None]
    return sum(values) if values else None  # a rate summed over series is the service's rate


def _current_version(ev: Evidence | None) -> tuple[str | None, str | None]:
    if ev is None or not ev.ok:
        return None, None
    cur = ev.data.get("current") or {}
    return cur.get("version"), cur.get("time")


def _staging_request(request: CollectRequest, labels: dict[str, str]) -> CollectRequest:
    cfg = request.config.model_copy(deep=True)
    svc = cfg.services[request.service]
    cfg.services[request.service] = svc.model_copy(update={"labels": {**svc.labels, **labels}})
    cfg._path = request.config.path  # type: ignore[attr-defined]
    return replace(request, config=cfg, extra={k: v for k, v in request.extra.items() if k != "evidence"})


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """Staging's version, traffic and data size beside production's."""
    from ..packs import fill, load_pack

    name = str(params.get("name", KIND))
    svc = request.service_config
    st = svc.staging
    if st is None:
        return Evidence.failed(KIND, name, TITLE, "no staging: configured for this service", status=Status.skipped)
    prod = {ev.name: ev for ev in request.extra.get("evidence") or []}
    sreq = _staging_request(request, st.labels)
    gaps: list[str] = []
    data: dict[str, Any] = {"labels": dict(st.labels), "version": {}, "rates": [], "tables": []}
    results: dict[str, Evidence] = {}

    async def run(key: str, kind: str, p: dict[str, Any]) -> None:
        try:
            results[key] = await load(kind)(sreq, p)
        except Exception as e:  # noqa: BLE001 - one staging fact failing never stops the others
            results[key] = Evidence.failed(kind, key, key, f"{type(e).__name__}: {e}")

    rate_metrics = []
    source = params.get("metrics_source")
    cfg = request.config
    user_packs = cfg.base_dir / cfg.defaults.packs_dir if cfg.defaults.packs_dir else None
    labels = {**svc.labels, **st.labels}
    for pack_name in svc.packs:
        pack = load_pack(pack_name, user_packs)
        for m in pack.metrics:
            if m.unit in RATE_UNITS:
                rate_metrics.append((f"{pack.name}.{m.id}", m, pack))
    async with anyio.create_task_group() as tg:
        if st.deploys is not None:
            tg.start_soon(run, "deploys", "deploys", st.deploys.model_dump())
        elif st.kubernetes is not None:
            tg.start_soon(run, "deploys", "kubernetes", st.kubernetes.model_dump(exclude_none=True))
        if source and st.labels:
            for key, m, pack in rate_metrics:
                tg.start_soon(run, f"metric:{key}", "metrics", {
                    "id": m.id, "name": f"staging.{key}", "title": m.title, "pack": pack.name,
                    "query": fill(m.query, labels), "unit": m.unit, "source": source,
                    "saved_as": f"staging.{m.id}"})
        if st.database is not None:
            tables = st.database.tables or (svc.database.tables if svc.database else [])
            tg.start_soon(run, "postgres", "postgres", st.database.model_dump(exclude_none=True) | {"tables": tables})

    # Version
    s_ver, s_time = _current_version(results.get("deploys"))
    p_ver, _ = _current_version(prod.get("deploys"))
    if st.deploys is None and st.kubernetes is None:
        gaps.append("staging's version: no staging deploys: or kubernetes: entry")
    elif s_ver is None:
        ev = results.get("deploys")
        gaps.append(f"staging's version: {ev.reason if ev is not None and ev.reason else 'not found'}")
    data["version"] = {"staging": s_ver, "staging_time": s_time, "production": p_ver}

    # Traffic
    if not st.labels:
        gaps.append("staging's traffic: no staging labels to select its series")
    elif not rate_metrics:
        gaps.append("staging's traffic: none of the service's packs has a request-rate metric")
    for key, m, _pack in rate_metrics:
        sev = results.get(f"metric:{key}")
        s_rate, p_rate = _mean(sev), _mean(prod.get(key))
        if s_rate is None:
            gaps.append(f"staging's {m.title.lower()}: {sev.reason if sev is not None and sev.reason else 'no data'}")
            continue
        data["rates"].append({"metric": key, "title": m.title, "unit": m.unit, "staging": s_rate,
                              "production": p_rate, "share": (s_rate / p_rate) if p_rate else None})

    # Data size
    pg = results.get("postgres")
    if st.database is not None:
        prod_pg = next((ev for ev in prod.values() if ev.kind == "postgres" and ev.ok), None)
        prod_rows = {t["name"]: t.get("estimated_rows") for t in (prod_pg.data.get("tables", []) if prod_pg else [])}
        if pg is None or not pg.ok:
            gaps.append(f"staging's database: {pg.reason if pg is not None and pg.reason else 'not read'}")
        else:
            for t in pg.data.get("tables", []):
                s_rows, p_rows = t.get("estimated_rows"), prod_rows.get(t["name"])
                data["tables"].append({"table": t["name"], "staging_rows": s_rows, "production_rows": p_rows,
                                       "share": (s_rows / p_rows) if s_rows is not None and p_rows else None})
            if prod_pg is None:
                gaps.append("production's database was not read, so table sizes cannot be compared")
    if not (s_ver or data["rates"] or data["tables"]):
        return Evidence(kind=KIND, name=name, title=TITLE, status=Status.empty, data=data | {"gaps": gaps},
                        reason="no staging fact could be read: " + "; ".join(gaps)[:250], warnings=gaps)
    data["gaps"] = gaps
    return Evidence(kind=KIND, name=name, title=TITLE, data=data, warnings=list(gaps))
