"""``ctxgrab threads FILE...``: what the JVM's threads are doing, from thread dumps and flight recordings.

Example::

    ctxgrab threads jstack-1.txt jstack-2.txt jstack-3.txt
    ctxgrab threads container.log recording.jfr --format json

Thread dumps (``jstack -l``, ``jcmd PID Thread.print -l``, ``kill -3`` output inside a log, JDK 21
``Thread.dump_to_file -format=json``) of one JVM are read together in time order; ``.jfr`` files
are read with the JDK's ``jfr`` tool. Markdown output is the sections the incident prompt carries;
JSON is ``{"threads": summary or null, "flight_recordings": [summary, …]}``. Both are redacted
like the prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import typer

from . import Format, render_section
from ..errors import InputError

__all__ = ["register", "is_flight_recording"]


def is_flight_recording(path: Path) -> bool:
    """A JFR file starts with the magic ``FLR\\0``."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"FLR\x00"
    except OSError:
        return path.suffix == ".jfr"


def _redacted(kind: str, title: str, data: dict[str, Any]) -> Any:
    from ..evidence import Evidence
    from ..redact import redact_evidence

    return redact_evidence(Evidence(kind=kind, name=kind, title=title, data=data), None)


def register(app: typer.Typer) -> None:
    """Add ``threads`` to the CLI."""

    @app.command("threads")
    def threads(
        files: List[Path] = typer.Argument(..., help="thread dumps of one JVM (any order) and/or .jfr recordings"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown sections or json summaries"),
        timeout: float = typer.Option(60.0, "--timeout", help="seconds the jfr tool may take per recording"),
    ) -> None:
        """Summarise JVM threads: deadlocks, exhausted pools, contended locks, hot stacks, thread leaks; JFR hot spots.

        Several dumps of one JVM, taken seconds apart, show threads that do not progress and pools that grow.
        A .jfr file gives top CPU methods, allocation sites, lock waits, GC pauses and exceptions (needs a JDK).

        Example:

          ctxgrab threads jstack-1.txt jstack-2.txt --format json

          ctxgrab threads app-stdout.log recording.jfr
        """
        from ..analysis.threaddump import read_thread_dump_files, summarize
        from ..collectors.jfr import read_recording

        recordings = [f for f in files if is_flight_recording(f)]
        dumps = [f for f in files if f not in recordings]
        out_md: list[str] = []
        summary = None
        try:
            if dumps:
                summary = summarize(read_thread_dump_files(dumps))
            jfrs = []
            for r in recordings:
                data = read_recording(r, timeout_s=timeout)
                data["file"] = str(r)
                jfrs.append(data)
        except InputError as e:
            typer.echo(f"ctxgrab: {e}", err=True)
            raise typer.Exit(2)
        evs = []
        if summary is not None:
            ev = _redacted("threads", "JVM threads", summary)
            for w in ev.data.get("warnings", []):
                typer.echo(f"ctxgrab: warning: {w}", err=True)
            ev.warnings = list(ev.data.get("warnings", []))
            evs.append(ev)
            out_md.append(f"## JVM threads: {', '.join(ev.data['files'])}\n\n{render_section(ev)}")
        for data in jfrs:
            warnings = data.pop("warnings", [])
            ev = _redacted("jfr", "JFR recording", data)
            ev.warnings = list(warnings)
            evs.append(ev)
            out_md.append(f"## JFR recording: {ev.data['file']}\n\n{render_section(ev)}")
        if fmt is Format.json:
            doc = {"threads": evs[0].data if summary is not None else None,
                   "flight_recordings": [e.data for e in evs if e.kind == "jfr"]}
            typer.echo(json.dumps(doc, indent=2))
        else:
            typer.echo("\n".join(out_md), nl=False)
