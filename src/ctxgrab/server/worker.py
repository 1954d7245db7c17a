"""The worker: takes jobs from the queue, builds the prompt, writes ctxgrab's note.

It runs in its own thread with its own event loop (:class:`WorkerThread`), so a
collection that keeps the CPU busy never delays a webhook acknowledgement on the
server's loop. The prompt is built by an injectable ``build_prompt(service, at)``
coroutine function; the default is ctxgrab's library call
``ctxgrab.aincident(service, since=None, at=at, config=...)``.

Failures never lose a job: a collection error or timeout, a 429/5xx PagerDuty
answer after its retries, or an open circuit reschedule the job with exponential
backoff; only permanent errors (e.g. 401 on the API key, 404 on the incident) or
used-up attempts mark it ``failed``. Meeting an open circuit or a long rate-limit
wait is not an attempt: the job waits (with jitter) as long as it takes.

>>> worker = Worker(queue, cfg, build_prompt=my_builder, metrics=Metrics())   # doctest: +SKIP
>>> await worker.run_once()                                                    # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_process
import httpx

from .. import aio
from ..errors import ConfigError
from .config import ServerConfig, load_pipeline_config
from .metrics import Metrics
from .notes import RenderedPrompt, format_note, prompt_url, upsert_note
from .pagerduty import PagerDutyClient, PagerDutyError, RetryLater
from .queue import Job, JobQueue
from .resilience import CircuitBreaker, CircuitOpenError

__all__ = [
    "Worker",
    "WorkerThread",
    "PromptBuilder",
    "SubprocessPromptBuilder",
    "library_prompt_builder",
    "load_prompt_builder",
]

log = logging.getLogger("ctxgrab.server")

PromptBuilder = Callable[[str, datetime], Awaitable[str]]


def library_prompt_builder(config: Any) -> PromptBuilder:
    """The default builder: ctxgrab's own pipeline with ``config`` (a path or a Config object).

    The window ends at ``at`` (the incident's creation time) and has the config's default length.
    """
    loaded: list[Any] = []

    async def build_prompt(service: str, at: datetime) -> str:
        import ctxgrab

        if not loaded:
            loaded.append(load_pipeline_config(config) if isinstance(config, (str, Path)) else config)
        result = await ctxgrab.aincident(service, since=None, at=at, config=loaded[0])
        return RenderedPrompt(result)  # a str that lets the note be rendered for its size

    return build_prompt


def load_prompt_builder(spec: str) -> PromptBuilder:
    """Import ``module:callable`` (``server.prompt_builder``): an async ``(service, at) -> str``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"server.prompt_builder: expected 'module:callable', got {spec!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"server.prompt_builder: cannot import {spec!r}: {e}") from None
    if not callable(fn):
        raise ConfigError(f"server.prompt_builder: {spec!r} is not callable")
    return fn


BACKGROUND_NICE = 10
MAX_RESCHEDULE_S = 2 * 3600.0  # longest wait before a job's next run, jitter included


def _lower_priority() -> None:
    """Lower this process's CPU priority once: collections are background work, webhook acks are not.

    Only the collection processes do this. The server's own threads keep the normal
    priority: a low-priority thread that holds the GIL would stall the thread that
    acknowledges webhooks (priority inversion).
    """
    if getattr(_lower_priority, "done", False):
        return
    try:
        os.nice(BACKGROUND_NICE)
    except OSError:  # not permitted: run at normal priority
        pass
    _lower_priority.done = True  # type: ignore[attr-defined]


def _build_in_child(spec: str | None, config: str | None, service: str, at_iso: str) -> str:
    """Runs in a child process: build one prompt with the configured builder."""
    _lower_priority()
    builder = load_prompt_builder(spec) if spec else library_prompt_builder(config)
    return aio.run(builder, service, datetime.fromisoformat(at_iso))


def _warm_child(spec: str | None) -> int:
    """Runs in a child process: import the pipeline now, not when the first incident arrives."""
    _lower_priority()
    importlib.import_module("ctxgrab.api")

    if spec:
        load_prompt_builder(spec)
    return os.getpid()


class SubprocessPromptBuilder:
    """A prompt builder that runs each collection in a child process (a small reused pool).

    Collections parse logs, GC logs and heap dumps: CPU work that, in the server's
    process, would hold the GIL and delay webhook acknowledgements by tens of
    milliseconds each. In children (at lower CPU priority) they cannot. A collection
    that outlives its deadline is cancelled and its process killed. ``spec`` is a
    ``module:callable`` (``server.prompt_builder``); None means ctxgrab's pipeline
    with ``config``.
    """

    def __init__(self, spec: str | None, config: str | None, processes: int) -> None:
        if spec:
            load_prompt_builder(spec)  # fail at start, not at the first incident
        self.spec, self.config, self.processes = spec, config, processes
        self._limiter: anyio.CapacityLimiter | None = None

    async def warm(self) -> None:
        """Start the collection processes and import the pipeline in them."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.processes)
        async with anyio.create_task_group() as tg:
            for _ in range(self.processes):
                tg.start_soon(self._warm_one)

    async def _warm_one(self) -> None:
        assert self._limiter is not None
        await anyio.to_process.run_sync(_warm_child, self.spec, cancellable=True, limiter=self._limiter)

    async def __call__(self, service: str, at: datetime) -> str:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.processes)
        return await anyio.to_process.run_sync(
            _build_in_child, self.spec, self.config, service, at.isoformat(), cancellable=True, limiter=self._limiter
        )


class Worker:
    """Processes jobs; ``pd_client`` is None when no API token is configured (prompts are kept, no note)."""

    def __init__(
        self,
        queue: JobQueue,
        cfg: ServerConfig,
        *,
        build_prompt: PromptBuilder,
        metrics: Metrics,
        pd_client: PagerDutyClient | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.cfg = cfg
        self.build_prompt = build_prompt
        self.metrics = metrics
        self.pd = pd_client
        self._rand = rand
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        # Renewed while the job runs (_keep_lease); a shared queue keeps it short so that a
        # killed replica's jobs come back within a minute.
        shared = hasattr(queue, "replica")
        self.lease_s = cfg.lease_s or (60.0 if shared else cfg.collection_timeout_s + 600.0)

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of one downstream (``collect:<service>``; PagerDuty has the client's)."""
        if name not in self._breakers:
            self._breakers[name] = CircuitBreaker(
                name, self.cfg.breaker.failure_threshold, self.cfg.breaker.reset_after_s, clock=self._clock
            )
        return self._breakers[name]

    def breakers(self) -> list[CircuitBreaker]:
        return list(self._breakers.values()) + ([self.pd.breaker] if self.pd else [])

    async def run_once(self) -> bool:
        """Claim and process one due job; False when none is due."""
        job = self.queue.claim(self.lease_s)
        if job is None:
            return False
        await self.process(job)
        return True

    async def run(self, stop: threading.Event, poll_s: float = 0.05) -> None:
        """Run ``cfg.workers`` job slots until ``stop`` is set."""

        async def slot() -> None:
            while not stop.is_set():
                try:
                    busy = await self.run_once()
                except Exception:  # a bug must not kill the slot; the job's lease brings it back
                    log.exception("worker: unexpected error")
                    busy = False
                if not busy:
                    await anyio.sleep(poll_s)

        async with anyio.create_task_group() as tg:
            for _ in range(self.cfg.workers):
                tg.start_soon(slot)

    # -- one job -----------------------------------------------------------------------------
    async def process(self, job: Job) -> None:
        """Run one claimed job to done, rescheduled or failed.

        An exception nobody expected (a bug, an odd API answer) is logged and treated
        like a failed run: the job is rescheduled with backoff and counts an attempt,
        so it ends ``failed`` after ``job_attempts`` instead of staying ``running``
        until its lease expires and retrying for ever.
        """
        try:
            failure: Exception | None = None
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_lease, job)
                try:
                    await self._process(job)
                except Exception as e:  # raised below, outside the task group (no ExceptionGroup)
                    failure = e
                finally:
                    tg.cancel_scope.cancel()
            if failure is not None:
                raise failure
        except Exception as e:
            log.exception("incident %s (%s): unexpected error", job.incident_id, job.service)
            current = self.queue.get(job.incident_id)
            if current is not None and current.state == "running":  # not finished before the error
                self._retry(job, self._job_backoff(job), f"unexpected error: {type(e).__name__}: {e}", "error")

    async def _keep_lease(self, job: Job) -> None:
        """Renew the job's lease while it runs, so a short lease only expires when this process dies."""
        every = max(0.5, self.lease_s / 3)
        while True:
            await anyio.sleep(every)
            try:
                held = await anyio.to_thread.run_sync(self.queue.renew, job.incident_id, self.lease_s, job.lease_token)
            except Exception as e:  # the database is away for a moment: the next renewal may pass
                log.warning("incident %s: could not renew the lease: %s", job.incident_id, e)
                continue
            if not held:
                log.warning("incident %s: lease lost to another worker; this run's outcome will not be recorded",
                            job.incident_id)
                return

    async def _process(self, job: Job) -> None:
        try:
            at = datetime.fromisoformat(job.at)
        except ValueError:
            self._fail(job, f"bad incident time {job.at!r}")
            return
        if not 1970 <= at.year < 9000:
            # A window ending there overflows datetime in every attempt: permanent, not transient.
            self._fail(job, f"incident time {job.at!r} is out of range (years 1970-8999)")
            return
        breaker = self.breaker(f"collect:{job.service}")
        try:
            breaker.before_call()
        except CircuitOpenError as e:
            self._wait(job, e.retry_in_s, str(e), "circuit_open")
            return
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.cfg.collection_timeout_s):
                markdown = await self.build_prompt(job.service, at)
        except TimeoutError:
            breaker.record_failure()
            self._retry(job, self._job_backoff(job), f"collection timed out after {self.cfg.collection_timeout_s:g} s", "collection")
            return
        except OverflowError as e:  # arithmetic on this job's own data: every retry fails the same way
            self._fail(job, f"collection failed: {type(e).__name__}: {e}")
            return
        except Exception as e:  # the pipeline's own failures are Evidence; anything here is config or a bug
            breaker.record_failure()
            self._retry(job, self._job_backoff(job), f"collection failed: {type(e).__name__}: {e}", "collection")
            return
        breaker.record_success()
        self.metrics.observe("ctxgrab_collection_duration_seconds", time.perf_counter() - started)
        self.queue.save_prompt(job.incident_id, job.service, markdown)

        if self.pd is None:
            state = self.queue.complete(job.incident_id, None, token=job.lease_token)
            self._done(job, state, "stored")
            return
        url = prompt_url(
            self.cfg.public_base_url,
            job.incident_id,
            self.cfg.prompt_token.get_secret_value() if self.cfg.prompt_token else None,
        )
        content = format_note(markdown, service=job.service, at=job.at, prompt_url=url, max_chars=self.cfg.note_max_chars)
        try:
            # Listing the notes and writing ours happen under the incident's lock: two runs of one
            # incident (two replicas of a shared queue) write one note between them.
            lock = self.queue.note_lock(job.incident_id)
            await anyio.to_thread.run_sync(lock.__enter__)
            try:
                # Under the lock, the job must still be ours: a run whose lease expired (its
                # database away for longer than the lease) and was claimed by another replica
                # would otherwise write the note beside the new holder's run.
                if not await anyio.to_thread.run_sync(self.queue.renew, job.incident_id, self.lease_s,
                                                      job.lease_token):
                    log.warning("incident %s: lease lost before the note was written; its holder writes it",
                                job.incident_id)
                    self.metrics.inc("ctxgrab_jobs_abandoned_total", cause="lease_lost")
                    return
                result = await upsert_note(self.pd, job.incident_id, content, self.cfg.bot_user_id)
            finally:
                await anyio.to_thread.run_sync(lock.__exit__, None, None, None)
        except RetryLater as e:
            self._wait(job, e.delay_s, str(e), "rate_limited")
            return
        except CircuitOpenError as e:
            self._wait(job, e.retry_in_s, str(e), "circuit_open")
            return
        except PagerDutyError as e:
            if e.retryable:
                self._retry(job, self._job_backoff(job), str(e), "pagerduty")
            else:
                self._fail(job, str(e))
            return
        self.metrics.inc("ctxgrab_notes_total", action=result.action)
        state = self.queue.complete(job.incident_id, result.note_id, token=job.lease_token)
        self._done(job, state, result.action)

    def _job_backoff(self, job: Job) -> float:
        base = self.cfg.job_retry_base_s * (2 ** max(0, job.attempts - 1))
        return min(3600.0, base) * (0.5 + self._rand() / 2)

    def _done(self, job: Job, state: str, action: str) -> None:
        self.metrics.inc("ctxgrab_jobs_done_total")
        if state == "queued":
            self.metrics.inc("ctxgrab_jobs_queued_total")
        log.info("incident %s (%s): note %s", job.incident_id, job.service, action)

    def _wait(self, job: Job, delay_s: float, error: str, cause: str) -> None:
        """Reschedule a job that only met a wait (open circuit, rate limit): no attempt is used up.

        Such waits are not failures of the job: a few minutes of PagerDuty outage must
        not use up ``job_attempts``. Jitter (up to half the wait, at least 1 s) spreads the
        jobs that all met the same open circuit, so they do not return in one burst.
        """
        if math.isfinite(delay_s):
            delay_s = max(0.0, delay_s) + self._rand() * max(1.0, max(0.0, delay_s) / 2)
        self._retry(job, delay_s, error, cause, count_attempt=False)

    def _retry(self, job: Job, delay_s: float, error: str, cause: str, *, count_attempt: bool = True) -> None:
        # whatever a downstream asked for, a job is never parked out of reach (inf/nan would never be due)
        delay_s = min(max(0.0, delay_s), MAX_RESCHEDULE_S) if math.isfinite(delay_s) else MAX_RESCHEDULE_S
        state = self.queue.retry_later(
            job.incident_id, delay_s, error, self.cfg.job_attempts, count_attempt=count_attempt, token=job.lease_token
        )
        if state == "failed":
            self.metrics.inc("ctxgrab_jobs_failed_total")
            log.error("incident %s (%s): giving up after %d attempts: %s", job.incident_id, job.service, job.attempts, error)
        else:
            self.metrics.inc("ctxgrab_jobs_retried_total", cause=cause)
            log.warning("incident %s (%s): retry in %.1f s: %s", job.incident_id, job.service, delay_s, error)

    def _fail(self, job: Job, error: str) -> None:
        self.queue.fail(job.incident_id, error, token=job.lease_token)
        self.metrics.inc("ctxgrab_jobs_failed_total")
        log.error("incident %s (%s): failed: %s", job.incident_id, job.service, error)


class WorkerThread(threading.Thread):
    """Runs a :class:`Worker` on its own event loop in a daemon thread; :meth:`stop` ends it."""

    def __init__(
        self,
        queue: JobQueue,
        cfg: ServerConfig,
        *,
        build_prompt: PromptBuilder,
        metrics: Metrics,
        pd_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name="ctxgrab-worker", daemon=True)
        self.queue, self.cfg, self.build_prompt, self.metrics = queue, cfg, build_prompt, metrics
        self.pd_transport = pd_transport
        self._stop_event = threading.Event()
        self.worker: Worker | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        anyio.run(self._main)

    async def _main(self) -> None:
        pd = None
        if self.cfg.api_token is not None:
            pd = PagerDutyClient(
                self.cfg.api_token.get_secret_value(),
                self.cfg.from_email,
                self.cfg.api_base_url,
                timeout_s=self.cfg.http_timeout_s,
                retry=self.cfg.retry,
                breaker=CircuitBreaker(
                    f"pagerduty:{self.cfg.api_base_url}",
                    self.cfg.breaker.failure_threshold,
                    self.cfg.breaker.reset_after_s,
                ),
                concurrency=self.cfg.api_concurrency,
                transport=self.pd_transport,
                on_response=lambda s: self.metrics.inc(
                    "ctxgrab_pagerduty_responses_total", status=str(s) if s is not None else "error"
                ),
            )
        else:
            log.warning("server.api_token is not set: prompts are stored and served, no PagerDuty note is written")
        self.worker = Worker(self.queue, self.cfg, build_prompt=self.build_prompt, metrics=self.metrics, pd_client=pd)
        try:
            recovered = self.queue.recover()
            if recovered:
                log.warning("recovered %d job(s) left running by a previous process", recovered)
            warm = getattr(self.build_prompt, "warm", None)
            if warm is not None:
                try:
                    with anyio.fail_after(60):
                        await warm()
                except Exception as e:  # a broken builder shows up, with its reason, on the first job
                    log.warning("could not start the collection processes ahead of time: %s", e)
            self.ready.set()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._housekeeping)
                await self.worker.run(self._stop_event)
                tg.cancel_scope.cancel()
        finally:
            if pd is not None:
                await pd.aclose()

    async def _housekeeping(self) -> None:
        while True:
            removed = self.queue.prune(jobs_older_than_s=self.cfg.retention_days * 86400)
            if removed:
                log.info("queue: removed %d expired rows", removed)
            await anyio.sleep(3600)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop_event.set()
        self.join(timeout_s)


def resolve_queue_path(cfg: ServerConfig, config_path: str | Path | None) -> Path:
    base = Path(config_path).resolve().parent if config_path else None
    return cfg.resolved_queue_path(base)
