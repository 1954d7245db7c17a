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

from .app import classify_event, create_app
from .config import ServerConfig, load_server_config
from .queue import JobQueue, JobSpec
from .signature import sign, verify
from .worker import Worker, library_prompt_builder, load_prompt_builder

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
