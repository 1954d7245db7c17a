"""``ctxgrab redact [FILE]``: secrets and personal data out of any text, before it is pasted anywhere.

Reads FILE (stdin when absent or ``-``), writes the redacted text to stdout.
Only the redacted values change: every other byte, line endings and bytes that
are not valid UTF-8 included, comes out as it went in. Nothing is sent anywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import typer

from ..redact import RedactionConfig, redact

__all__ = ["register", "redact_stream"]

_CHUNK_LINES = 4096
_MAX_CARRY_LINES = 400  # a PEM key is far shorter; past this the block is redacted as it is


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    """Blocks of whole lines; a block that opens a private key runs on until the key closes."""
    lines: list[bytes] = []
    open_key = False
    carried = 0
    for line in stream:
        lines.append(line)
        if b"-----BEGIN" in line:
            open_key = True
            carried = 0
        if open_key:
            carried += 1
            if b"-----END" in line or carried > _MAX_CARRY_LINES:
                open_key = False
        if len(lines) >= _CHUNK_LINES and not open_key:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


def redact_stream(source: BinaryIO, sink: BinaryIO, config: RedactionConfig | None = None) -> None:
    """Redact ``source`` into ``sink`` block by block (memory stays flat on large files).

    Bytes that are not UTF-8 pass through unchanged (surrogate escapes).
    """
    for block in _blocks(source):
        text = block.decode("utf-8", "surrogateescape")
        sink.write(redact(text, config).encode("utf-8", "surrogateescape"))
    sink.flush()


def register(app: typer.Typer) -> None:
    """Add ``redact`` to the CLI."""

    @app.command("redact")
    def redact_command(
        file: Optional[Path] = typer.Argument(None, help="text file to redact (default: stdin; '-' also means stdin)"),
        config: Optional[Path] = typer.Option(
            None, "--config", "-c", help="ctxgrab.yaml whose `redaction:` section adds rules, allowlists, disabled kinds"
        ),
        disable: list[str] = typer.Option(
            [], "--disable", help="kind or category to leave alone (repeatable): e.g. ip, phone, pii"
        ),
    ) -> None:
        """Replace secrets and personal data with [REDACTED:<kind>] markers; everything else unchanged.

        Example:

          kubectl logs deploy/payments | ctxgrab redact > safe.log

          ctxgrab redact application.properties --disable ip
        """
        cfg = _load(config, disable)
        if file is None or str(file) == "-":
            redact_stream(sys.stdin.buffer, sys.stdout.buffer, cfg)
            return
        try:
            handle = file.open("rb")
        except OSError as exc:
            typer.echo(f"ctxgrab redact: cannot read {file}: {exc.strerror or exc}", err=True)
            raise typer.Exit(2)
        with handle:
            redact_stream(handle, sys.stdout.buffer, cfg)


def _load(config: Path | None, disable: list[str]) -> RedactionConfig | None:
    from pydantic import ValidationError

    base: RedactionConfig | None = None
    if config is not None:
        from ..config import load_config
        from ..errors import ConfigError

        try:
            loaded = getattr(load_config(config), "redaction", None)
        except ConfigError as exc:
            typer.echo(f"ctxgrab redact: {exc}", err=True)
            raise typer.Exit(2)
        if isinstance(loaded, RedactionConfig):
            base = loaded
        elif isinstance(loaded, dict):
            base = RedactionConfig.model_validate(loaded)
    if not disable:
        return base
    fields = base.model_dump() if base else {}
    fields["disable"] = list(fields.get("disable", [])) + list(disable)
    try:
        return RedactionConfig.model_validate(fields)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        typer.echo(f"ctxgrab redact: --disable: {message}", err=True)
        raise typer.Exit(2)
