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

import html
import re

__all__ = [
    "body_excerpt",
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


_HTML_START = re.compile(rb"\A\s*(<!doctype\s+html|<html|<head|<body|<title)", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_HTML_H1 = re.compile(rb"<h1[^>]*>(.*?)</h1", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def body_excerpt(body: bytes | str, limit: int = 80) -> str:
    """A short, one-line account of an HTTP error body for a gap's reason.

    An HTML page (a proxy's or load balancer's error page, a login page) is reduced to
    its title: quoting its markup in every gap line tells the reader nothing more.

    >>> body_excerpt(b"<html><head><title>502 Bad Gateway</title></head><body>...</body></html>")
    'HTML page: 502 Bad Gateway'
    >>> body_excerpt(b'{"error": "bad query"}')
    '{"error": "bad query"}'
    """
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    head = raw[:65536]
    if _HTML_START.match(head) or b"<html" in head[:512].lower():
        m = _HTML_TITLE.search(head) or _HTML_H1.search(head)
        title = " ".join(html.unescape(_TAG.sub("", m.group(1).decode("utf-8", "replace"))).split()) if m else ""
        text = f"HTML page: {title}" if title else "HTML page without a title"
    else:
        text = " ".join(raw[:400].decode("utf-8", "replace").split())
    return (text[: limit - 1] + "…") if len(text) > limit else (text or "empty body")
