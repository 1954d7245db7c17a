"""Backoff with jitter, ``Retry-After`` parsing and a circuit breaker, with injectable clocks.

>>> b = CircuitBreaker("pagerduty", failure_threshold=2, reset_after_s=30, clock=lambda: 0.0)
>>> b.record_failure(); b.record_failure(); b.state
'open'
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

__all__ = ["backoff_delay_s", "parse_retry_after_s", "MAX_RETRY_AFTER_S", "CircuitBreaker", "CircuitOpenError"]


def backoff_delay_s(
    attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max_s, base_s * 2**attempt)].

    ``attempt`` counts from 0. Full jitter spreads retries of many clients that failed
    together (AWS architecture blog, "Exponential Backoff And Jitter").
    """
    return rand() * min(max_s, base_s * (2 ** max(0, attempt)))


MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after_s(
    value: str | None, now: Callable[[], float] = time.time, max_s: float = MAX_RETRY_AFTER_S
) -> float | None:
    """Seconds to wait from a ``Retry-After`` (seconds or HTTP date) or ``ratelimit-reset`` value.

    The answer is always finite and within [0, ``max_s``]: a negative number or a
    date in the past means "now" (0); a huge number or a far date is capped, so a
    broken or hostile header cannot park a job for ever; ``inf``/``nan`` and other
    non-numbers are ignored (None: the caller falls back to its own backoff).

    >>> parse_retry_after_s("12"), parse_retry_after_s("1e12"), parse_retry_after_s("inf")
    (12.0, 3600.0, None)
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), max_s)


class CircuitOpenError(Exception):
    """The downstream failed repeatedly; calls are refused until ``retry_in_s`` passes."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit for {name} is open (retry in {retry_in_s:.1f} s)")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open after
    ``reset_after_s`` (one trial call) → closed on success, open again on failure.

    One breaker per downstream, so a dead PagerDuty does not stop collections and a
    broken collection does not stop note writes for other services.
    """

    def __init__(
        self, name: str, failure_threshold: int = 5, reset_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._lock = threading.Lock()
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after_s:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go out now."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half-open" and not self._trial_running:
                self._trial_running = True
                return
            assert self._opened_at is not None
            wait = max(0.0, self.reset_after_s - (self._clock() - self._opened_at))
            raise CircuitOpenError(self.name, wait or self.reset_after_s)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                if self._opened_at is None or self._trial_running:
                    self.times_opened += 1
                self._opened_at = self._clock()
            self._trial_running = False

    def release_trial(self) -> None:
        """Let another trial through when the trial call ended without a verdict (e.g. cancelled)."""
        with self._lock:
            self._trial_running = False
