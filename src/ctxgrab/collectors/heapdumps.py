"""Collector ``heap``: what holds the memory, from the service's heap dumps or class histograms.

Params: ``{"paths": ["heap/*.hprof*", ...]}``: globs resolved against the config's folder.
The newest matching file (by modification time) is analysed: an HPROF dump (plain or
gzipped) gets its dominator tree, retained sizes and leak suspects; a ``jmap -histo`` /
``jcmd GC.class_histogram`` text gets its class histogram. When two or more files match,
the previous one is the baseline and the Evidence says what grew between them, which is
how dumps alone can show a leak.

Config: a service's ``heap_dumps: ["heap/*.hprof*"]`` becomes one ``heap`` collector instance.
A large dump takes time (about 1 s per million objects with numba); give the collector a
deadline that fits.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from ..evidence import Evidence, Status
from .. import parsebudget
from . import CollectRequest, find_inputs, relative_path

__all__ = ["collect"]

KIND = "heap"
TITLE = "Heap dump"



def _analyse(newest: str, previous: str | None) -> dict[str, Any]:
    from ..analysis.dominators import analyze_heap_file

    return analyze_heap_file(newest, baseline=previous)


async def _budgeted(newest: str, previous: str | None) -> dict[str, Any]:
    files = [newest] + ([previous] if previous else [])
    return await parsebudget.arun(_analyse, newest, previous, what=f"heap dump analysis of {newest}",
                                  map_bytes=sum(_size(f) for f in files))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """Analyse the newest heap file, with the one before it as baseline, off the event loop."""
    name = str(params.get("name", KIND))
    inputs = find_inputs(request, params, KIND, TITLE, "heap_dumps")
    if isinstance(inputs, Evidence):
        return inputs
    # Newest first; the name breaks ties (dumps copied together share a modification time).
    files = sorted(inputs.files, key=lambda p: (os.path.getmtime(p), p), reverse=True)
    missing, source = inputs.missing, inputs.source
    newest, previous = files[0], (files[1] if len(files) > 1 else None)
    warnings = [f"no file matches {m}" for m in missing]
    try:
        data = await _budgeted(newest, previous)
    except parsebudget.ParseBudgetExceeded as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=newest,
                               status=Status.timeout if e.limit == "deadline" else Status.error)
    except InputError as e:
        if previous is None:
            return Evidence.failed(KIND, name, TITLE, str(e), source=newest)
        # The baseline may be the broken one: keep the newest file's analysis.
        try:
            data = await _budgeted(newest, None)
        except InputError as e2:
            return Evidence.failed(KIND, name, TITLE, str(e2), source=newest)
        warnings.append(f"baseline not usable: {e}")
    except ImportError as e:  # numpy is the ``heap`` extra
        return Evidence.failed(KIND, name, TITLE, f"heap analysis needs numpy, a ctxgrab dependency: pip install numpy ({e})",
                               source=newest)
    # Paths as the config names them: the prompt must not depend on where the checkout lives.
    data["file"] = relative_path(newest, request)
    if data.get("growth"):
        data["growth"]["baseline_file"] = relative_path(str(data["growth"]["baseline_file"]), request)
    warnings = list(data.get("warnings", [])) + warnings
    if data.get("partial"):
        warnings.insert(0, "partial result: the file is damaged or cut short; figures cover what was readable")
    title = TITLE if str(data.get("format", "")).startswith("HPROF") else "Class histogram"
    return Evidence(kind=KIND, name=name, title=title, source=newest, data=data, warnings=warnings)
