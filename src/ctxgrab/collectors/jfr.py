"""Collector ``jfr``: JDK Flight Recorder files, read with the JDK's own ``jfr`` tool.

Params: ``{"paths": ["jfr/*.jfr"]}``: globs resolved against the config's folder; the newest file
(by modification time) is read. ``jfr summary`` gives the span and event counts, and one
``jfr print --stack-depth 8 --events …`` (text, streamed line by line and folded as it arrives)
gives hot methods, allocation sites, monitor and park waits, GC pauses and exceptions
(:func:`ctxgrab.analysis.jfr.summarize_jfr_events`). Both run under the collector's timeout and
are killed past it; at most ``MAX_EVENTS`` events are read.

Without a JDK on the machine (no ``jfr`` on PATH nor under ``$JAVA_HOME/bin``) the Evidence says
so plainly (status ``error``): the recording itself is fine.

Config: a service's ``flight_recordings: ["jfr/*.jfr"]`` becomes one ``jfr`` collector instance.

Payload (``ev.data``): ``file``, ``recording`` (``start``, ``duration_s``, ``events`` per type from
``jfr summary``), and ``cpu``, ``allocation``, ``monitor_enter``, ``park``, ``gc``, ``exceptions``,
``throwables``, ``events_read``, ``truncated`` (see :mod:`ctxgrab.analysis.jfr`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ..analysis.jfr import EVENTS, MAX_EVENTS, STACK_DEPTH, parse_summary, summarize_jfr_events
from ..errors import InputError
from ..evidence import Evidence
from . import CollectRequest, find_inputs, relative_path, run_blocking

__all__ = ["collect", "find_jfr_tool", "read_recording", "NoJdkError"]

KIND = "jfr"
TITLE = "JFR recording"


class NoJdkError(InputError):
    """The ``jfr`` tool is not on this machine."""


def find_jfr_tool(env: dict[str, str] | None = None) -> str | None:
    """The ``jfr`` executable: ``$JAVA_HOME/bin/jfr``, else the one on PATH."""
    env = dict(os.environ) if env is None else env
    home = env.get("JAVA_HOME")
    if home:
        cand = Path(home) / "bin" / "jfr"
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("jfr", path=env.get("PATH"))


def read_recording(path: str | Path, timeout_s: float = 30.0, tool: str | None = None,
                   max_events: int = MAX_EVENTS) -> dict[str, Any]:
    """Summarise one ``.jfr`` file with the JDK's ``jfr`` tool, within ``timeout_s`` in all.

    Raises :class:`NoJdkError` without a JDK and :class:`InputError` when the tool rejects the file
    or overruns the time.
    """
    tool = tool or find_jfr_tool()
    if tool is None:
        raise NoJdkError("no JDK on this machine: the `jfr` tool (JDK 11+) is not on PATH nor under "
                         "$JAVA_HOME/bin — fix: install a JDK or set JAVA_HOME to read flight recordings")
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    with open(path, "rb") as fh:
        if fh.read(4) != b"FLR\x00":
            raise InputError(f"{path}: not a JFR recording (the file does not start with the FLR magic)")
    deadline = time.monotonic() + timeout_s
    try:
        summ = subprocess.run([tool, "summary", path], capture_output=True, text=True,
                              timeout=max(1.0, deadline - time.monotonic()), errors="replace")
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: `jfr summary` did not finish within {timeout_s:.0f} s") from None
    if summ.returncode != 0:
        raise InputError(f"{path}: `jfr summary` failed: {(summ.stderr or summ.stdout).strip()[:200]}")
    recording = parse_summary(summ.stdout)
    counts = recording["events"]
    wanted = [e for e in EVENTS if counts.get(e)]
    # Only the counts the prompt reads: a recording lists some 150 event types.
    recording["events"] = {e: counts.get(e, 0) for e in EVENTS}
    recording["total_events"] = sum(counts.values())
    data: dict[str, Any] = {"recording": recording}
    proc = subprocess.Popen([tool, "print", "--stack-depth", str(STACK_DEPTH), "--events", ",".join(wanted or EVENTS),
                             path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(max(0.5, deadline - time.monotonic()), _kill)
    timer.start()
    try:
        assert proc.stdout is not None
        data.update(summarize_jfr_events(proc.stdout, max_events=max_events))
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()  # enough events read, or the reader failed
        _out, err = proc.communicate(timeout=10)
    if timed_out.is_set():
        data["truncated"] = True
        data.setdefault("warnings", []).append(
            f"`jfr print` did not finish within {timeout_s:.0f} s: figures cover the first "
            f"{data['events_read']:,} events")
    elif proc.returncode not in (0, None) and not data["truncated"] and data["events_read"] == 0:
        raise InputError(f"{path}: `jfr print` failed: {(err or '').strip()[:200]}")
    if data["truncated"] and not timed_out.is_set():
        data.setdefault("warnings", []).append(f"only the first {max_events:,} events were read")
    return data


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """Read the newest matching recording with the JDK's ``jfr`` tool, off the event loop."""
    name = str(params.get("name", KIND))
    inputs = find_inputs(request, params, KIND, TITLE, "flight_recordings")
    if isinstance(inputs, Evidence):
        return inputs
    files = sorted(inputs.files, key=lambda p: (os.path.getmtime(p), p), reverse=True)
    newest = files[0]
    # Leave the engine a moment to record the result before its own deadline.
    budget = max(1.0, float(params.get("timeout_s") or request.timeout_s) - 1.0)
    try:
        data = await run_blocking(read_recording, newest, budget)
    except InputError as e:
        return Evidence.failed(KIND, name, TITLE, str(e), source=newest)
    try:
        data["file"] = relative_path(newest, request)
    except ValueError:
        data["file"] = newest
    warnings = list(data.pop("warnings", []))
    if len(files) > 1:
        warnings.append(f"{len(files) - 1} older recording(s) not read; the newest is {data['file']}")
    warnings += [f"no file matches {m}" for m in inputs.missing]
    return Evidence(kind=KIND, name=name, title=TITLE, source=newest, data=data, warnings=warnings)
