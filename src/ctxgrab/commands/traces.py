"""``ctxgrab traces FILE...``: where the time and the errors went, from OTLP JSON trace files.

Example::

    ctxgrab traces /var/otel/traces*.json --since 1h --service orders --format json

Markdown output is the section the incident prompt carries; JSON is the whole
summary (keys in ``docs/templates.md``, kind ``traces``). With a window
(``--since``/``--from``/``--to``) the traces starting in it are compared with the
window of the same length just before it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from . import Format, render_section
from ..errors import InputError

__all__ = ["register", "render_markdown"]


def render_markdown(data: dict[str, Any], title: str = "Traces") -> str:
    """The prompt's traces section (``templates/sections/traces.md.j2``) for one payload."""
    from ..evidence import Evidence

    body = render_section(Evidence(kind="traces", name="traces", title=title, data=data))
    return f"## {title}\n\n{body}"


def register(app: typer.Typer) -> None:
    """Add ``traces`` to the CLI."""

    @app.command("traces")
    def traces(
        files: List[Path] = typer.Argument(..., help="OTLP JSON lines files or globs (.gz, rotated sets included)"),
        since: Optional[str] = typer.Option(None, "--since", help="window length ending at --to (or now): 30m, 2h"),
        start: Optional[str] = typer.Option(None, "--from", help="window start, ISO 8601 (2026-03-02T10:00:00Z)"),
        end: Optional[str] = typer.Option(None, "--to", help="window end, ISO 8601; default now"),
        service: Optional[str] = typer.Option(None, "--service", "-s",
                                              help="service whose entry operations and calls to summarise "
                                                   "(default: the most common root service)"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown section or json"),
        max_spans: int = typer.Option(3_000_000, "--max-spans", help="stop reading after this many spans"),
    ) -> None:
        """Summarise traces: slow and failing dependencies, the slow traces' critical path, errors, retries.

        Reads OTLP JSON lines (one ExportTraceServiceRequest per line, as the OpenTelemetry
        Collector's file exporter writes them).

        Example:

          ctxgrab traces traces.json --from 2026-03-02T11:00:00Z --to 2026-03-02T12:00:00Z --service orders
        """
        from ..collectors.traces import summarize_files
        from ..evidence import Evidence
        from ..logread import expand_paths
        from ..redact import redact_evidence
        from .logs import _window

        try:
            missing = [str(f) for f in files if not expand_paths(str(f), rotated=False)]
            if missing:
                raise InputError(f"no trace file matches {', '.join(missing)}")
            paths = expand_paths([str(f) for f in files])
            window = _window(since, start, end)
            baseline = window.before() if window is not None else None
            data = summarize_files(paths, service, window, baseline, max_spans, None)
        except InputError as e:
            typer.echo(f"ctxgrab: {e}", err=True)
            raise typer.Exit(2)
        # The same redaction stage as the incident prompt: messages and stacks are production text.
        data = redact_evidence(Evidence(kind="traces", name="traces", title="Traces", data=data), None).data
        rd = data["read"]
        for problem in rd["problems"]:
            typer.echo(f"ctxgrab: warning: {problem}", err=True)
        if rd["partial"]:
            typer.echo(f"ctxgrab: warning: partial: {rd['partial']}", err=True)
        if not data["sampling"]["spans_read"]:
            typer.echo(f"ctxgrab: no spans found in {', '.join(map(str, paths))} ({rd['lines']:,} lines read)",
                       err=True)
            raise typer.Exit(2)
        if fmt is Format.json:
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            typer.echo(render_markdown(data, "Traces"), nl=False)
