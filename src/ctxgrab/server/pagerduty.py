"""PagerDuty REST API v2 client: the few calls ctxgrab needs, with retries and a circuit breaker.

Every request carries ``Authorization: Token token=<key>`` and the v2 ``Accept``
header; writes carry ``From: <user email>``. 429, 408, 5xx, timeouts and connection
errors of idempotent calls (GET, PUT, DELETE) are retried with exponential backoff and full jitter, honouring
``Retry-After`` (or PagerDuty's ``ratelimit-reset``); a wait longer than the policy
allows raises :class:`RetryLater` so the job is rescheduled instead of holding a
worker. 5xx and transport failures feed a :class:`CircuitBreaker` per API host;
while it is open calls fail at once with ``CircuitOpenError``. Other 4xx are
permanent and raise :class:`PagerDutyError` with ``retryable=False``.

A POST (a new note) is not idempotent: when its answer is lost (timeout, dropped
connection, 408, 5xx) PagerDuty may have stored the note anyway, and sending it
again would add a second one. Such a POST is retried only when it cannot have been
processed (a 429, or a connection that was never made); otherwise it raises a
retryable :class:`PagerDutyError` at once, and the job runs again later from the
start, where :func:`~ctxgrab.server.notes.upsert_note` lists the notes and finds
the stored one by its marker.

>>> client = PagerDutyClient("k3y", "bot@example.com")          # doctest: +SKIP
>>> note = await client.create_note("Q1ABCD2EFGH3IJ", "text")   # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from ..errors import SourceError
from .config import BreakerPolicy, RetryPolicy
from .resilience import CircuitBreaker, backoff_delay_s, parse_retry_after_s

__all__ = ["PagerDutyClient", "PagerDutyError", "RetryLater", "ACCEPT"]

ACCEPT = "application/vnd.pagerduty+json;version=2"
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
# transport errors raised before the request left this process: safe to resend even a POST
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class PagerDutyError(SourceError):
    """A PagerDuty call failed; ``status`` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, retryable: bool = True):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class RetryLater(PagerDutyError):
    """PagerDuty asked to wait longer than one backoff may last; try again in ``delay_s``."""

    def __init__(self, message: str, delay_s: float, status: int | None = 429):
        super().__init__(message, status=status, retryable=True)
        self.delay_s = delay_s


class PagerDutyClient:
    """Async client for incidents and notes. Close it with :meth:`aclose` (or ``async with``)."""

    def __init__(
        self,
        api_token: str,
        from_email: str | None,
        base_url: str = "https://api.pagerduty.com",
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        concurrency: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        on_response: Callable[[int | None], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.retry = retry or RetryPolicy()
        host = urlsplit(self.base_url).netloc or self.base_url
        bp = BreakerPolicy()
        self.breaker = breaker or CircuitBreaker(f"pagerduty:{host}", bp.failure_threshold, bp.reset_after_s)
        self._sleep = sleep
        self._rand = rand
        self._limit = anyio.Semaphore(concurrency)
        self._on_response = on_response
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Authorization": f"Token token={api_token}", "Accept": ACCEPT, "User-Agent": "ctxgrab"},
            follow_redirects=False,
        )

    async def __aenter__(self) -> "PagerDutyClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the calls ---------------------------------------------------------------------------
    async def get_incident(self, incident_id: str) -> dict[str, Any]:
        """``GET /incidents/{id}`` → the incident object."""
        body = await self.request("GET", f"/incidents/{_seg(incident_id)}")
        return body.get("incident") or {}

    async def list_notes(self, incident_id: str) -> list[dict[str, Any]]:
        """All notes of an incident, oldest first (paginated with limit=100, offset)."""
        notes: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = await self.request(
                "GET", f"/incidents/{_seg(incident_id)}/notes", params={"limit": 100, "offset": offset}
            )
            page = body.get("notes") or []
            notes.extend(page)
            offset += len(page)
            if not body.get("more") or not page or offset + 100 > 10000:
                return notes

    async def create_note(self, incident_id: str, content: str) -> dict[str, Any]:
        """``POST /incidents/{id}/notes`` → the new note."""
        body = await self.request(
            "POST", f"/incidents/{_seg(incident_id)}/notes", json={"note": {"content": content}}, write=True
        )
        return body.get("note") or {}

    async def update_note(self, incident_id: str, note_id: str, content: str) -> dict[str, Any]:
        """``PUT /incidents/{id}/notes/{note_id}`` (in the API since Nov 2025) → the updated note."""
        body = await self.request(
            "PUT",
            f"/incidents/{_seg(incident_id)}/notes/{_seg(note_id)}",
            json={"note": {"content": content}},
            write=True,
        )
        return body.get("note") or {}

    async def delete_note(self, incident_id: str, note_id: str) -> None:
        await self.request("DELETE", f"/incidents/{_seg(incident_id)}/notes/{_seg(note_id)}", write=True)

    # -- transport with retries --------------------------------------------------------------
    async def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None, write: bool = False
    ) -> dict[str, Any]:
        """One API call with retries; returns the decoded JSON body ({} when empty)."""
        headers: dict[str, str] = {}
        if write:
            if not self.from_email:
                raise PagerDutyError(
                    "server.from_email is not set: PagerDuty requires a From header (a user's email) on note writes",
                    retryable=False,
                )
            headers["From"] = self.from_email
        if json is not None:
            headers["Content-Type"] = "application/json"
        idempotent = method.upper() in _IDEMPOTENT
        last: PagerDutyError | None = None
        for attempt in range(self.retry.attempts):
            self.breaker.before_call()  # raises CircuitOpenError when open
            try:
                async with self._limit:
                    resp = await self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError as e:
                self.breaker.record_failure()
                self._notify(None)
                last = PagerDutyError(f"{method} {path}: {type(e).__name__}: {e}".rstrip(": "))
                if not idempotent and not isinstance(e, _NOT_SENT):
                    raise _unsure(last) from None
                delay = backoff_delay_s(attempt, self.retry.base_delay_s, self.retry.max_delay_s, self._rand)
            except BaseException:
                self.breaker.release_trial()
                raise
            else:
                self._notify(resp.status_code)
                if resp.is_success:
                    self.breaker.record_success()
                    return _json(resp)
                message = _error_message(method, path, resp)
                if resp.status_code not in _RETRY_STATUS:
                    self.breaker.record_success()  # it answered: the service is up, the request is wrong
                    raise PagerDutyError(
                        message, status=resp.status_code, code=_error_code(resp), retryable=False
                    )
                if resp.status_code == 429:
                    self.breaker.record_success()
                else:
                    self.breaker.record_failure()
                last = PagerDutyError(message, status=resp.status_code, code=_error_code(resp))
                if not idempotent and resp.status_code != 429:  # a 429 was refused, not processed
                    raise _unsure(last)
                delay = backoff_delay_s(attempt, self.retry.base_delay_s, self.retry.max_delay_s, self._rand)
                asked = parse_retry_after_s(resp.headers.get("retry-after"))
                if asked is None and resp.status_code == 429:
                    asked = parse_retry_after_s(resp.headers.get("ratelimit-reset"))
                if asked is not None:
                    if asked > self.retry.max_delay_s:
                        raise RetryLater(f"{message}; asked to wait {asked:.0f} s", asked, resp.status_code)
                    delay = max(delay, asked)
            if attempt + 1 < self.retry.attempts:
                await self._sleep(delay)
        assert last is not None
        raise last

    def _notify(self, status: int | None) -> None:
        if self._on_response is not None:
            self._on_response(status)


def _unsure(err: PagerDutyError) -> PagerDutyError:
    """A non-idempotent call whose outcome is unknown: not resent here (it may have been stored)."""
    return PagerDutyError(
        f"{err}; not resent: it may have been processed, the job checks again on its next run",
        status=err.status,
        code=err.code,
        retryable=True,
    )


def _seg(value: str) -> str:
    """A path segment: PagerDuty ids are [A-Z0-9]; refuse anything that could change the path."""
    if not value or any(ch in value for ch in "/?#%") or value in (".", ".."):
        raise PagerDutyError(f"invalid PagerDuty id {value!r}", retryable=False)
    return value


def _json(resp: httpx.Response) -> dict[str, Any]:
    if not resp.content:
        return {}
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(resp: httpx.Response) -> int | None:
    err = _json(resp).get("error")
    return err.get("code") if isinstance(err, dict) else None


def _error_message(method: str, path: str, resp: httpx.Response) -> str:
    err = _json(resp).get("error")
    detail = ""
    if isinstance(err, dict):
        detail = str(err.get("message") or "")
        extra = err.get("errors")
        if isinstance(extra, list) and extra:
            detail += ": " + "; ".join(str(x) for x in extra[:3])
    return f"PagerDuty {method} {path} → {resp.status_code}" + (f" ({detail})" if detail else "")
