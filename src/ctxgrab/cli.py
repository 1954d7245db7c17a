"""The ``ctxgrab`` command line.

The prompt goes to stdout, diagnostics to stderr, progress only on a terminal.
Exit codes: 0 a prompt was produced (even with gaps), 1 an unexpected failure,
2 bad usage, config or input (a one-line message says what and how to fix it).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperArgument, TyperCommand

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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"ctxgrab {version('ctxgrab')}")
        except PackageNotFoundError:  # a source tree that was never installed
            typer.echo("ctxgrab (version unknown: not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Turn a production incident into one data-rich, safe prompt for an LLM."""


def check_budget(budget: Optional[int]) -> Optional[int]:
    """``--budget``: a positive number of tokens; leaving it out means no limit."""
    if budget is not None and budget <= 0:
        raise fail(f"--budget {budget}: the token budget must be a positive number of tokens — fix: give e.g. "
                   "--budget 8000, or leave --budget out for no limit")
    return budget


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print ``ctxgrab: message`` on stderr and return the exit to raise."""
    typer.echo(f"ctxgrab: {message}", err=True)
    return typer.Exit(code)


def write_output(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, inside main()'s handler
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

    check_budget(budget)
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
    from .api import render_saved

    check_budget(budget)
    try:
        result = render_saved(evidence_file, template=template, budget=budget, templates_dir=templates_dir)
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
from .commands import traces as _traces; _traces.register(app)  # noqa: E402,E702
from .commands import threads as _threads; _threads.register(app)  # noqa: E402,E702
from .commands import change as _change; _change.register(app)  # noqa: E402,E702
from .commands import serve as _serve; _serve.register(app)  # noqa: E402,E702
from .commands import mcp as _mcp; _mcp.register(app)  # noqa: E402,E702


# --- help that reads like a person wrote it --------------------------------------------------
# typer shows Python types (`<str>`, `<list[Path]>`) and `{file}` for arguments; users read
# `--since DURATION` and `FILES...` in every other tool's help.
_METAVARS = {
    "since": "DURATION", "start": "TIME", "end": "TIME", "at": "TIME", "service": "NAME", "template": "NAME",
    "budget": "TOKENS", "config": "FILE", "output": "FILE", "save": "FILE", "baseline": "FILE",
    "templates_dir": "DIR", "tables": "TABLE", "dsn": "DSN", "sample_s": "SECONDS", "top": "N",
    "max_patterns": "N", "line_format": "auto|text|json", "host": "ADDRESS", "port": "PORT",
    "log_level": "LEVEL", "disable": "KIND",
}


def _humane_param(param: Any) -> None:
    if isinstance(param, TyperArgument):
        param.__class__ = _HumaneArgument
        return
    if getattr(param, "is_flag", False) or getattr(param, "metavar", None) is not None:
        return
    desc = getattr(param, "type_descriptor", None)
    choices = getattr(desc, "choices", None) if getattr(desc, "is_choice", False) else None
    annotation = getattr(desc, "annotation", None)
    if choices:
        param.metavar = "|".join(str(getattr(c, "value", c)) for c in choices)
    elif param.name in _METAVARS:
        param.metavar = _METAVARS[param.name]
    elif getattr(desc, "is_path", False):
        param.metavar = "PATH"
    else:
        param.metavar = {int: "N", float: "NUMBER"}.get(annotation, "TEXT")  # type: ignore[call-overload]


def _arg_name(param: Any) -> str:
    return {"files": "FILES", "file": "FILE", "evidence_file": "FILE", "what": "CHANGE"}.get(
        param.name, str(param.name).upper())


class _HumaneArgument(TyperArgument):
    """An argument shown as ``FILE``, ``[FILE]`` or ``FILES...``."""

    def _usage_display_name(self) -> str:
        name = _arg_name(self) + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return _arg_name(self) + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> None:
        return None


class _HumaneCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _humane_param(param)


for _info in app.registered_commands:
    if _info.cls in (None, TyperCommand):
        _info.cls = _HumaneCommand


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EDQUOT, errno.EFBIG}


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main() -> None:
    """The console script: every failure ends as one line on stderr, never a traceback.

    Set ``CTXGRAB_DEBUG=1`` to see the traceback of an unexpected error.
    """
    usage_error: type[BaseException]
    try:  # the click that this typer drives (vendored in newer typer)
        from typer._click.exceptions import ClickException as click_error  # type: ignore[import-not-found]
        from typer._click.exceptions import NoArgsIsHelpError as no_args_error  # type: ignore[import-not-found]
        from typer._click.exceptions import UsageError as usage_error  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - older typer on plain click
        from click.exceptions import ClickException as click_error
        from click.exceptions import NoArgsIsHelp as no_args_error
        from click.exceptions import UsageError as usage_error
    try:
        rv = app(standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else 0)
    except no_args_error as e:  # bare `ctxgrab`: the help
        e.show()  # type: ignore[attr-defined]
        sys.exit(2)
    except usage_error as e:  # one line, not click's usage block
        ctx = getattr(e, "ctx", None)
        where = ctx.command_path if ctx is not None else "ctxgrab"
        message = e.format_message().replace("Value error, ", "").rstrip(".")  # type: ignore[attr-defined]
        typer.echo(f"ctxgrab: {message} — see `{where} --help`", err=True)
        sys.exit(2)
    except click_error as e:
        typer.echo(f"ctxgrab: {e.format_message()}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Abort:
        typer.echo("ctxgrab: interrupted", err=True)
        sys.exit(130)
    except CtxgrabError as e:  # anything a command did not translate itself
        typer.echo(f"ctxgrab: {e}", err=True)
        sys.exit(2)
    except BrokenPipeError:  # `ctxgrab incident … | head`: the reader left; not an error of ours
        _silence_stdout()
        sys.exit(0)
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            raise
        _silence_stdout()  # a full disk under `> prompt.md`
        typer.echo(f"ctxgrab: cannot write the output: {e.strerror or e} — fix: free space or write elsewhere "
                   "(--output FILE)", err=True)
        sys.exit(2)
    except RecursionError:
        typer.echo("ctxgrab: input nested too deeply to process", err=True)
        sys.exit(2)
    except Exception as e:
        if os.environ.get("CTXGRAB_DEBUG"):
            raise
        first = str(e).splitlines()[0][:300] if str(e) else ""
        typer.echo(f"ctxgrab: unexpected error: {type(e).__name__}: {first} (this is a bug in ctxgrab; "
                   "CTXGRAB_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
