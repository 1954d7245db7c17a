"""ctxgrab's own small exception tree.

Errors from libraries (httpx, pydantic, yaml, OS) are translated at the boundary
into one of these, so callers catch one family::

    CtxgrabError
    ├── ConfigError            the config file, a pack or a template is wrong: exit 2
    │   └── UnknownServiceError   --service names no configured service
    ├── InputError             an input file (GC log, heap dump, log, evidence) is unreadable or malformed
    ├── SourceError            a data source answered badly or not at all
    │   └── SourceTimeout         ... or not within its deadline
    └── RenderError            a template failed to render

Inside a run none of these crosses the collector boundary: the engine turns them
into Evidence with status ``error``/``timeout`` and a one-line reason.
"""

from __future__ import annotations

__all__ = [
    "CtxgrabError",
    "ConfigError",
    "UnknownServiceError",
    "InputError",
    "SourceError",
    "SourceTimeout",
    "RenderError",
]


class CtxgrabError(Exception):
    """Base of every error ctxgrab raises on purpose."""


class ConfigError(CtxgrabError):
    """The configuration (file, key or value) is wrong; the message names file, key and fix."""


class UnknownServiceError(ConfigError):
    """The requested service is not in the config."""


class InputError(CtxgrabError):
    """An input file is unreadable or malformed; the message says what and where."""


class SourceError(CtxgrabError):
    """A data source failed: unreachable, bad reply, error status."""


class SourceTimeout(SourceError):
    """A data source did not answer within its deadline."""


class RenderError(CtxgrabError):
    """A template could not be rendered."""
