"""``ctxgrab serve``: receive PagerDuty webhooks and put the incident's prompt on it as a note.

Example::

    export PD_WEBHOOK_SECRET=… PD_API_TOKEN=… CTXGRAB_PROMPT_TOKEN=…
    ctxgrab serve --host 127.0.0.1 --port 8080 --config /etc/ctxgrab/ctxgrab.yaml

The ``server:`` section of the config is described in ``docs/pagerduty.md``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError

__all__ = ["register", "run"]


def run(host: str = "127.0.0.1", port: int = 8080, config: str | Path | None = None, log_level: str = "info") -> None:
    """Load the config, build the app and serve it with uvicorn until SIGINT/SIGTERM."""
    import uvicorn

    from ..config import find_config
    from ..server import create_app, load_server_config
    from ..server.protocol import protocol_class
    from ..server.worker import SubprocessPromptBuilder, resolve_queue_path

    _check_address(host, port)
    # The worker thread shares the GIL with the thread that acknowledges webhooks; a 1 ms switch
    # interval (default 5 ms) bounds how long an acknowledgement waits for it.
    sys.setswitchinterval(0.001)
    path = find_config(config)
    cfg = load_server_config(path)
    builder = SubprocessPromptBuilder(cfg.prompt_builder, str(path), cfg.workers)
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app = create_app(cfg, queue_path=resolve_queue_path(cfg, path), build_prompt=builder)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        # The server protects itself (docs/pagerduty.md, "Limits"): httptools fed a bounded request
        # head, deadlines for the head and the body, at most 16 pipelined requests read ahead, and a
        # cap on connections (ctxgrab.server.protocol).
        http=protocol_class(cfg),
        timeout_keep_alive=cfg.keep_alive_s,
        limit_concurrency=cfg.max_connections,
        proxy_headers=True,  # X-Forwarded-For from --forwarded-allow-ips (FORWARDED_ALLOW_IPS), default 127.0.0.1
        timeout_graceful_shutdown=15,
    )


def _check_address(host: str, port: int) -> None:
    """A port out of range or a host that does not resolve is a one-line ConfigError, before anything starts."""
    import socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: out of range (0-65535)")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"--host {host}: cannot listen there: {getattr(e, 'strerror', None) or e}") from None


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the CLI."""

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
        port: int = typer.Option(8080, "--port", help="TCP port"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="ctxgrab.yaml with a `server:` section"),
        log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error"),
    ) -> None:
        """Receive PagerDuty webhooks and attach ctxgrab's prompt to the incident as a note.

        Example: ctxgrab serve --host 0.0.0.0 --port 8080 --config ctxgrab.yaml
        """
        try:
            run(host, port, config, log_level)
        except ConfigError as e:
            typer.echo(f"ctxgrab serve: {e}", err=True)
            raise typer.Exit(2) from None
