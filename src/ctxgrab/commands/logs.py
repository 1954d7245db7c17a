"""``ctxgrab logs FILE...``: the log patterns that matter, from files of any size.

Example::

    ctxgrab logs /var/log/payments/app.log --since 2h --format json

Markdown output is the section the incident prompt carries; JSON gives every
pattern's ``id``, ``template``, ``count``, ``first_seen``, ``last_seen``,
``level``, ``example`` (and ``new``, ``exception``, ``frames``). With
``--assignments`` the output is, for every input line in order, the id of the
pattern its record was put in (``-`` for blank lines outside any record), so
grouping can be scored from outside.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional

import typer

from . import Format, render_section
from ..errors import InputError

__all__ = ["register", "render_markdown"]


def render_markdown(data: dict[str, Any], title: str = "Logs") -> str:
    """The prompt's logs section (``templates/sections/logs.md.j2``) for one payload."""
    from ..evidence import Evidence
    ev = Evidence(kind="logs", name="logs", title=title, data=data)
    body = render_section(ev)
    return f"## {title}\n\n{body}"


def _window(since: Optional[str], start: Optional[str], end: Optional[str]):
    from ..timeutil import Window, parse_duration, parse_time

    if not (since or start or end):
        return None
    if since and start:
        raise InputError("--since and --from both set the window's start — fix: give one of them")
    try:
        t_end = parse_time(end) if end else datetime.now(timezone.utc)
        if start:
            return Window(parse_time(start), t_end)
        return Window.ending(t_end, parse_duration(since or "1h"))
    except ValueError as e:
        raise InputError(str(e)) from None


def _why_missing(missing: list[str]) -> str:
    import os

    reasons = []
    for m in missing:
        if os.path.isdir(m):
            reasons.append(f"{m} is a directory with no files in it")
        elif os.path.lexists(m) and not os.path.exists(m):
            reasons.append(f"{m} is a broken symbolic link")
        elif os.path.exists(m):
            reasons.append(f"{m} is neither a file, a directory nor a pipe")
        else:
            reasons.append(f"no log file matches {m}")
    return "; ".join(reasons)


def _assignments(paths: list[Path], fmt: str, tz: Any = None) -> list[str]:
    from ..analysis.logpatterns import StreamingMiner
    from ..logread import ReadStats, read_records

    out: list[str] = []
    miner = StreamingMiner(with_assignments=True)
    spans: list[tuple[int, int, int]] = []  # (file index, first line, line count) per record
    lines_per_file = []
    for fi, p in enumerate(paths):
        stats = ReadStats()
        for rec in read_records(p, stats, fmt=fmt, **({"tz": tz} if tz is not None else {})):
            first_line = int(rec.source.rsplit(":", 1)[1]) if rec.source else 0
            spans.append((fi, first_line, rec.line_count))
            miner.add(rec)
        lines_per_file.append(stats.lines_read)
    ids = miner.result(max_patterns=None).assignments or []
    per_file: list[list[str]] = [["-"] * n for n in lines_per_file]
    for (fi, first, count), pid in zip(spans, ids):
        for ln in range(first, min(first + count, lines_per_file[fi] + 1)):
            per_file[fi][ln - 1] = pid
    for lines in per_file:
        out.extend(lines)
    return out


def register(app: typer.Typer) -> None:
    """Add ``logs`` to the CLI."""

    @app.command("logs")
    def logs(
        files: List[Path] = typer.Argument(..., help="log files or globs; rotated NAME.1 / NAME.2.gz included"),
        since: Optional[str] = typer.Option(None, "--since", help="window length ending at --to (or now): 30m, 2h"),
        start: Optional[str] = typer.Option(None, "--from", help="window start, ISO 8601 (2026-03-02T10:00:00Z)"),
        end: Optional[str] = typer.Option(None, "--to", help="window end, ISO 8601; default now"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown section or json"),
        line_format: str = typer.Option("auto", "--line-format", help="auto, text or json lines"),
        max_patterns: int = typer.Option(20, "--max-patterns", help="patterns shown (0 = all)"),
        assignments: bool = typer.Option(False, "--assignments",
                                         help="print the pattern id of every input line, in order"),
        timezone_name: str = typer.Option("UTC", "--timezone",
                                          help="IANA zone of times written without one (Europe/Berlin); default UTC"),
    ) -> None:
        """Group log records into patterns, ranked by severity × volume × growth over the baseline.

        With a window (--since/--from/--to) only its records are read (binary search in sorted
        files) and patterns are compared with the window of the same length just before it.

        Example:

          ctxgrab logs app.log --from 2026-03-02T10:00:00Z --to 2026-03-02T12:00:00Z --format json
        """
        from ..collectors.logfiles import _read_summary, build_payload, mine_files
        from ..logread import expand_paths

        if line_format not in ("auto", "text", "json"):
            typer.echo(f"ctxgrab: --line-format must be auto, text or json, not {line_format!r}", err=True)
            raise typer.Exit(2)
        from ..analysis.logformat import zone

        try:
            try:
                tz = zone(timezone_name)
            except ValueError as e:
                raise InputError(f"--timezone: {e}") from None
            missing = [str(f) for f in files if not expand_paths(str(f), rotated=False)]
            if missing:
                raise InputError(_why_missing(missing))
            paths = expand_paths([str(f) for f in files], rotated=not assignments)
            if assignments:
                typer.echo("\n".join(_assignments(paths, line_format, tz)))
                return
            window = _window(since, start, end)
            baseline = window.before() if window is not None else None
            result, stats = mine_files(paths, line_format, window, baseline, max_patterns or None, tz)
        except InputError as e:
            typer.echo(f"ctxgrab: {e}", err=True)
            raise typer.Exit(2)
        data = build_payload(result, baseline, files=[str(p) for p in paths], total_lines=stats.lines_read,
                             skipped_lines=stats.skipped_lines, read=_read_summary(stats))
        # The same redaction stage as the incident prompt: examples are raw production text.
        from ..evidence import Evidence
        from ..redact import redact_evidence

        data = redact_evidence(Evidence(kind="logs", name="logs", title="Logs", data=data), None).data
        for problem in stats.problems:
            typer.echo(f"ctxgrab: warning: {problem}", err=True)
        if not result.records:
            typer.echo(f"ctxgrab: no log records inside the window ({stats.lines_read:,} lines read)", err=True)
        if fmt is Format.json:
            typer.echo(json.dumps(data, indent=2))
        else:
            typer.echo(render_markdown(data, "Logs"), nl=False)
