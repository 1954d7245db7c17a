"""``ctxgrab gc FILE...``: summarise JVM GC logs and say whether the heap leaks.

Example::

    ctxgrab gc /var/log/app/gc.log* --format json

Markdown output is the same section the incident prompt carries; JSON is the full summary
(keys documented in :func:`ctxgrab.analysis.gclog.summarize`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import typer

from . import Format, render_section
from ..errors import InputError

__all__ = ["register", "render_markdown"]


def render_markdown(summary: dict[str, Any], title: str = "JVM GC log") -> str:
    """The prompt's GC section (``templates/sections/gc.md.j2``) for one summary."""
    from ..evidence import Evidence
    ev = Evidence(kind="gc", name="gc", title=title, data=summary)
    body = render_section(ev)
    return f"## {title}: {', '.join(summary.get('files', []))}\n\n{body}"


def _analyse(paths: list[str]) -> dict[str, Any]:
    from ..analysis.gclog import parse_gc_files, summarize

    return summarize(parse_gc_files(paths))


def register(app: typer.Typer) -> None:
    """Add ``gc`` to the CLI."""

    @app.command("gc")
    def gc(
        files: List[Path] = typer.Argument(..., help="GC log files of one JVM; rotated parts in any order"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown section or json summary"),
        deadline_s: float = typer.Option(300.0, "--deadline", min=0.1,
                                         help="seconds; the parse is stopped then and says how far it got"),
        memory_mib: int = typer.Option(2048, "--memory-mib", min=16,
                                       help="memory cap for the parse in MiB, enforced (see docs/configuration.md)"),
    ) -> None:
        """Summarise JVM GC logs: collector, pauses, Full GCs, live-set trend and a leak verdict.

        Reads JDK 9+ -Xlog:gc* logs of every collector and JDK 8 -XX:+PrintGCDetails logs.

        Example:

          ctxgrab gc gc.log.0 gc.log.1 gc.log --format json
        """
        from .. import parsebudget

        try:
            with parsebudget.limits(deadline_s=deadline_s, memory_bytes=memory_mib << 20):
                summary = parsebudget.run(_analyse, [str(f) for f in files],
                                          what=f"GC log analysis of {', '.join(map(str, files))}")
        except InputError as e:
            typer.echo(f"ctxgrab: {e}", err=True)
            raise typer.Exit(2)
        warnings = summary.get("warnings", [])
        if not summary["pauses"]["count"] and not summary["live_set"]["points"]:
            why = f"; {warnings[0]}" + (f" (+{len(warnings) - 1} more warnings)" if len(warnings) > 1 else "") \
                if warnings else ""
            typer.echo(f"ctxgrab: no GC events found in {', '.join(map(str, files))} "
                       f"({summary['lines']['total']} lines read{why})", err=True)
            raise typer.Exit(2)
        for w in warnings:
            typer.echo(f"ctxgrab: warning: {w}", err=True)
        if fmt is Format.json:
            typer.echo(json.dumps(summary, indent=2, sort_keys=False))
        else:
            typer.echo(render_markdown(summary), nl=False)
