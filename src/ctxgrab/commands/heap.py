"""``ctxgrab heap FILE``: what holds the memory in a heap dump, by retained size.

Example::

    ctxgrab heap app.hprof.gz --baseline app-1h-ago.hprof.gz --format json

FILE is an HPROF dump (``jcmd <pid> GC.heap_dump [-gz=1] FILE``, plain or gzipped) or a
class histogram (``jcmd <pid> GC.class_histogram``, ``jmap -histo``). Markdown output is
the section the incident prompt carries; JSON has ``total_live_bytes``, ``top_retainers``
[{class, instances, shallow_bytes, retained_bytes}], ``suspects`` [{description,
retained_bytes, path}] and, with ``--baseline``, ``growth``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from . import Format, render_section
from ..errors import InputError

__all__ = ["register", "render_markdown"]


def render_markdown(report: dict[str, Any], title: str = "Heap dump") -> str:
    """The prompt's heap section (``templates/sections/heap.md.j2``) for one report."""
    from ..evidence import Evidence
    ev = Evidence(kind="heap", name="heap", title=title, data=report, warnings=list(report.get("warnings", [])))
    body = render_section(ev)
    return f"## {title}: {report.get('file', '')}\n\n{body}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def register(app: typer.Typer) -> None:
    """Add ``heap`` to the CLI."""

    @app.command("heap")
    def heap(
        file: Path = typer.Argument(..., help="HPROF dump (.hprof, .hprof.gz) or class histogram text"),
        baseline: Optional[Path] = typer.Option(None, "--baseline", "-b",
                                                help="an older dump or histogram of the same process: report growth"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown section or json report"),
        top: int = typer.Option(20, "--top", help="classes to list", min=1, max=1000),
        compressed_oops: Optional[bool] = typer.Option(
            None, "--compressed-oops/--no-compressed-oops",
            help="the JVM's object layout for shallow sizes (default: guessed; off for heaps of 32 GB and more)"),
        deadline_s: float = typer.Option(600.0, "--deadline", min=0.1,
                                         help="seconds; the analysis is stopped then and says how far it got"),
        memory_mib: int = typer.Option(2048, "--memory-mib", min=16,
                                       help="memory cap for the analysis in MiB, enforced (see docs/configuration.md)"),
    ) -> None:
        """Heap dump analysis: top classes by retained size, leak suspects with their path from a GC root.

        Example:

          ctxgrab heap app.hprof.gz --baseline app-1h-ago.hprof.gz --format json
        """
        from .. import parsebudget
        from ..analysis.dominators import analyze_heap_file

        files = [file] + ([baseline] if baseline else [])
        try:
            with parsebudget.limits(deadline_s=deadline_s, memory_bytes=memory_mib << 20):
                report = parsebudget.run(
                    analyze_heap_file, str(file), baseline=str(baseline) if baseline else None, top=top,
                    compressed_oops=compressed_oops, what=f"heap dump analysis of {file}",
                    map_bytes=sum(_size(f) for f in files))
        except InputError as e:
            typer.echo(f"ctxgrab: {e}", err=True)
            raise typer.Exit(2)
        except ImportError as e:
            typer.echo(f"ctxgrab: heap analysis needs numpy, a ctxgrab dependency: pip install numpy ({e})", err=True)
            raise typer.Exit(2)
        for w in report.get("warnings", []):
            typer.echo(f"ctxgrab: warning: {w}", err=True)
        if report.get("partial"):
            typer.echo(f"ctxgrab: warning: partial result: {file} is damaged or cut short", err=True)
        if fmt is Format.json:
            typer.echo(json.dumps(report, indent=2))
        else:
            title = "Heap dump" if str(report.get("format", "")).startswith("HPROF") else "Class histogram"
            typer.echo(render_markdown(report, title), nl=False)
