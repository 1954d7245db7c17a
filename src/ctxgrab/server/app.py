"""The HTTP side of ``ctxgrab serve``: a Starlette app.

Routes:

- ``POST /webhooks/pagerduty``: PagerDuty Webhooks V3. Checks the body size and
  the ``X-PagerDuty-Signature`` on the raw bytes before anything parses them,
  rejects bad signatures with 401 (and a loud log line: PagerDuty disables a
  subscription after 3 rejected deliveries in a row), malformed JSON with 400,
  then commits a job to the durable queue and answers 202. Event types not acted
  on, unmapped services and ctxgrab's own note get 202 too.
- ``GET /incidents/{id}/prompt``: the newest full prompt of an incident
  (``Authorization: Bearer <prompt_token>`` or the per-incident ``?sig=`` of the note's link).
- ``GET /healthz`` (process alive), ``GET /readyz`` (queue and worker usable),
  ``GET /metrics`` (Prometheus text format).

>>> app = create_app(ServerConfig(webhook_secrets=["s"]), queue_path="q.sqlite3",
...                  build_prompt=my_builder)          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import ServerConfig
from .metrics import Metrics
from .notes import is_ctxgrab_note, prompt_signature
from .queue import JobQueue, JobSpec
from .queue_pg import QueueUnavailable
from .signature import verify
from .worker import PromptBuilder, WorkerThread

__all__ = ["create_app", "classify_event", "MalformedEvent"]

log = logging.getLogger("ctxgrab.server")


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class MalformedEvent(ValueError):
    """A signed event ctxgrab can never act on (answered 400: PagerDuty must not retry it for 48 h)."""


#: Incident times outside this range are refused: a window and its baseline end there, and
#: datetime arithmetic near year 1 or 9999 overflows (and no incident happened then).
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def classify_event(event: dict[str, Any], cfg: ServerConfig) -> tuple[JobSpec | None, str]:
    """Decide what a (verified, parsed) event asks for: a job, or why it is ignored.

    An incident time outside years 1970-8999 raises :class:`MalformedEvent` (answered 400).

    >>> cfg = ServerConfig(services={"PSVC9KX": "payments"})
    >>> ev = {"event_type": "incident.triggered", "data": {"type": "incident", "id": "Q1",
    ...       "created_at": "2026-03-04T09:15:02Z", "service": {"id": "PSVC9KX"}}}
    >>> classify_event(ev, cfg)[0].service
    'payments'
    """
    event_type = str(event.get("event_type") or "")
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    # Loop guard first: ctxgrab's own note (incident.annotated) or any action of its API user.
    if data.get("type") == "incident_note" and is_ctxgrab_note(str(data.get("content") or "")):
        return None, "ctxgrab's own note"
    if cfg.bot_user_id and agent.get("id") == cfg.bot_user_id:
        return None, "event caused by ctxgrab's API user"
    if event_type not in cfg.trigger_events:
        return None, f"event type {event_type or '(none)'} is not acted on"
    if data.get("type") != "incident":
        return None, f"data.type {data.get('type')!r} is not an incident"
    incident_id = data.get("id")
    if not isinstance(incident_id, str) or not incident_id or len(incident_id) > 64:
        return None, "no incident id"
    service = data.get("service") if isinstance(data.get("service"), dict) else {}
    pd_service_id = service.get("id")
    name = cfg.services.get(pd_service_id) if isinstance(pd_service_id, str) else None
    if name is None:
        return None, f"PagerDuty service {pd_service_id} is not mapped in server.services"
    at = _iso_utc(data.get("created_at")) or _iso_utc(event.get("occurred_at"))
    if at is None:
        return None, "no incident creation time"
    if not _EARLIEST <= datetime.fromisoformat(at) < _LATEST:
        raise MalformedEvent(f"incident creation time {at[:40]} is out of range (years 1970-8999)")
    title = data.get("title") if isinstance(data.get("title"), str) else None
    html_url = data.get("html_url") if isinstance(data.get("html_url"), str) else None
    return JobSpec(incident_id, name, at, pd_service_id, html_url, title), "queued"


def _iso_utc(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc).isoformat()
    except OverflowError:  # "0001-01-01T00:00:00+01:00"
        raise MalformedEvent(f"incident time {value[:40]!r} is out of range (years 1970-8999)") from None


class _Entry:
    __slots__ = ("webhook_id", "spec", "reason", "event_id", "result", "error")

    def __init__(self, webhook_id: str | None, spec: JobSpec | None, reason: str, event_id: str | None) -> None:
        self.webhook_id, self.spec, self.reason, self.event_id = webhook_id, spec, reason, event_id
        self.result: str | None = None
        self.error: BaseException | None = None


class _GroupCommit:
    """Deliveries that arrive while a commit is in progress share the next transaction.

    A durable commit costs one disk sync (milliseconds on a busy disk); committing
    each delivery alone would cap acknowledgements at one per sync. The first caller
    commits (in a thread, off the event loop) whatever has gathered meanwhile; the
    others wait for the batch that holds their delivery. Every delivery is still
    committed before its 202 is sent.
    """

    def __init__(self, queue: JobQueue, *, inline: bool = False) -> None:
        self.queue = queue
        self.inline = inline  # commit on the event loop: no thread hop when a commit costs no disk sync
        self._pending: list[_Entry] = []
        self._flushing = False
        self._done = anyio.Event()
        self._limiter = anyio.CapacityLimiter(1)

    async def accept(
        self, webhook_id: str | None, spec: JobSpec | None, reason: str, event_id: str | None = None
    ) -> str:
        entry = _Entry(webhook_id, spec, reason, event_id)
        self._pending.append(entry)
        if self._flushing:
            while entry.result is None and entry.error is None:
                await self._done.wait()
        else:
            self._flushing = True
            batch: list[_Entry] = []
            try:
                # Shielded: the other requests wait for this one to commit their deliveries. If
                # this request were cancelled (client gone, shutdown) mid-commit, they would
                # wait for ever; the cancellation takes effect once everything is committed.
                with anyio.CancelScope(shield=True):
                    # One loop turn: requests that are already read join this commit, so a burst
                    # costs one sync, not one for its first delivery and one for the rest.
                    await anyio.sleep(0)
                    while self._pending:
                        batch, self._pending = self._pending, []
                        items = [(e.webhook_id, e.spec, e.reason, e.event_id) for e in batch]
                        try:
                            if self.inline:
                                results = self.queue.accept_many(items)
                            else:
                                results = await anyio.to_thread.run_sync(
                                    self.queue.accept_many, items, limiter=self._limiter
                                )
                            for e, r in zip(batch, results):
                                e.result = r
                        except Exception as exc:  # disk full, locked database: every waiter answers 500
                            for e in batch:
                                e.error = exc
                        done, self._done = self._done, anyio.Event()
                        done.set()
            finally:
                self._flushing = False
                # anything still unanswered (only after an error that is not an Exception) answers 500
                stranded = [e for e in batch + self._pending if e.result is None and e.error is None]
                if stranded:
                    self._pending = []
                    for e in stranded:
                        e.error = RuntimeError("the commit of this delivery was interrupted")
                    done, self._done = self._done, anyio.Event()
                    done.set()
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result


def open_queue(cfg: ServerConfig, queue_path: str | Path) -> Any:
    """The shared PostgreSQL queue when ``server.queue`` names one, else the SQLite file."""
    if cfg.queue is not None:
        from .queue_pg import PgJobQueue

        return PgJobQueue(cfg.queue.get_secret_value())
    return JobQueue(queue_path, synchronous=cfg.queue_sync.upper())


class _HeaderCount:
    """ASGI middleware: a request with more than ``max_headers`` header fields gets 431 (the protocol bounds their bytes)."""

    def __init__(self, app: Any, max_headers: int) -> None:
        self.app, self.max_headers = app, max_headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and len(scope.get("headers") or ()) > self.max_headers:
            response = PlainTextResponse(f"more than {self.max_headers} header fields\n", status_code=431,
                                         headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    cfg: ServerConfig,
    *,
    queue_path: str | Path,
    build_prompt: PromptBuilder,
    metrics: Metrics | None = None,
    start_worker: bool = True,
    pd_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Build the app; the queue opens and the worker thread starts in the lifespan."""
    metrics = metrics or Metrics()
    secrets = cfg.secrets()
    prompt_token = cfg.prompt_token.get_secret_value() if cfg.prompt_token else None
    state: dict[str, Any] = {}
    db_limiter = anyio.CapacityLimiter(1)  # one writer connection on the server side

    if not secrets:
        log.error("server.webhook_secrets is empty: every webhook will be rejected with 401")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        queue = await anyio.to_thread.run_sync(lambda: open_queue(cfg, queue_path))
        state["queue"] = queue
        # With synchronous=NORMAL a commit is a WAL append (tens of µs): done on the loop, it avoids two
        # thread hops per batch, which under load cost more than the commit. FULL waits for the disk: thread.
        state["commit"] = _GroupCommit(queue, inline=cfg.queue_sync == "normal")
        worker = None
        if start_worker:
            worker = WorkerThread(queue, cfg, build_prompt=build_prompt, metrics=metrics, pd_transport=pd_transport)
            worker.start()
            state["worker"] = worker
        try:
            yield
        finally:
            if worker is not None:
                await anyio.to_thread.run_sync(worker.stop)
            await anyio.to_thread.run_sync(queue.close, limiter=db_limiter)

    async def _read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        # A body trickled a byte a second must not hold the request (and its connection) open.
        with anyio.move_on_after(cfg.body_timeout_s) as scope:
            async for chunk in request.stream():
                size += len(chunk)
                if size > cfg.max_body_bytes:
                    raise _TooLarge
                chunks.append(chunk)
        if scope.cancelled_caught:
            raise _TooSlow
        return b"".join(chunks)

    async def webhook(request: Request) -> Response:
        metrics.inc("ctxgrab_webhooks_received_total")
        webhook_id = request.headers.get("x-webhook-id")
        try:
            raw = await _read_body(request)
        except _TooLarge:
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="too_large")
            log.warning("webhook %s rejected: body larger than server.max_body_bytes=%d", webhook_id, cfg.max_body_bytes)
            return JSONResponse({"error": f"body larger than {cfg.max_body_bytes} bytes"}, status_code=413)
        except _TooSlow:
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="too_slow")
            log.warning("webhook %s rejected: body not received within server.body_timeout_s=%g", webhook_id,
                        cfg.body_timeout_s)
            return JSONResponse({"error": f"body not received within {cfg.body_timeout_s:g} s"}, status_code=408,
                                headers={"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; the server drops it
        if not verify(raw, request.headers.get("x-pagerduty-signature"), secrets):
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="signature")
            log.error(
                "REJECTED PagerDuty webhook %s (subscription %s, from %s): bad or missing X-PagerDuty-Signature. "
                "PagerDuty disables a subscription after 3 rejected deliveries in a row; "
                "check server.webhook_secrets against the subscription's secret",
                webhook_id,
                request.headers.get("x-webhook-subscription"),
                request.client.host if request.client else "?",
            )
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # also UnicodeDecodeError, and ints past the digit limit
            # 400, never 500: PagerDuty retries a 5xx for 48 hours and the body will not change.
            why = "nested too deeply" if isinstance(e, RecursionError) else (str(e).splitlines() or [""])[0][:200]
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="malformed")
            log.warning("webhook %s rejected: body is not UTF-8 JSON ctxgrab can read: %s", webhook_id, why)
            return JSONResponse({"error": f"body is not valid JSON: {why}"}, status_code=400)
        event = payload.get("event") if isinstance(payload, dict) else None
        if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="malformed")
            log.warning("webhook %s rejected: no event object with an event_type", webhook_id)
            return JSONResponse({"error": "expected {\"event\": {\"event_type\": …, \"data\": …}}"}, status_code=400)
        # the event id is inside the signed body: a captured delivery re-sent under a new
        # X-Webhook-Id (a header the signature does not cover) is still a duplicate
        event_id = event["id"] if isinstance(event.get("id"), str) and event["id"] else None
        try:
            spec, reason = classify_event(event, cfg)
        except MalformedEvent as e:
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="malformed")
            log.warning("webhook %s rejected: %s", webhook_id, e)
            return JSONResponse({"error": str(e)}, status_code=400)
        try:
            outcome = await state["commit"].accept(webhook_id, spec, reason, event_id)
        except QueueUnavailable as e:  # not stored, so not acknowledged: PagerDuty delivers it again
            metrics.inc("ctxgrab_webhooks_rejected_total", reason="queue_unavailable")
            log.error("webhook %s not stored: %s", webhook_id, e)
            return JSONResponse({"error": "queue unavailable; deliver again"}, status_code=503,
                                headers={"Retry-After": "5"})
        metrics.inc("ctxgrab_webhooks_accepted_total", outcome=outcome)
        if outcome in ("queued", "requeued"):
            metrics.inc("ctxgrab_jobs_queued_total")
        body: dict[str, Any] = {"status": outcome}
        if spec is not None:
            body["incident"] = spec.incident_id
        if outcome == "ignored":
            body["reason"] = reason
            log.info("webhook %s (%s) ignored: %s", webhook_id, event.get("event_type"), reason)
        return JSONResponse(body, status_code=202)

    async def prompt(request: Request) -> Response:
        incident_id = request.path_params["incident_id"]
        if prompt_token is None:
            return JSONResponse({"error": "disabled: set server.prompt_token"}, status_code=404)
        auth = request.headers.get("authorization", "")
        sig = request.query_params.get("sig", "")
        ok = False
        if auth.lower().startswith("bearer "):
            ok |= hmac.compare_digest(auth[7:].strip().encode(), prompt_token.encode())
        if sig:
            ok |= hmac.compare_digest(sig.encode(), prompt_signature(incident_id, prompt_token).encode())
        if not ok:
            return JSONResponse({"error": "missing or wrong token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        queue: JobQueue = state["queue"]
        markdown = await anyio.to_thread.run_sync(queue.get_prompt, incident_id, limiter=db_limiter)
        if markdown is None:
            job = await anyio.to_thread.run_sync(queue.get, incident_id, limiter=db_limiter)
            msg = "no prompt yet: the job is " + job.state if job else "no prompt for this incident"
            return JSONResponse({"error": msg}, status_code=404)
        return PlainTextResponse(
            markdown,
            media_type="text/markdown; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"},
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        problems = []
        queue = state.get("queue")
        try:
            if queue is None or not await anyio.to_thread.run_sync(queue.ping, limiter=db_limiter):
                problems.append("queue not open")
        except Exception as e:  # sqlite errors: disk gone, file locked
            problems.append(f"queue: {e}")
        worker: WorkerThread | None = state.get("worker")
        if start_worker and (worker is None or not worker.is_alive() or not worker.ready.is_set()):
            problems.append("worker not running")
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def metrics_endpoint(request: Request) -> Response:
        gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        queue = state.get("queue")
        if queue is not None:
            counts = await anyio.to_thread.run_sync(queue.counts, limiter=db_limiter)
            for st, n in counts.items():
                gauges[("ctxgrab_jobs", (("state", st),))] = n
        worker: WorkerThread | None = state.get("worker")
        if worker is not None and worker.worker is not None:
            for b in worker.worker.breakers():
                gauges[("ctxgrab_circuit_open", (("downstream", b.name),))] = 1 if b.state == "open" else 0
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")

    app = Starlette(
        middleware=[Middleware(_HeaderCount, max_headers=cfg.max_headers)],
        routes=[
            Route("/webhooks/pagerduty", webhook, methods=["POST"]),
            Route("/incidents/{incident_id}/prompt", prompt, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.server = state
    return app
