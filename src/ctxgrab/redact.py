"""Redaction: one stage every Evidence passes through before rendering or output.

First version: a handful of credential rules; the full rule set (cloud keys, SaaS
tokens, PEM keys, PII with checksums, look-alike allowlists) replaces it.

>>> redact("password=hunter2 user=bob")
'password=[REDACTED:password] user=bob'
"""

from __future__ import annotations

import re
from typing import Any

from .evidence import Evidence

__all__ = ["redact", "redact_evidence"]

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("bearer-token", re.compile(r"(?i)(?<=authorization: bearer )[A-Za-z0-9._~+/=-]{8,}")),
    ("password", re.compile(r"(?i)(?<=password=)[^\s&;,]+")),
    ("url-password", re.compile(r"(?<=://)[^/\s:@]+:([^/\s@]+)(?=@)")),
]


def redact(text: str, config: Any = None) -> str:
    """Return ``text`` with every secret replaced by ``[REDACTED:<kind>]``."""
    for kind, rx in _RULES:
        text = rx.sub(f"[REDACTED:{kind}]", text)
    return text


def _walk(value: Any, config: Any) -> Any:
    if isinstance(value, str):
        return redact(value, config)
    if isinstance(value, list):
        return [_walk(v, config) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, config) for k, v in value.items()}
    return value


def redact_evidence(ev: Evidence, config: Any = None) -> Evidence:
    """A copy of ``ev`` with every text field redacted (data, reason, title, warnings)."""
    return ev.model_copy(
        update={
            "data": _walk(ev.data, config),
            "reason": redact(ev.reason, config) if ev.reason else ev.reason,
            "title": redact(ev.title, config),
            "warnings": [redact(w, config) for w in ev.warnings],
            "source": redact(ev.source, config) if ev.source else ev.source,
        }
    )
