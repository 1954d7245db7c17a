"""``ctxgrab serve``: PagerDuty webhooks in, ctxgrab's note on the incident out.

Pieces, each usable alone: :mod:`.signature` (verify ``X-PagerDuty-Signature``),
:mod:`.queue` (durable SQLite job queue), :mod:`.pagerduty` (REST client with
retries and a circuit breaker), :mod:`.notes` (note text, find-and-update),
:mod:`.worker` (jobs → prompt → note), :mod:`.app` (the Starlette app) and
:mod:`.config` (the ``server:`` config section).

>>> from ctxgrab.server import ServerConfig, create_app      # doctest: +SKIP
>>> app = create_app(ServerConfig(webhook_secrets=["…"]), queue_path="q.sqlite3",
...                  build_prompt=library_prompt_builder("ctxgrab.yaml"))   # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

__all__ = [
    "ServerConfig",
    "load_server_config",
    "create_app",
    "classify_event",
    "JobQueue",
    "JobSpec",
    "Worker",
    "library_prompt_builder",
    "load_prompt_builder",
    "sign",
    "verify",
]

# Imported on first use, so that ``from ctxgrab.server.config import ServerConfig`` (the main
# config does this) does not pull in Starlette, uvicorn and the HTTP client.
_WHERE = {
    "ServerConfig": "config",
    "load_server_config": "config",
    "create_app": "app",
    "classify_event": "app",
    "JobQueue": "queue",
    "JobSpec": "queue",
    "Worker": "worker",
    "library_prompt_builder": "worker",
    "load_prompt_builder": "worker",
    "sign": "signature",
    "verify": "signature",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
