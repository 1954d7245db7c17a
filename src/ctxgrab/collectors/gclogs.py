"""Collector ``gc``: the service's JVM GC logs, summarised with a verdict.

Params: ``{"paths": ["gc/gc.log*", ...]}``: globs resolved against the config's folder
(``request.resolve``). Rotated segments (``gc.log.0``, ``gc.log.1``, …, ``gc.log``) are read in
order as one JVM's log. Events outside the incident window are left out when the log carries
wall-clock times. A file that is not a GC log is a warning on the Evidence and the others still
count; nothing usable gives Evidence with status ``empty`` or ``error`` and a one-line reason.

Config: a service's ``gc_logs: ["gc/gc.log*"]`` becomes one ``gc`` collector instance.
"""

from __future__ import annotations

from typing import Any

from ..analysis.gclog import parse_gc_files, restrict, summarize
from ..errors import InputError
from ..evidence import Evidence, Status
from .. import parsebudget
from . import CollectRequest, find_inputs

__all__ = ["collect"]

KIND = "gc"
TITLE = "JVM GC log"


def _analyse(paths: list[str], start: Any, end: Any) -> dict[str, Any]:
    log = parse_gc_files(paths)
    log = restrict(log, start, end)
    return summarize(log)


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """Find the GC log files, parse and summarise them off the event loop."""
    name = str(params.get("name", KIND))
    inputs = find_inputs(request, params, KIND, TITLE, "gc_logs")
    if isinstance(inputs, Evidence):
        return inputs
    # The JVM's lock files sit beside its rotated logs.
    paths = [p for p in inputs.files if not p.endswith((".lck", ".lock"))]
    missing, source = inputs.missing, inputs.source
    try:
        data = await parsebudget.arun(_analyse, paths, request.window.start, request.window.end,
                                      what=f"GC log analysis of {', '.join(paths)}")
    except parsebudget.ParseBudgetExceeded as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=source,
                               status=Status.timeout if e.limit == "deadline" else Status.error)
    except InputError as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=source)
    warnings = list(data.get("warnings", []))
    warnings += [f"no file matches {m}" for m in missing]
    if not data["pauses"]["count"] and not data["live_set"]["points"]:
        return Evidence(kind=KIND, name=name, title=TITLE, status=Status.empty, source=source, data=data,
                        warnings=warnings,
                        reason=f"no GC events in the window in {len(data['files'])} file(s)")
    return Evidence(kind=KIND, name=name, title=TITLE, source=source, data=data, warnings=warnings)
