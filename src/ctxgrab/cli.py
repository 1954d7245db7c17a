"""The ``ctxgrab`` command line.

The prompt goes to stdout, diagnostics to stderr, progress only on a terminal.
Exit codes: 0 a prompt was produced (even with gaps), 1 an unexpected failure,
2 bad usage, config or input (a one-line message says what and how to fix it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .commands import Format
from .errors import ConfigError, CtxgrabError, InputError, RenderError

app = typer.Typer(
    name="ctxgrab",
    help=(
        "Turn a production incident into one data-rich, safe prompt for an LLM.\n\n"
        "Example:\n\n"
        "  ctxgrab incident --service payments --config fixtures/demo/ctxgrab.yaml > prompt.md"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals (secrets) in tracebacks
    add_completion=False,
    rich_markup_mode=None,
)


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print ``ctxgrab: message`` on stderr and return the exit to raise."""
    typer.echo(f"ctxgrab: {message}", err=True)
    return typer.Exit(code)


def write_output(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_file(output, text)
        typer.echo(f"ctxgrab: wrote {output}", err=True)


def write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``; an unwritable path is a one-line error, exit 2."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise fail(f"{path}: cannot write: {e.strerror or e}")


class _Progress:
    """One line per finished collector on stderr, only when stderr is a terminal.

    ``planned`` is called with the number of collectors once the run is planned.
    """

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.done = 0
        self.total = 0

    def planned(self, total: int) -> None:
        self.total = total

    def __call__(self, ev) -> None:  # type: ignore[no-untyped-def]
        self.done += 1
        if self.enabled:
            mark = "ok" if ev.ok else ev.status.value
            sys.stderr.write(f"\r\x1b[K[{self.done}/{self.total}] {ev.title}: {mark}")
            if self.done == self.total:
                sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


ConfigOpt = typer.Option(None, "--config", "-c", help="config file (default: $CTXGRAB_CONFIG, ./ctxgrab.yaml, "
                         "~/.config/ctxgrab/config.yaml)")


@app.command()
def incident(
    service: str = typer.Option(..., "--service", "-s", help="service name from the config"),
    since: Optional[str] = typer.Option(None, "--since", help="window length ending at --at, e.g. 30m, 2h, 1d "
                                        "(default: defaults.since)"),
    start: Optional[str] = typer.Option(None, "--from", help="window start (ISO 8601), instead of --since"),
    end: Optional[str] = typer.Option(None, "--to", help="window end (ISO 8601; default: --at)"),
    at: Optional[str] = typer.Option(None, "--at", help="the incident's 'now' (ISO 8601; default: the real clock "
                                     "or defaults.at)"),
    config: Optional[Path] = ConfigOpt,
    fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown prompt, or json with all evidence"),
    template: Optional[str] = typer.Option(None, "--template", "-t", help="template name (default: incident)"),
    budget: Optional[int] = typer.Option(None, "--budget", help="token budget; lower-priority detail is trimmed "
                                         "to fit (default: defaults.budget)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to this file instead of stdout"),
    save: Optional[Path] = typer.Option(None, "--save", help="also write the collected, redacted evidence to this "
                                        "file; `ctxgrab render FILE` renders it again without touching a source"),
) -> None:
    """Collect the evidence for a service and print the prompt.

    The prompt's kind (memory leak, error spike, latency, saturation, or the
    generic incident) is chosen from the signals in the evidence; --template
    overrides it.

    Example:

      ctxgrab incident --service payments --since 2h > prompt.md

      ctxgrab incident -s payments --from 2026-03-02T09:00Z --to 2026-03-02T12:00Z --format json

      ctxgrab incident -s payments --save evidence.json > prompt.md
    """
    from .aio import run
    from .api import aincident
    from .config import load_config

    try:
        cfg = load_config(config)
        progress = _Progress()
        result = run(
            lambda: aincident(service, since, start=start, end=end, at=at, config=cfg, template=template,
                              budget=budget, on_plan=progress.planned, on_evidence=progress)
        )
    except (ConfigError, InputError, RenderError) as e:
        raise fail(str(e))
    if save is not None:
        write_file(save, result.to_json())
        typer.echo(f"ctxgrab: saved evidence to {save}", err=True)
    gaps = [ev for ev in result.evidence if ev.is_gap]
    if gaps:
        typer.echo(f"ctxgrab: {len(gaps)} of {len(result.evidence)} sources gave nothing: "
                   + "; ".join(f"{ev.title} ({ev.status.value})" for ev in gaps), err=True)
    write_output(result.markdown if fmt is Format.markdown else result.to_json(), output)


@app.command()
def render(
    evidence_file: Path = typer.Argument(..., help="evidence written by `ctxgrab incident --save FILE`"),
    fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown prompt, or json with all evidence"),
    template: Optional[str] = typer.Option(None, "--template", "-t", help="template name (default: chosen from the "
                                           "signals, as in the live run)"),
    budget: Optional[int] = typer.Option(None, "--budget", help="token budget"),
    templates_dir: Optional[Path] = typer.Option(None, "--templates-dir", help="your templates, searched before the "
                                                 "bundled ones"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to this file instead of stdout"),
) -> None:
    """Render saved evidence again, without touching any source.

    The same file renders the same bytes as the run that saved it; files from
    older ctxgrab versions keep rendering.

    Example:

      ctxgrab incident -s payments --save evidence.json > /dev/null

      ctxgrab render evidence.json --template latency
    """
    from .api import load_evidence, render_result

    try:
        saved = load_evidence(evidence_file)
        # The saved run's template and budget apply unless overridden here.
        saved["template"] = template or saved["template"]
        saved["budget"] = budget if budget is not None else saved["budget"]
        result = render_result(**saved, templates_dir=templates_dir)
    except (InputError, RenderError, ConfigError) as e:
        raise fail(str(e))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        # A hand-edited file with a value of the wrong type, met while deriving the signals.
        from .render.fence import escape

        raise fail(f"{evidence_file}: malformed evidence file: {type(e).__name__}: {escape(str(e), lead=False)[:300]}")
    write_output(result.markdown if fmt is Format.markdown else result.to_json(), output)


@app.command()
def check(config: Optional[Path] = ConfigOpt) -> None:
    """Validate the config and say which sources and inputs answer.

    Example:

      ctxgrab check --config ctxgrab.yaml
    """
    from .check import run_check

    try:
        ok = run_check(config)
    except ConfigError as e:
        raise fail(str(e))
    raise typer.Exit(0 if ok else 1)


# --- analysis commands (one module each) ---
from .commands import gc as _gc; _gc.register(app)  # noqa: E402,E702
from .commands import logs as _logs; _logs.register(app)  # noqa: E402,E702
from .commands import redact as _redact; _redact.register(app)  # noqa: E402,E702
from .commands import heap as _heap; _heap.register(app)  # noqa: E402,E702
from .commands import change as _change; _change.register(app)  # noqa: E402,E702
from .commands import serve as _serve; _serve.register(app)  # noqa: E402,E702
from .commands import mcp as _mcp; _mcp.register(app)  # noqa: E402,E702


def main() -> None:
    try:
        app()
    except CtxgrabError as e:  # anything a command did not translate itself
        typer.echo(f"ctxgrab: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
