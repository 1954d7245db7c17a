"""Plan and collect: the service's packs and entries become collector instances,
which run concurrently, each under its own timeout inside one global deadline.

A failure never stops the run: an exception becomes Evidence with status
``error``, a collector still running at its deadline becomes ``timeout``, and
every Evidence passes through redaction before anyone sees it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import anyio

from . import collectors, parsebudget
from .collectors import CollectRequest
from .config import Config
from .errors import CtxgrabError
from .evidence import Evidence, Status
from .packs import fill, load_pack
from .redact import redact_evidence
from .telemetry import get_tracer

__all__ = ["Planned", "plan", "collect_all"]


@dataclass(frozen=True)
class Planned:
    """One collector instance of a run."""

    kind: str
    name: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    # Runs after every other collector and sees their (redacted) Evidence as
    # ``request.extra["evidence"]``: the change between versions needs the deploy history.
    after: bool = False


def plan(config: Config, service: str) -> list[Planned]:
    """The collector instances for ``service``, in the order the prompt shows them."""
    svc = config.service(service)
    out: list[Planned] = []
    metrics_source = config.metrics_source_for(svc)
    user_packs = config.base_dir / config.defaults.packs_dir if config.defaults.packs_dir else None
    for pack_name in svc.packs:
        pack = load_pack(pack_name, user_packs)
        for m in pack.metrics:
            out.append(
                Planned(
                    "metrics",
                    f"{pack.name}.{m.id}",
                    m.title,
                    {"id": m.id, "name": f"{pack.name}.{m.id}", "title": m.title, "pack": pack.name,
                     "query": fill(m.query, svc.labels), "unit": m.unit, "limit_of": m.limit_of,
                     "source": metrics_source},
                )
            )
    for m in svc.metrics:
        out.append(
            Planned(
                "metrics",
                m.id,
                m.title or m.id,
                {"id": m.id, "name": m.id, "title": m.title or m.id, "query": fill(m.query, svc.labels),
                 "unit": m.unit, "limit_of": m.limit_of, "source": m.source or metrics_source},
            )
        )
    live_metrics = metrics_source if metrics_source and config.sources[metrics_source].type in (
        "prometheus", "victoriametrics") else None
    alertmanagers = [n for n, src in config.sources.items() if src.type == "alertmanager"]
    if svc.labels and (live_metrics or alertmanagers):
        # Alerts belong to the service when they carry every one of its labels.
        out.append(Planned("alerts", "alerts", "Alerts", {"source": live_metrics, "alertmanagers": alertmanagers}))
    for entry in svc.logs:
        if entry.source:
            out.append(Planned("loki", f"loki:{entry.source}", entry.title or f"Logs ({entry.source})",
                               entry.model_dump()))
        else:
            out.append(Planned("logs", f"logs:{entry.path}", entry.title or f"Logs {entry.path}",
                               entry.model_dump()))
    for entry in svc.traces:
        where = entry.path or entry.source
        out.append(Planned("traces", f"traces:{where}", entry.title or f"Traces ({where})",
                           entry.model_dump(exclude_none=True)))
    if svc.gc_logs:
        out.append(Planned("gc", "gc", "JVM GC log", {"paths": list(svc.gc_logs)}))
    if svc.heap_dumps:
        # Production dumps take about a second per million objects: only the global deadline bounds them.
        out.append(Planned("heap", "heap", "Heap dump", {"paths": list(svc.heap_dumps)},
                           timeout_s=config.defaults.deadline_s))
    if svc.thread_dumps:
        out.append(Planned("threads", "threads", "JVM threads", {"paths": list(svc.thread_dumps)}))
    if svc.flight_recordings:
        out.append(Planned("jfr", "jfr", "JFR recording", {"paths": list(svc.flight_recordings)}))
    if svc.kubernetes:
        out.append(Planned("kubernetes", "deploys", "Deployment", svc.kubernetes.model_dump(exclude_none=True)))
    elif svc.deploys:
        out.append(Planned("deploys", "deploys", "Deployments", svc.deploys.model_dump()))
    if svc.database:
        out.append(Planned("postgres", "postgres", "PostgreSQL", svc.database.model_dump(exclude_none=True)))
    if svc.settings:
        out.append(Planned("settings", "settings", "Settings", {"files": [s.model_dump() for s in svc.settings]}))
    if svc.repo:
        out.append(Planned("change", "change", "What changed", svc.repo.model_dump(), after=True))
    if svc.staging:
        out.append(Planned("staging", "staging", "Staging", {"metrics_source": svc.staging.metrics_source or metrics_source},
                           after=True))
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, CtxgrabError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc) or "no message"
    return f"{type(exc).__name__}: {text}"


async def _run_one(
    item: Planned,
    request: CollectRequest,
    deadline: float,
    tracer: Any,
    redaction: Any,
    on_done: Callable[[Evidence], None] | None,
    overrides: Mapping[str, collectors.CollectFn],
) -> Evidence:
    started = time.monotonic()
    budget = min(item.timeout_s or request.timeout_s, max(0.0, deadline - started))
    # File parsers started by this collector run under the same deadline, in a child process that is
    # killed at it, with the run's memory cap (ctxgrab.parsebudget): abandoning the wait is not enough.
    memory_mib = getattr(getattr(request.config, "defaults", None), "parse_memory_mib", None)
    # A quarter second early, so the parser's stated gap ("stopped at the 10 s deadline after 41% of
    # the file") reaches the Evidence before the collector's own timeout cancels it.
    parse_s = max(0.0, budget - 0.25)
    parsebudget._current.set(parsebudget.Budget(
        deadline=started + parse_s, deadline_s=round(parse_s, 1),
        memory_bytes=int(memory_mib) << 20 if memory_mib else parsebudget.DEFAULT_MEMORY_BYTES))
    with tracer.start_as_current_span(f"collect {item.kind}") as span:
        span.set_attribute("ctxgrab.collector", item.kind)
        span.set_attribute("ctxgrab.instance", item.name)
        ev: Evidence | None = None
        with anyio.move_on_after(budget) as scope:
            try:
                fn = overrides[item.kind] if item.kind in overrides else collectors.load(item.kind)
                ev = await fn(request, dict(item.params))
                if not isinstance(ev, Evidence):
                    raise TypeError(f"collector {item.kind!r} returned {type(ev).__name__}, not Evidence")
            except Exception as exc:  # noqa: BLE001 - the collector boundary: everything becomes Evidence
                ev = Evidence.failed(item.kind, item.name, item.title, _reason(exc))
        if scope.cancelled_caught or ev is None:
            ev = Evidence.failed(
                item.kind, item.name, item.title, f"no answer within {budget:.1f} s", status=Status.timeout
            )
        ev.duration_ms = round((time.monotonic() - started) * 1000, 1)
        # Redacted before anything leaves: spans are exported too.
        ev = redact_evidence(ev, redaction)
        span.set_attribute("ctxgrab.status", ev.status.value)
        span.set_attribute("ctxgrab.duration_ms", ev.duration_ms)
        if ev.reason:
            span.set_attribute("ctxgrab.reason", ev.reason)
    if on_done:
        on_done(ev)
    return ev


async def collect_all(
    request: CollectRequest,
    planned: list[Planned],
    *,
    deadline_s: float,
    tracer_provider: Any = None,
    redaction: Any = None,
    on_done: Callable[[Evidence], None] | None = None,
    overrides: Mapping[str, collectors.CollectFn] | None = None,
) -> list[Evidence]:
    """Run every planned collector concurrently; results in plan order, all redacted.

    ``overrides`` maps collector kinds to functions used instead of the registered
    ones for this run only (tests, embedding applications).
    """
    tracer = get_tracer(tracer_provider)
    deadline = time.monotonic() + deadline_s
    results: list[Evidence | None] = [None] * len(planned)

    async def run_phase(after: bool, req: CollectRequest) -> None:
        async def one(i: int, item: Planned) -> None:
            results[i] = await _run_one(item, req, deadline, tracer, redaction, on_done, overrides or {})

        async with anyio.create_task_group() as tg:
            for i, item in enumerate(planned):
                if item.after == after:
                    tg.start_soon(one, i, item)

    await run_phase(False, request)
    if any(item.after for item in planned):
        first = [r for r in results if r is not None]
        await run_phase(True, replace(request, extra={**request.extra, "evidence": first}))
    return [r for r in results if r is not None]
