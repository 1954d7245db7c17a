"""Helpers for testing collectors and templates, ours and plugins'.

>>> import anyio
>>> from ctxgrab.testing import make_request, static_collector
>>> req = make_request({"services": {"svc": {}}}, "svc")
>>> ev = anyio.run(static_collector(kind="uptime", data={"seconds": 42}), req, {})
>>> ev.data["seconds"]
42
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio

from .collectors import CollectFn, CollectRequest
from .config import Config, config_from_dict
from .evidence import Evidence, Status
from .timeutil import Window

__all__ = ["make_request", "static_collector", "failing_collector", "hanging_collector"]

DEFAULT_AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def make_request(
    config: Config | dict[str, Any],
    service: str,
    *,
    at: datetime = DEFAULT_AT,
    since: timedelta = timedelta(hours=2),
    base_dir: Path | None = None,
    timeout_s: float = 5.0,
) -> CollectRequest:
    """A CollectRequest for a collector under test (baseline = the window before)."""
    cfg = config if isinstance(config, Config) else config_from_dict(config)
    window = Window.ending(at, since)
    return CollectRequest(service=service, window=window, baseline=window.before(), at=at,
                          base_dir=base_dir or cfg.base_dir, config=cfg, timeout_s=timeout_s)


def static_collector(kind: str = "static", data: dict[str, Any] | None = None, status: Status = Status.ok,
                     title: str | None = None) -> CollectFn:
    """A collector that returns fixed evidence."""

    async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
        return Evidence(kind=kind, name=params.get("name", kind), title=title or params.get("title", kind),
                        status=status, data=dict(data or {}))

    return collect


def failing_collector(exc: BaseException) -> CollectFn:
    """A collector that raises ``exc``."""

    async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
        raise exc

    return collect


def hanging_collector(seconds: float = 3600.0) -> CollectFn:
    """A collector that never answers in time."""

    async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
        await anyio.sleep(seconds)
        raise AssertionError("hanging_collector was not cancelled")

    return collect
