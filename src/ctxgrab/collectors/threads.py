"""Collector ``threads``: the service's JVM thread dumps, read together in time order.

Params: ``{"paths": ["threads/*.txt", ...]}``: globs resolved against the config's folder. Each
file may be a ``jstack -l`` / ``jcmd PID Thread.print -l`` output, a stdout or container log with
``kill -3`` dumps inside, or a JDK 21+ ``Thread.dump_to_file -format=json`` file; several dumps of
one JVM taken seconds apart are compared (threads stuck in the same frames, pool growth).

Config: a service's ``thread_dumps: ["threads/*.txt"]`` becomes one ``threads`` collector instance.

Payload (``ev.data``): the summary of :func:`ctxgrab.analysis.threaddump.summarize` (``dumps``,
``threads``, ``states``, ``pools``, ``exhausted``, ``deadlocks``, ``contention``, ``hot_stacks``,
``across``, ``left_out``, ``partial``, ``warnings``), with ``files`` relative to the config's folder.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from .. import parsebudget
from ..evidence import Evidence, Status
from . import CollectRequest, find_inputs, relative_path

__all__ = ["collect"]

KIND = "threads"
TITLE = "JVM threads"



def _analyse(paths: list[str]) -> dict[str, Any]:
    from ..analysis.threaddump import read_thread_dump_files, summarize

    return summarize(read_thread_dump_files(paths))


def _outside_window(data: dict[str, Any], request: CollectRequest) -> list[str]:
    """A dump is a moment: say when the latest one was not taken inside the incident's window."""
    from ..timeutil import format_time, parse_time

    when = data["dumps"][-1].get("time")
    if not when:
        return ["the dumps carry no time: it is not known whether they show the incident"]
    t = parse_time(when)
    if request.window.start <= t <= request.window.end:
        return []
    return [f"the latest dump was taken {format_time(t)}, outside the window "
            f"({format_time(request.window.start)} → {format_time(request.window.end)}): it may not show the incident"]


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """Parse every matching dump off the event loop and summarise them as one JVM's."""
    name = str(params.get("name", KIND))
    inputs = find_inputs(request, params, KIND, TITLE, "thread_dumps")
    if isinstance(inputs, Evidence):
        return inputs
    try:
        data = await parsebudget.arun(_analyse, inputs.files, what=f"thread dump analysis of {inputs.source}")
    except parsebudget.ParseBudgetExceeded as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=inputs.source,
                               status=Status.timeout if e.limit == "deadline" else Status.error)
    except InputError as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=inputs.source)
    rel = {p: relative_path(p, request) for p in inputs.files}
    data["files"] = [rel.get(f, f) for f in data["files"]]
    for d in data["dumps"]:
        d["source"] = rel.get(d["source"], d["source"])
    warnings = [w.replace(base, "") for w in data.get("warnings", [])
                for base in [str(request.base_dir) + os.sep]]
    warnings += [f"no file matches {m}" for m in inputs.missing]
    warnings += _outside_window(data, request)
    if data.get("partial"):
        warnings.insert(0, "partial result: a dump is damaged or cut short; figures cover what was readable")
    return Evidence(kind=KIND, name=name, title=TITLE, source=inputs.source, data=data, warnings=warnings)
