"""PagerDuty Webhooks V3 signature check: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]``.

The signature is HMAC-SHA256 over the raw request bytes, keyed with the
subscription's secret. During a secret rotation PagerDuty sends one ``v1=`` entry
per secret, and ctxgrab may know several secrets: the body is accepted when any
known secret produces any of the sent signatures. Every comparison is
constant-time, and every (secret, signature) pair is compared so the time taken
does not say which one matched.

>>> body = b'{"event":{}}'
>>> header = "v1=" + sign(body, "old") + ", v1=" + sign(body, "new")
>>> verify(body, header, ["new"]), verify(body, header, ["other"])
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["sign", "verify", "signature_header"]

_MAX_ENTRIES = 16  # a rotation sends two or three; more is not PagerDuty


def sign(raw: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``raw`` with ``secret``."""
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def signature_header(raw: bytes, secrets: Iterable[str]) -> str:
    """The header value PagerDuty would send for ``raw`` (used by tests and the benchmark)."""
    return ",".join(f"v1={sign(raw, s)}" for s in secrets)


def verify(raw: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """True when ``header`` holds a ``v1=`` signature of ``raw`` made with one of ``secrets``.

    A missing header, no known secret, or no ``v1=`` entry is False; entries of other
    versions are skipped.
    """
    if not header:
        return False
    sent = [
        part.strip()[3:].strip().lower().encode("ascii", "replace")
        for part in header.split(",")[:_MAX_ENTRIES]
        if part.strip().lower().startswith("v1=")
    ]
    if not sent:
        return False
    ok = False
    for secret in secrets:
        if not secret:
            continue
        mac = sign(raw, secret).encode("ascii")
        for candidate in sent:
            ok |= hmac.compare_digest(mac, candidate)
    return ok
