"""Collectors: the one seam through which evidence enters ctxgrab.

A collector is an async function::

    async def collect(request: CollectRequest, params: dict) -> Evidence

registered under the entry-point group ``ctxgrab.collectors`` by its kind name
(built-ins use the same group, see ``pyproject.toml``). ``params`` are the
instance parameters from the plan (a pack entry, a config entry); ``request`` is
what every collector of the run shares: service, window, baseline, sources.

A collector fetches and hands over; parsing and summarising live in
``ctxgrab.analysis``. It may raise: the engine turns any exception into Evidence
with status ``error`` (and a hang into ``timeout``), but a collector that knows
what went wrong should return ``Evidence.failed(...)`` with a better reason.

Example plugin (``pyproject.toml``: ``[project.entry-points."ctxgrab.collectors"]
uptime = "acme_ctx:collect"``)::

    async def collect(request, params):
        return Evidence(kind="uptime", name="uptime", title="Uptime",
                        data={"seconds": 42})
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..errors import ConfigError
from ..evidence import Evidence, Status
from ..timeutil import Window

if TYPE_CHECKING:
    from ..config import Config, ServiceConfig

__all__ = ["CollectRequest", "CollectFn", "available", "load", "run_blocking", "FileInputs", "find_inputs",
           "relative_path"]

CollectFn = Callable[["CollectRequest", dict[str, Any]], Awaitable[Evidence]]

GROUP = "ctxgrab.collectors"


@dataclass(frozen=True)
class CollectRequest:
    """What every collector of one run shares."""

    service: str
    window: Window
    baseline: Window | None
    at: datetime
    base_dir: Path  # relative paths in the config resolve against this
    config: "Config"
    timeout_s: float = 20.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def service_config(self) -> "ServiceConfig":
        return self.config.services[self.service]

    def resolve(self, path: str | Path) -> Path:
        """An absolute path for a config-relative one (``~`` expanded)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    # One scan per process: entry-point scans cost milliseconds each.
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of every registered collector kind."""
    return sorted(_entry_points())


@lru_cache(maxsize=None)
def load(kind: str) -> CollectFn:
    """Import the collector for ``kind``; only collectors a run needs get imported."""
    eps = _entry_points()
    if kind not in eps:
        raise ConfigError(
            f"unknown collector {kind!r}; registered collectors: {', '.join(sorted(eps)) or 'none'} "
            "(is ctxgrab installed? a plugin's package must be installed to register its collectors)"
        )
    module_name, _, attr = eps[kind].partition(":")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr or "collect")
    return fn


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (file parsing) in a worker thread.

    The thread is abandoned if the collector's deadline passes, so a slow parse
    never holds the run past its global deadline.
    """
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


def relative_path(path: str, request: CollectRequest) -> str:
    """``path`` as the prompt shows it: relative to the config's folder (``../x`` when outside it)."""
    import os

    try:
        return os.path.relpath(path, request.base_dir) if os.path.isabs(path) else path
    except ValueError:  # another drive (Windows)
        return path


@dataclass(frozen=True)
class FileInputs:
    """The files a file-based collector reads, found from its ``paths`` globs."""

    files: list[str]  # every match once, in glob order (sorted within each glob)
    missing: list[str]  # globs that matched no file
    source: str  # the resolved globs, for Evidence.source


def find_inputs(request: CollectRequest, params: dict[str, Any], kind: str, title: str,
                config_key: str) -> FileInputs | Evidence:
    """Resolve ``params["paths"]`` (config-relative globs) to files.

    Returns the Evidence to hand back instead when there is nothing to read:
    ``skipped`` when no glob is configured, ``empty`` when none matches.
    """
    import glob
    import os

    name = str(params.get("name", kind))
    patterns = params.get("paths") or []
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    if not patterns:
        return Evidence.failed(kind, name, title, f"no paths configured (service key {config_key})",
                               status=Status.skipped)
    files: list[str] = []
    missing: list[str] = []
    for pat in patterns:
        hits = sorted(p for p in glob.glob(str(request.resolve(pat))) if os.path.isfile(p))
        if not hits:
            missing.append(pat)
        files.extend(h for h in hits if h not in files)
    source = ", ".join(str(request.resolve(p)) for p in patterns)
    if not files:
        return Evidence.failed(kind, name, title, f"no file matches {', '.join(patterns)} "
                               f"(resolved against {request.base_dir})", status=Status.empty, source=source)
    return FileInputs(files, missing, source)
