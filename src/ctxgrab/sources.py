"""What every HTTP source shares: its headers, credentials, TLS setting and a URL safe to show.

One place, so the collectors and ``ctxgrab check`` send the same credentials.

>>> from ctxgrab.config import SourceConfig
>>> src = SourceConfig(type="loki", url="https://u:pw@loki:3100", org_id="t1", bearer_token="x")
>>> sorted(auth_headers(src)), public_url(src.url)
(['Authorization', 'X-Scope-OrgID'], 'https://loki:3100')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from .config import SourceConfig

__all__ = ["auth_headers", "basic_auth", "verify_option", "public_url"]


def auth_headers(source: "SourceConfig") -> dict[str, str]:
    """The source's extra headers, its tenant (``X-Scope-OrgID``) and bearer token."""
    headers = dict(source.headers or {})
    if source.org_id:
        headers["X-Scope-OrgID"] = source.org_id
    if source.bearer_token:
        headers["Authorization"] = f"Bearer {source.bearer_token}"
    return headers


def basic_auth(source: "SourceConfig") -> tuple[str, str] | None:
    """``(username, password)`` when the source uses basic auth."""
    if source.username is not None:
        return (source.username, source.password or "")
    return None


def verify_option(source: "SourceConfig") -> Any:
    """httpx's ``verify``: False, True, or the CA bundle to trust."""
    if not source.verify_tls:
        return False
    return source.ca_file or True


def public_url(url: str) -> str:
    """The URL without ``user:password@``, query and fragment (it goes into evidence and output)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
