"""Metric queries: one series set per pack entry or explicit ``metrics:`` entry.

Params (from the planner): ``id``, ``title``, ``query``, ``unit``, ``source``,
``limit_of``, and ``pack`` for pack entries. Two kinds of source:

- ``prometheus_files``: the response is read from ``<path>/<id>.json``, a
  ``query_range`` reply saved as ``curl`` saves it (the demo's default).
- ``prometheus`` / ``victoriametrics`` (and anything that speaks the Prometheus
  HTTP API under a base URL: Mimir ``/prometheus``, Thanos, VictoriaMetrics
  cluster ``/select/0/prometheus``): live ``query_range`` on the event loop
  through one keep-alive connection pool per source and run
  (:func:`live_client`), with a per-request timeout and our own retry policy (one
  quick retry of a refused connection or a 502/503/504, never a sleeping backoff).
  :class:`PromClient` (prometheus-api-client) is the same requests as a blocking
  API for scripts; :class:`AsyncPromClient` says why the collection does not use it.

For a pack with naming variants, a cheap ``/api/v1/series`` probe (shared by all
metrics of the pack in one run) picks Micrometer or OpenTelemetry naming, and the
evidence says which one it used. The probe's first naming is queried while the probe
runs (it wins whenever it exists), so the probe delays nothing in the usual case.
An adjacent baseline is fetched with the window in one query, with the same step
(:func:`ctxgrab.analysis.series.pick_step`); histogram bucket queries, the slowest,
are sent first, and identical queries in a run are sent once.

A per-pod metric (``aggregate: per_instance``) is never fetched one series per pod: an
instant query at the window's end ranks the fleet on the server (``topk``, ``bottomk``, the
median, the pod count, how many pods are within 10 % of the worst) and a range query fetches
the worst pods' series only, so a 300-pod service's replies are as small as a 3-pod one's.
Metrics a pack reads from one shared query (``queries:``; heap used/committed/max, request
rate and 5xx ratio) cost one request and one evaluation between them.

Every fault becomes a stated gap, never an exception: server down, no answer in
time, HTTP 500, a proxy's HTML page, ``status: error`` with its ``errorType``,
``warnings`` on a partial response (kept as evidence warnings), an empty result,
NaN/Inf samples.

Payload (``data``)::

    {"id": "heap_used", "query": "...", "unit": "bytes", "limit_of": null,
     "naming": "micrometer", "step_s": 60, "baseline_label": "the previous window",
     "series": [{"labels": {...}, "summary": {first, last, min, max, mean, p95,
                 trend_per_hour, r2, change_point, sparkline, ...},
                 "points": [[unix_s, value], ...]}],
     "series_total": 1}

Example (library use, outside the engine)::

    >>> client = PromClient(SourceConfig(type="prometheus", url="http://127.0.0.1:9090"), 5.0)  # doctest: +SKIP
    >>> reply = client.query_range("up", 1772400000, 1772443200, 60, time.monotonic() + 5)      # doctest: +SKIP
    >>> reply.data["result"][0]["metric"]                                                      # doctest: +SKIP
    {'__name__': 'up', 'instance': 'localhost:9090', 'job': 'prometheus'}
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from bisect import bisect_left, bisect_right
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import anyio

from ..analysis.series import MAX_POINTS, per_instance, pick_step, quantile_series, rank_series, summarize
from ..errors import body_excerpt, InputError
from ..evidence import Evidence, Status
from ..sources import auth_headers, basic_auth, public_url
from ..timeutil import Window, format_duration
from . import CollectRequest, run_blocking

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..packs import Pack

__all__ = [
    "KIND",
    "MAX_SERIES",
    "PromClient",
    "AsyncPromClient",
    "live_client",
    "fetch_series",
    "PromFault",
    "PromReply",
    "parse_query_range",
    "summarize_series",
    "baseline_label",
    "collect",
]

KIND = "metrics"
MAX_SERIES = 5  # keep the most relevant few; the payload says how many there were
LIVE_TYPES = ("prometheus", "victoriametrics")
RETRY_PAUSE_S = 0.2  # one quick retry of a transient failure, never a sleeping backoff
RETRYABLE_HTTP = (502, 503, 504)
MARGIN_S = 0.3  # answer with our own reason this long before the engine's deadline
_NOT_JSON = object()


# --------------------------------------------------------------------------- parsing (pure)


def parse_query_range(payload: Any, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Series and warnings from a Prometheus ``query_range`` JSON reply."""
    if not isinstance(payload, dict) or "status" not in payload:
        raise InputError(f"{where}: not a Prometheus API reply (no 'status' field)")
    if payload["status"] != "success":
        raise InputError(
            f"{where}: Prometheus error {payload.get('errorType', '?')}: {payload.get('error', 'no message')}"
        )
    return _series_from_data(payload.get("data") or {}, where), list(payload.get("warnings") or [])


def _series_from_data(data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("resultType") not in ("matrix", "vector"):
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{where}: expected a matrix result, got {got!r}")
    series = []
    for item in data.get("result") or []:
        raw = item.get("values") or ([item["value"]] if "value" in item else [])
        try:
            points = [(float(t), float(v)) for t, v in raw]
        except (TypeError, ValueError):
            for pair in raw:  # find the bad one for the message
                try:
                    float(pair[0]), float(pair[1])
                    if len(pair) != 2:
                        raise ValueError
                except (TypeError, ValueError, IndexError):
                    raise InputError(f"{where}: malformed sample {pair!r}") from None
            raise InputError(f"{where}: malformed samples") from None
        if not raw and ("histograms" in item or "histogram" in item):
            raise InputError(f"{where}: native histogram samples; query a quantile or a rate instead")
        points.sort()  # time order (a no-op on Prometheus replies): the window and baseline are then slices
        series.append({"labels": item.get("metric") or {}, "points": points})
    return series


def _between(points: list[tuple[float, float]], lo: float, hi: float, include_hi: bool = True) -> list[tuple[float, float]]:
    """The time-sorted ``points`` with ``lo <= t <= hi`` (``< hi`` unless ``include_hi``), by bisection."""
    first = bisect_left(points, lo, key=itemgetter(0))
    last = (bisect_right if include_hi else bisect_left)(points, hi, first, key=itemgetter(0))
    return points[first:last]


def summarize_series(
    series: list[dict[str, Any]], window: Window, baseline: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Window-filtered summaries, most relevant first, capped at MAX_SERIES; and how many there were."""
    summaries, total, _, _ = _summaries(series, window, baseline)
    return summaries, total


def buckets_to_quantile(series: list[dict[str, Any]], quantile: float, where: str) -> list[dict[str, Any]]:
    """Histogram bucket rates by ``le`` (what a pack's bucket query returns) as one quantile series.

    Live replies and saved ones both pass here, so a saved reply of bucket rates reads
    "Latency p99: 1.6 s", never one line per bucket.
    """
    if not series:
        return series
    if not any("le" in s["labels"] for s in series):
        return series  # already quantiles (a saved histogram_quantile reply, one series per pod or one in all)
    return [{"labels": {}, "points": quantile_series(quantile, series)}]


def _summaries(
    series: list[dict[str, Any]], window: Window, baseline: list[dict[str, Any]] | None, per_pod: bool = False
) -> tuple[list[dict[str, Any]], int, int, int]:
    """:func:`summarize_series`, plus the samples in the window and how many were NaN/Inf (one pass each)."""
    lo, hi = window.start.timestamp(), window.end.timestamp()
    base_by_labels = {json.dumps(s["labels"], sort_keys=True): s["points"] for s in baseline or []} \
        if baseline and (len(baseline) > 1 or len(series) > 1) else None
    out = []
    n_in_window = bad = 0
    for s in series:
        pts = _between(sorted(s["points"]), lo, hi)  # sorted(): C speed on sorted input, and callers may pass any
        if not pts:
            continue
        n_in_window += len(pts)
        if base_by_labels is None:
            base = baseline[0]["points"] if baseline and baseline[0]["labels"] == s["labels"] else None
        else:
            base = base_by_labels.get(json.dumps(s["labels"], sort_keys=True))
        summary = summarize(pts, base)
        dropped = summary.get("dropped_points") or 0
        bad += dropped
        if not summary.get("points"):
            continue  # every sample NaN/Inf: nothing a person could quote
        if dropped:
            pts = [p for p in pts if math.isfinite(p[1])]
        out.append({"labels": s["labels"], "summary": summary, "points": list(map(list, pts))})
    if per_pod:
        ordered, _ = per_instance(out)
        return ordered[:MAX_SERIES], len(ordered), n_in_window, bad
    ranked, total = rank_series(out, MAX_SERIES)
    return ranked, total, n_in_window, bad


def _all_summaries(series: list[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    """Last/max of every series in the window: the spread across all pods, not only those shown."""
    lo, hi = window.start.timestamp(), window.end.timestamp()
    out = []
    for s in series:
        vals = [v for _, v in _between(sorted(s["points"]), lo, hi) if math.isfinite(v)]
        if vals:
            out.append({"labels": s["labels"], "summary": {"last": vals[-1], "max": max(vals)}})
    return out


def baseline_label(window: Window, baseline: Window | None) -> str | None:
    """How the prompt names the baseline window.

    >>> from ctxgrab.timeutil import parse_time, parse_duration
    >>> w = Window.ending(parse_time("2026-03-02T12:00:00Z"), parse_duration("2h"))
    >>> baseline_label(w, w.before()), baseline_label(w, w.shifted(parse_duration("1w")))
    ('the previous window', 'the same window 1 week earlier')
    """
    if baseline is None:
        return None
    offset = window.start - baseline.start
    if offset == window.length and baseline.length == window.length:
        return "the previous window"
    seconds = offset.total_seconds()
    if seconds > 0 and seconds % (7 * 86400) == 0:
        n, word = int(seconds // (7 * 86400)), "week"
    elif seconds > 0 and seconds % 86400 == 0:
        n, word = int(seconds // 86400), "day"
    else:
        return f"the same window {format_duration(offset)} earlier"
    return f"the same window {n} {word}{'s' if n != 1 else ''} earlier"


_SAVED_INLINE_BYTES = 8 << 20


def _read_saved(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None


# --------------------------------------------------------------------------- HTTP client


class PromFault(Exception):
    """A request that produced no usable reply; ``str()`` is the reason the prompt shows."""

    def __init__(self, reason: str, status: Status = Status.error, retryable: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.retryable = retryable


@dataclass
class PromReply:
    """The ``data`` of a successful reply and the server's ``warnings``.

    ``series`` is the matrix already turned into ``[{"labels", "points": [(t, v), ...]}]``
    when the reply was parsed in the worker thread (:func:`fetch_series`), so collectors
    sharing one query (latency p50 and p99) convert its samples once; ``parse_error`` says
    why that failed.
    """

    data: Any
    warnings: list[str]
    elapsed_s: float
    series: list[dict[str, Any]] | None = None
    parse_error: str | None = None


def _snippet(body: bytes, limit: int = 80) -> str:
    return body_excerpt(body, limit)  # an HTML error page becomes its title


class _Chain(Exception):
    """An exception's text with its causes' (httpx wraps the socket error two levels down)."""


def _chain(exc: BaseException) -> _Chain:
    parts, seen, link = [], set(), exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        parts.append(f"{type(link).__name__}: {link}")
        link = link.__cause__ or link.__context__
    return _Chain(" <- ".join(parts))


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("ConnectionRefusedError", "connection refused"),
        ("gaierror", "host name not found"),
        ("ConnectionResetError", "connection reset"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted (set ca_file or verify_tls: false)"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "connection closed without a reply"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


class PromClient:
    """HTTP access to one Prometheus-compatible source, configured from its :class:`SourceConfig`.

    Blocking: call it from a worker thread (:func:`ctxgrab.collectors.run_blocking`).
    Each call opens its own ``requests`` session, so concurrent calls from several
    threads share nothing. ``timeout_s`` caps every request (connect and read).
    """

    def __init__(self, source: "SourceConfig", timeout_s: float, what: str | None = None) -> None:
        if not source.url:
            raise PromFault(f"source of type {source.type} has no url — fix: set sources.<name>.url")
        self.source = source
        self.url = source.url.rstrip("/")
        self.public_url = public_url(self.url)
        self.timeout_s = timeout_s
        self.what = what or {"victoriametrics": "VictoriaMetrics", "alertmanager": "Alertmanager"}.get(
            source.type, "Prometheus"
        )

    # -- plumbing

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **auth_headers(self.source)}

    def _auth(self) -> tuple[str, str] | None:
        return basic_auth(self.source)

    def _session(self) -> tuple[Any, list[Any]]:
        import requests

        session = requests.Session()
        # requests re-reads proxy variables and ~/.netrc on every request; skip that unless proxies are set
        session.trust_env = any(k.lower().endswith("_proxy") for k in os.environ)
        session.verify = self.source.ca_file if (self.source.verify_tls and self.source.ca_file) else self.source.verify_tls
        seen: list[Any] = []

        def record(resp: Any, *args: Any, **kwargs: Any) -> None:
            # Parse once: the library calls resp.json() and we read the envelope (warnings) too.
            try:
                payload = json.loads(resp.content) if resp.content else None
                resp.json = lambda **kw: payload
            except ValueError:
                payload = _NOT_JSON
            resp.ctxgrab_payload = payload
            seen.append(resp)

        session.hooks["response"].append(record)
        return session, seen

    def _connect(self, timeout_s: float) -> tuple[Any, Any, list[Any]]:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session, seen = self._session()
        # No library retries: they sleep (backoff 1 s) and ignore our deadline. We retry ourselves.
        no_retry = Retry(total=None, connect=0, read=False, status=0, other=0, redirect=3, raise_on_status=False)
        pc = PrometheusConnect(
            url=self.url,
            headers=self._headers(),
            disable_ssl=not self.source.verify_tls,
            retry=no_retry,
            auth=self._auth(),
            session=session,
            timeout=timeout_s,
        )
        return pc, session, seen

    def _run(self, call: Callable[[Any, Any], Any], timeout_s: float, api: str, envelope: bool = True) -> PromReply:
        """One request through ``call(pc, session)``, interpreted from the raw reply the session recorded."""
        import requests

        timeout_s = max(0.05, min(timeout_s, self.timeout_s))
        pc, session, seen = self._connect(timeout_s)
        started = time.monotonic()
        try:
            call(pc, session)
        except requests.exceptions.Timeout:
            raise PromFault(
                f"{self.what} at {self.public_url} gave no answer within {timeout_s:.1f} s ({api})", Status.timeout
            ) from None
        except requests.exceptions.SSLError as e:
            raise PromFault(f"{self.what} at {self.public_url}: TLS failed: {_connection_reason(e)}") from None
        except requests.exceptions.ConnectionError as e:
            if "timed out" in str(e):
                raise PromFault(
                    f"{self.what} at {self.public_url} gave no answer within {timeout_s:.1f} s ({api})",
                    Status.timeout,
                ) from None
            raise PromFault(
                f"{self.what} unreachable at {self.public_url}: {_connection_reason(e)}", retryable=True
            ) from None
        except Exception:  # noqa: BLE001 - the library trips over non-JSON and error replies; read the raw reply below
            if not seen:
                raise
        finally:
            session.close()
        if not seen:
            raise PromFault(f"{self.what} at {self.public_url}: no reply ({api})")
        return self._interpret(seen[-1], api, envelope, time.monotonic() - started)

    def _interpret(self, resp: Any, api: str, envelope: bool, elapsed_s: float) -> PromReply:
        code = resp.status_code
        ctype = (resp.headers.get("content-type") or "").split(";")[0].strip()
        body = resp.content or b""
        payload = getattr(resp, "ctxgrab_payload", None)
        if payload is _NOT_JSON:
            payload = None
        where = f"{self.what} at {self.public_url}"
        if envelope and isinstance(payload, dict) and "status" in payload:
            if payload["status"] != "success":
                etype = payload.get("errorType") or "unknown"
                status = Status.timeout if etype in ("timeout", "canceled") else Status.error
                raise PromFault(
                    f"{where} answered {api} with error {etype} (HTTP {code}): {payload.get('error') or 'no message'}",
                    status,
                    retryable=etype == "unavailable",
                )
            if code == 200:
                return PromReply(payload.get("data"), [str(w) for w in payload.get("warnings") or []], elapsed_s)
        if not envelope and code == 200 and payload is not None:
            return PromReply(payload, [], elapsed_s)
        if code == 401 or code == 403:
            raise PromFault(f"{where}: HTTP {code} on {api} — check bearer_token / username / org_id")
        if code != 200:
            detail = payload if isinstance(payload, str) else _snippet(body)
            if payload is None:
                # Not the server's own answer (a proxy's page): the source fails, whichever endpoint was
                # asked, so every metric of it says the same and the gaps show one line for the source.
                raise PromFault(f"{where}: HTTP {code}, not a {self.what} reply ({ctype or 'no content type'}): "
                                f"{detail}", retryable=code in RETRYABLE_HTTP)
            raise PromFault(f"{where}: HTTP {code} on {api}: {detail}", retryable=code in RETRYABLE_HTTP)
        raise PromFault(
            f"{where}: the {api} reply is not {self.what} JSON ({ctype or 'no content type'}: {_snippet(body)}) "
            "— a proxy or login page in front of it?"
        )

    def _retrying(self, fn: Callable[[float], PromReply], deadline: float) -> PromReply:
        """Our retry policy: one quick retry of a transient fault, only if the deadline leaves room."""
        try:
            return fn(min(self.timeout_s, deadline - time.monotonic()))
        except PromFault as fault:
            left = deadline - time.monotonic() - RETRY_PAUSE_S
            if not fault.retryable or left < 0.5:
                raise
            time.sleep(RETRY_PAUSE_S)
            return fn(min(self.timeout_s, left))

    # -- API

    def query_range(self, query: str, start_s: float, end_s: float, step_s: float, deadline: float) -> PromReply:
        """``/api/v1/query_range``; ``deadline`` is a ``time.monotonic()`` value."""
        from datetime import datetime, timezone

        start = datetime.fromtimestamp(start_s, tz=timezone.utc)
        end = datetime.fromtimestamp(end_s, tz=timezone.utc)

        def once(timeout_s: float) -> PromReply:
            return self._run(
                lambda pc, _s: pc.custom_query_range(
                    query, start_time=start, end_time=end, step=str(int(step_s)),
                    params={"timeout": f"{max(1, int(timeout_s))}s"},
                ),
                timeout_s,
                "query_range",
            )

        return self._retrying(once, deadline)

    def series(self, match: str, start_s: float, end_s: float, deadline: float) -> PromReply:
        """``/api/v1/series`` for one selector (the naming probe)."""
        from datetime import datetime, timezone

        start = datetime.fromtimestamp(start_s, tz=timezone.utc)
        end = datetime.fromtimestamp(end_s, tz=timezone.utc)

        def once(timeout_s: float) -> PromReply:
            return self._run(lambda pc, _s: pc.get_series(start, end, params={"match[]": match}), timeout_s, "series")

        return self._retrying(once, deadline)

    def get(self, path: str, params: dict[str, Any] | list[tuple[str, str]] | None, deadline: float,
            envelope: bool = True) -> PromReply:
        """GET ``<url><path>`` with the source's auth and headers (alerts APIs)."""

        def once(timeout_s: float) -> PromReply:
            def call(_pc: Any, session: Any) -> None:
                session.get(f"{self.url}{path}", params=params, headers=self._headers(), auth=self._auth(),
                            timeout=timeout_s)

            return self._run(call, timeout_s, path.rsplit("/api/", 1)[-1], envelope)

        return self._retrying(once, deadline)


class AsyncPromClient:
    """The collection's HTTP access to a Prometheus-compatible source: :class:`PromClient`'s
    requests, timeout, retry policy and fault messages, on the event loop.

    Why not prometheus-api-client here: it is blocking, so every request of a collection
    needed its own worker thread and ``requests`` session, and with twenty requests in
    flight the threads fought the event loop for the GIL (the summaries of a run took
    3× their CPU time and 3× that in wall time). One shared ``httpx.AsyncClient`` per
    source and run needs no threads and keeps connections alive between requests.
    :class:`PromClient` stays the blocking API for scripts and notebooks.

    Use through :func:`live_client`, which shares and closes the underlying connection pool.
    """

    def __init__(self, source: "SourceConfig", timeout_s: float, http: Any, what: str | None = None) -> None:
        self.sync = PromClient(source, timeout_s, what)  # url checks, headers, auth, fault wording
        self.source = source
        self.url, self.public_url, self.what = self.sync.url, self.sync.public_url, self.sync.what
        self.timeout_s = timeout_s
        self.http = http

    async def _once(self, path: str, params: Any, timeout_s: float, api: str, envelope: bool) -> PromReply:
        import httpx

        timeout_s = max(0.05, min(timeout_s, self.timeout_s))
        started = time.monotonic()
        no_answer = f"{self.what} at {self.public_url} gave no answer within {timeout_s:.1f} s ({api})"
        resp = None
        with anyio.move_on_after(timeout_s):  # a total cap: httpx's timeouts are per read
            try:
                resp = await self.http.get(f"{self.url}{path}", params=params, timeout=timeout_s)
            except httpx.TimeoutException:
                raise PromFault(no_answer, Status.timeout) from None
            except httpx.TransportError as e:
                chain = _chain(e)
                reason = _connection_reason(chain)
                if "SSL" in str(chain) or "CERTIFICATE" in str(chain):
                    raise PromFault(f"{self.what} at {self.public_url}: TLS failed: {reason}") from None
                if reason == type(chain).__name__:  # not one of the known causes
                    reason = {"RemoteProtocolError": "connection closed without a reply",
                              "ReadError": "connection reset"}.get(type(e).__name__, str(e) or type(e).__name__)
                raise PromFault(f"{self.what} unreachable at {self.public_url}: {reason}", retryable=True) from None
        if resp is None:
            raise PromFault(no_answer, Status.timeout)
        body = resp.content
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = _NOT_JSON
        shim = _Reply(resp.status_code, resp.headers, body, payload)
        return self.sync._interpret(shim, api, envelope, time.monotonic() - started)

    async def _retrying(self, path: str, params: Any, deadline: float, api: str, envelope: bool = True) -> PromReply:
        """:meth:`PromClient._retrying`: one quick retry of a transient fault, only if the deadline leaves room."""
        try:
            return await self._once(path, params, min(self.timeout_s, deadline - time.monotonic()), api, envelope)
        except PromFault as fault:
            left = deadline - time.monotonic() - RETRY_PAUSE_S
            if not fault.retryable or left < 0.5:
                raise
            await anyio.sleep(RETRY_PAUSE_S)
            return await self._once(path, params, min(self.timeout_s, left), api, envelope)

    async def query_range(self, query: str, start_s: float, end_s: float, step_s: float, deadline: float) -> PromReply:
        """``/api/v1/query_range`` (the same parameters prometheus-api-client sends)."""
        timeout_s = max(0.05, min(self.timeout_s, deadline - time.monotonic()))
        params = {"query": query, "start": round(start_s), "end": round(end_s), "step": str(int(step_s)),
                  "timeout": f"{max(1, int(timeout_s))}s"}
        return await self._retrying("/api/v1/query_range", params, deadline, "query_range")

    async def query(self, query: str, time_s: float, deadline: float) -> PromReply:
        """``/api/v1/query`` at ``time_s`` (the per-pod ranking at the window's end)."""
        timeout_s = max(0.05, min(self.timeout_s, deadline - time.monotonic()))
        params = {"query": query, "time": round(time_s), "timeout": f"{max(1, int(timeout_s))}s"}
        return await self._retrying("/api/v1/query", params, deadline, "query")

    async def series(self, match: str, start_s: float, end_s: float, deadline: float) -> PromReply:
        """``/api/v1/series`` for one selector (the naming probe)."""
        params = {"match[]": match, "start": float(start_s), "end": float(end_s)}
        return await self._retrying("/api/v1/series", params, deadline, "series")

    async def get(self, path: str, params: dict[str, Any] | list[tuple[str, str]] | None, deadline: float,
                  envelope: bool = True) -> PromReply:
        """GET ``<url><path>`` with the source's auth and headers (alerts APIs)."""
        return await self._retrying(path, params, deadline, path.rsplit("/api/", 1)[-1], envelope)


@dataclass
class _Reply:
    """What :meth:`PromClient._interpret` reads of a response."""

    status_code: int
    headers: Any
    content: bytes
    ctxgrab_payload: Any


_SSL_CONTEXTS: dict[Any, Any] = {}


def _ssl_context(source: "SourceConfig") -> Any:
    """The TLS context for ``source``: one per verification setting and process (building one costs ~20 ms).

    ``verify_tls: false`` checks neither the certificate nor the host name; ``ca_file`` trusts
    that bundle instead of the system's. Raises :class:`PromFault` for an unreadable ``ca_file``.
    """
    import ssl

    https = (source.url or "").lower().startswith("https:")
    key = (bool(source.verify_tls) or not https, source.ca_file if https and source.verify_tls else None)
    ctx = _SSL_CONTEXTS.get(key)
    if ctx is None:
        try:
            ctx = ssl.create_default_context(cafile=key[1] or None)
        except (OSError, ssl.SSLError) as e:
            raise PromFault(f"source {source.type} {public_url(source.url or '')}: cannot read ca_file "
                            f"{key[1]}: {getattr(e, 'strerror', None) or e}") from None
        if not key[0]:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx = _SSL_CONTEXTS.setdefault(key, ctx)
    return ctx


def _new_http(source: "SourceConfig", timeout_s: float) -> Any:
    import httpx

    probe = PromClient(source, timeout_s)  # raises PromFault for a source without a url
    auth = probe._auth()
    return httpx.AsyncClient(
        headers=probe._headers(),
        auth=httpx.BasicAuth(*auth) if auth else None,
        verify=_ssl_context(source),
        # proxies and ~/.netrc only when the environment sets a proxy (as PromClient's session)
        trust_env=any(k.lower().endswith("_proxy") for k in os.environ),
        timeout=timeout_s,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
    )


@asynccontextmanager
async def live_client(request: CollectRequest, source_name: str, source: "SourceConfig", timeout_s: float,
                      what: str | None = None) -> AsyncIterator[AsyncPromClient]:
    """An :class:`AsyncPromClient` whose connection pool every collector of the run shares for ``source_name``.

    The pool is closed when its last user leaves (a later user opens a new one).
    Raises :class:`PromFault` for a source without a URL or with an unreadable ``ca_file``.

    >>> async def heap(request, source):  # doctest: +SKIP
    ...     async with live_client(request, "prom", source, 5.0) as client:
    ...         reply = await fetch_series(client, "sum(jvm_memory_used_bytes)", 1772400000, 1772443200, 60,
    ...                                    time.monotonic() + 5)
    ...     return reply.series  # [{"labels": {}, "points": [(1772400000.0, 2.1e9), ...]}]
    """
    pools: dict[str, Any] = request.extra.setdefault("_prom_http", {})
    entry = pools.get(source_name)
    if entry is None:
        entry = pools[source_name] = {"http": _new_http(source, timeout_s), "users": 0}
    entry["users"] += 1
    try:
        yield AsyncPromClient(source, timeout_s, entry["http"], what)
    finally:
        entry["users"] -= 1
        if entry["users"] == 0:
            if pools.get(source_name) is entry:
                del pools[source_name]
            with anyio.CancelScope(shield=True):
                await entry["http"].aclose()


# --------------------------------------------------------------------------- collector


def _deadline(request: CollectRequest) -> float:
    """A ``time.monotonic()`` deadline just inside the engine's (so we say what timed out)."""
    budget = request.timeout_s
    try:
        effective = anyio.current_effective_deadline()
        if math.isfinite(effective):
            budget = min(budget, effective - anyio.current_time())
    except RuntimeError:
        pass
    return time.monotonic() + max(0.1, budget - MARGIN_S)


def _request_timeout(request: CollectRequest, source: "SourceConfig") -> float:
    return source.timeout_s or request.timeout_s


async def fetch_series(client: AsyncPromClient, query: str, start_s: float, end_s: float, step_s: float,
                       deadline: float) -> PromReply:
    """``query_range`` with its samples already converted to floats (``reply.series``)."""
    reply = await client.query_range(query, start_s, end_s, step_s, deadline)
    try:
        reply.series = _series_from_data(reply.data, f"{client.what} at {client.public_url}")
    except InputError as e:
        reply.parse_error = str(e)
    reply.data = None  # the floats are all anyone reads from here; let the JSON tree go
    return reply


async def shared_query_range(
    request: CollectRequest, source_name: str, client: AsyncPromClient, query: str, start_s: float, end_s: float,
    step_s: float, deadline: float,
) -> PromReply:
    """``query_range`` once per run for identical (source, query, range, step); concurrent askers share it.

    ``step_s == 0`` asks an instant query at ``end_s`` instead (the fleet ranking).

    Latency p50 and p99 read the same bucket rates: the server evaluates them once and the
    samples are converted once (the reply carries ``series``). Raises the shared
    :class:`PromFault` when the query failed.
    """
    cache: dict[Any, Any] = request.extra.setdefault("_metrics_queries", {})
    key = (source_name, query, start_s, end_s, step_s)
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = {"event": anyio.Event(), "result": None}
        try:
            if step_s == 0:  # an instant query at end_s
                entry["result"] = reply = await client.query(query, end_s, deadline)
                try:
                    reply.series = _series_from_data(reply.data, f"{client.what} at {client.public_url}")
                except InputError as e:
                    reply.parse_error = str(e)
                reply.data = None
            else:
                entry["result"] = await fetch_series(client, query, start_s, end_s, step_s, deadline)
        except PromFault as fault:
            entry["result"] = fault
        finally:
            entry["event"].set()
    else:
        await entry["event"].wait()
    result = entry["result"]
    if result is None:
        raise PromFault(f"{client.what} at {client.public_url} gave no answer in time "
                        f"({'query' if step_s == 0 else 'query_range'})", Status.timeout)
    if isinstance(result, PromFault):
        raise result
    return result


async def choose_naming(
    request: CollectRequest, client: AsyncPromClient, source_name: str, pack: "Pack", labels: dict[str, str],
    deadline: float,
) -> dict[str, Any]:
    """Which naming variant of ``pack`` the source holds, probed once per run and shared.

    Returns ``{"naming": name or None, "note": text, "error": reason or None}``.
    """
    from ..packs import selector

    cache: dict[Any, Any] = request.extra.setdefault("_metrics_naming", {})
    key = (source_name, pack.name, selector(labels))
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = {"event": anyio.Event(), "result": None}
        try:
            entry["result"] = await _probe(request, client, pack, labels, deadline)
        finally:
            entry["event"].set()
    else:
        await entry["event"].wait()
    return entry["result"] or {"naming": None, "note": "probe did not finish", "error": "probe did not finish"}


async def _probe(
    request: CollectRequest, client: AsyncPromClient, pack: "Pack", labels: dict[str, str], deadline: float
) -> dict[str, Any]:
    from ..packs import fill

    names = list(pack.probe)
    found: dict[str, int] = {}
    lo, hi = request.window.start.timestamp(), request.window.end.timestamp()

    # One naming at a time, in the pack's order, stopping at the first that exists: the usual
    # case (the first naming) costs one lookup, and the metric queries are not waiting on it
    # (the first naming's queries already run, see _collect_with).
    for name in names:
        try:
            reply = await client.series(fill(pack.probe[name], labels), lo, hi, deadline)
            found[name] = len(reply.data or [])
        except PromFault as fault:
            return {"naming": None, "note": None, "error": str(fault)}  # asking again would meet the same fault
        if found.get(name):
            break
    for name in names:
        if found.get(name):
            return {"naming": name, "note": f"{_NAMING_TITLES.get(name, name)} naming ({found[name]} series "
                    f"match `{fill(pack.probe[name], labels)}`)", "error": None}
    return {"naming": None, "note": f"the probe found neither {' nor '.join(_NAMING_TITLES.get(n, n) for n in names)} "
            "series for these labels", "error": None}


_NAMING_TITLES = {"micrometer": "Micrometer", "otel": "OpenTelemetry"}


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    mid = params["id"]
    title = params.get("title") or mid
    name = params.get("name") or mid
    source_name = params.get("source")
    base = {"kind": KIND, "name": name, "title": title}
    if not source_name:
        return Evidence.failed(
            **base,
            reason="no metrics source: set services.<name>.metrics_source or define exactly one metrics source",
            status=Status.skipped,
        )
    source = request.config.sources[source_name]
    data: dict[str, Any] = {
        "id": mid,
        "query": params.get("query", ""),
        "unit": params.get("unit"),
        "limit_of": params.get("limit_of"),
        "baseline_label": baseline_label(request.window, request.baseline),
    }
    pack_metric, pack = _pack_metric(request, params)
    optional = bool(pack_metric and pack_metric.optional)
    if optional:
        data["optional"] = True
    aggregate = (pack_metric.aggregate if pack_metric is not None else None) or params.get("aggregate")
    if aggregate:
        data["aggregate"] = aggregate
    bounded_by = list(pack_metric.bounded_by) if pack_metric is not None else list(params.get("bounded_by") or [])
    if bounded_by:
        data["bounded_by"] = bounded_by
    if source.type == "prometheus_files":
        folder = request.resolve(source.path or ".")
        # A staging twin reads its own saved reply (`saved_as`) for the same pack metric.
        path = folder / f"{params.get('saved_as') or mid}.json"
        if not path.is_file():
            if optional:
                return Evidence(**base, reason=f"not exposed (optional; no saved response {path.name})",
                                status=Status.skipped, source=str(path), data=data)
            return Evidence.failed(**base, reason=f"no saved response {path.name} in {folder}", status=Status.empty,
                                   source=str(path))
        # JSON has no aliases: a small reply cannot expand. A large one is parsed under the
        # run's parse budget (deadline and memory cap enforced in a child, parsebudget.py).
        if path.stat().st_size <= _SAVED_INLINE_BYTES:
            payload = await run_blocking(_read_saved, path)
        else:
            from .. import parsebudget

            payload = await parsebudget.arun(_read_saved, path, what=f"saved Prometheus reply {path.name}")
        series, warnings = parse_query_range(payload, str(path))
        quantile = pack_metric.quantile if pack_metric is not None else params.get("quantile")
        if quantile is not None:
            try:
                series = buckets_to_quantile(series, float(quantile), str(path))
            except InputError as e:
                return Evidence.failed(**base, reason=str(e), source=str(path))
            data["quantile"] = quantile
        baseline_series = None
        if request.baseline is not None:
            # A saved response may span the baseline too; use what it holds.
            b_lo, b_hi = request.baseline.start.timestamp(), request.baseline.end.timestamp()
            baseline_series = [
                {"labels": s["labels"], "points": _between(s["points"], b_lo, b_hi, False)}
                for s in series
            ]
        return _finish(base, data, series, baseline_series, warnings, request, str(path), optional)
    if source.type in LIVE_TYPES:
        return await _collect_live(request, params, base, data, source_name, source, pack, pack_metric, optional)
    return Evidence.failed(
        **base,
        reason=f"source {source_name!r} has type {source.type!r}, which does not answer PromQL",
        status=Status.skipped,
    )


# --------------------------------------------------------------------------- fleets (per-pod metrics)
#
# A per-pod metric of a fleet of 300 pods is not fetched as 300 series. One instant query at
# the window's end asks Prometheus for the worst pods (topk), the lowest (bottomk), the median,
# the pod count and how many pods are alike the worst; one range query then fetches only the
# worst pods' series (their labels added to every selector). Both replies are bounded
# whatever the fleet's size.

_STAT = "ctxgrab_stat"
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def _ranking_query(q: str, by: str | None) -> str:
    """The fleet's ranking of per-pod query ``q`` as one instant query (stats told apart by ``ctxgrab_stat``).

    >>> _ranking_query("X", None)[:74]
    'label_replace(topk by () (3, (X)), "ctxgrab_stat", "top", "", "") or label'
    """
    from ..analysis.series import ALIKE_WITHIN, WORST_PODS

    inner = f"({q})"  # a shared query is `a or b`: `>=` binds tighter than `or`
    g = by or ""
    stats = (
        ("top", f"topk by ({g}) ({WORST_PODS}, {inner})"),
        ("bottom", f"bottomk by ({g}) (1, {inner})"),
        ("p50", f"quantile by ({g}) (0.5, {inner})"),
        ("count", f"count by ({g}) ({inner})"),
        ("alike", f"count by ({g}) ({inner} >= on ({g}) group_left () {1 - ALIKE_WITHIN:g} * max by ({g}) ({inner}))"),
    )
    return " or ".join(f'label_replace({e}, "{_STAT}", "{name}", "", "")' for name, e in stats)


def _parse_ranking(series: list[dict[str, Any]], by: str | None) -> dict[str | None, dict[str, Any]]:
    """``{part: fleet_info}`` from a ranking reply (``part`` is the ``by`` label's value, None without one)."""
    from ..analysis.series import fleet_info

    raw: dict[str | None, dict[str, Any]] = {}
    for s in series:
        labels = dict(s["labels"])
        stat = labels.pop(_STAT, None)
        part = labels.pop(by, None) if by else None
        if not s["points"] or stat is None:
            continue
        value = s["points"][-1][1]
        slot = raw.setdefault(part, {"top": []})
        if stat == "top":
            slot["top"].append({"labels": labels, "last": value})
        elif stat == "bottom":
            slot["min"] = value
        else:
            slot[stat] = value
    out = {}
    for part, slot in raw.items():
        if not slot.get("count"):
            continue
        top = sorted(slot["top"], key=lambda t: (-t["last"], json.dumps(t["labels"], sort_keys=True)))
        out[part] = fleet_info(int(slot["count"]), top, slot.get("min", math.nan), slot.get("p50", math.nan),
                               int(slot.get("alike", 0)))
    return out


def _re2_alternatives(values: list[str]) -> str:
    return "|".join("".join("\\" + c if c in _RE2_SPECIAL else c for c in v) for v in values)


def _pod_matchers(label_sets: list[dict[str, str]]) -> str:
    r"""Matchers selecting the raw series of these pods (a superset when several labels vary; the reply
    is narrowed to the exact label sets afterwards); ``""`` also matches a series without the label.

    >>> print(_pod_matchers([{"pod": "a", "instance": "10.0.0.1:8080"}, {"pod": "b.c"}]))
    instance=~"|10\\.0\\.0\\.1:8080",pod=~"a|b\\.c"
    """
    out = []
    for key in sorted({k for ls in label_sets for k in ls}):
        values = sorted({ls.get(key, "") for ls in label_sets})  # "" also matches series without the label
        text = _re2_alternatives(values).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append(f'{key}=~"{text}"')
    return ",".join(out)


def _label_key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


async def _fleet_fetch(
    request: CollectRequest, source_name: str, client: "AsyncPromClient", template: str, labels: dict[str, str],
    by: str | None, windows: dict[str, Window], step_s: int, deadline: float, limit_parts: dict[str, str] | None = None,
) -> tuple[dict[str | None, dict[str, Any]], dict[str, "PromReply | PromFault"]]:
    """The ranking of a per-pod query, then its worst pods' series over ``windows`` (tag -> window).

    Every metric of a shared query (heap used, committed, max) asks the same two queries, so the
    run sends each once, and the range query returns exactly the series some metric shows (each
    part's own worst pods; ``limit_parts``, heap max -> used, its usage's pods). Raises
    :class:`PromFault` when the ranking fails.
    """
    from ..packs import fill

    q = fill(template, labels)
    end = request.window.end.timestamp()
    ranking = await shared_query_range(request, source_name, client, _ranking_query(q, by), end, end, 0, deadline)
    if ranking.parse_error:
        raise PromFault(ranking.parse_error)
    stats = _parse_ranking(ranking.series or [], by)
    warnings = list(ranking.warnings)
    if not stats:
        # No pod reports at the window's end (the service stopped, or the window is history): rank
        # at the last step any pod reported (a pod count over the window, one series, finds it).
        w = request.window
        counts = await shared_query_range(request, source_name, client, f"count({q})", w.start.timestamp(),
                                          end, step_s, deadline)
        last = max((t for c in counts.series or [] for t, v in c["points"] if math.isfinite(v)), default=None)
        if last is not None:
            ranking = await shared_query_range(request, source_name, client, _ranking_query(q, by), last, last, 0,
                                               deadline)
            if ranking.parse_error:
                raise PromFault(ranking.parse_error)
            stats = _parse_ranking(ranking.series or [], by)
            for st in stats.values():
                st["ranked_at"] = last
    limit_parts = limit_parts or {}
    wanted = {part: stats[limit_parts.get(part, part)]["worst_pods"] if limit_parts.get(part, part) in stats
              else st["worst_pods"] for part, st in stats.items()}  # type: ignore[index]
    worst = {_label_key(t["labels"]): t["labels"] for pods in wanted.values() for t in pods}
    replies: dict[str, PromReply | PromFault] = {}
    if not worst:
        for tag in windows:
            replies[tag] = PromReply(None, warnings, ranking.elapsed_s, series=[])
        return stats, replies
    narrow = fill(template, labels, _pod_matchers([worst[k] for k in sorted(worst)]))
    if len(worst) > 1 or len(wanted) > 1:
        # The matchers select every part of every pod wanted by any part: keep on the server only
        # the (part, pod) pairs some metric shows, so nothing else is encoded, sent or converted.
        keys = sorted({k for t in worst.values() for k in t} | ({by} if by else set()))
        pairs = sorted({_label_key({**t["labels"], **({by: part} if by else {})})
                        for part, pods in wanted.items() for t in pods})
        narrow = f"({narrow}) and on ({', '.join(keys)}) ({_literal_vector([json.loads(k) for k in pairs])})"

    async def one(tag: str, w: Window) -> None:
        try:
            replies[tag] = await shared_query_range(request, source_name, client, narrow, w.start.timestamp(),
                                                    w.end.timestamp(), step_s, deadline)
        except PromFault as fault:
            replies[tag] = fault

    async with anyio.create_task_group() as tg:
        for tag, w in windows.items():
            tg.start_soon(one, tag, w)
    for tag, r in list(replies.items()):
        if isinstance(r, PromReply):  # shared with the family's other metrics: a copy of our own
            replies[tag] = PromReply(None, r.warnings + [w for w in warnings if w not in r.warnings], r.elapsed_s,
                                     series=r.series, parse_error=r.parse_error)
    return stats, replies


def _literal_vector(label_sets: list[dict[str, str]]) -> str:
    """A constant instant vector holding exactly these label sets (``vector(1)`` relabelled), for ``and on``.

    >>> _literal_vector([{"pod": "a$1"}])
    'label_replace(vector(1), "pod", "a$$1", "", "")'
    """
    out = []
    for ls in label_sets:
        e = "vector(1)"
        for k, v in sorted(ls.items()):
            v = v.replace("$", "$$").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            e = f'label_replace({e}, "{k}", "{v}", "", "")'
        out.append(e)
    return " or ".join(out)


def _limit_parts(pack: Any, shared: Any) -> dict[str, str]:
    """Parts of ``shared``'s query that are limits of another part of it, and that part (heap max -> used)."""
    if shared is None:
        return {}
    out = {}
    for m in pack.metrics:
        target = pack.metric(m.limit_of) if m.limit_of else None
        if (m.shared is not None and m.shared.query == shared.query and m.shared.part is not None
                and target is not None and target.shared is not None and target.shared.query == shared.query
                and target.shared.part is not None):
            out[m.shared.part] = target.shared.part
    return out


def _pick(series: list[dict[str, Any]], shared: Any, by: str | None) -> list[dict[str, Any]]:
    """This metric's series from a shared query's reply: one ``part``, the sum over all, or the share of
    the series whose ``by`` label fully matches the regex ``ratio_of`` (``5..``, as PromQL's ``=~``)."""
    if shared is None or not by:
        return series
    if shared.part is not None:
        out = []
        for s in series:
            if s["labels"].get(by) == shared.part:
                out.append({"labels": {k: v for k, v in s["labels"].items() if k != by}, "points": s["points"]})
        return out
    groups: dict[str, dict[str, Any]] = {}
    for s in series:
        rest = {k: v for k, v in s["labels"].items() if k != by}
        g = groups.setdefault(_label_key(rest), {"labels": rest, "total": {}, "part": {}})
        mine = shared.ratio_of is not None and re.fullmatch(shared.ratio_of, s["labels"].get(by, "")) is not None
        for t, v in s["points"]:
            g["total"][t] = g["total"].get(t, 0.0) + v
            if mine:
                g["part"][t] = g["part"].get(t, 0.0) + v
    out = []
    for g in groups.values():
        if shared.ratio_of is None:  # the sum over all parts
            pts = sorted(g["total"].items())
        else:  # a part absent at a step where others have series is 0 of them
            pts = [(t, g["part"].get(t, 0.0) / tot if tot else math.nan) for t, tot in sorted(g["total"].items())]
        out.append({"labels": g["labels"], "points": pts})
    return out


def _pack_metric(request: CollectRequest, params: dict[str, Any]) -> tuple[Any, Any]:
    pack_name = params.get("pack")
    if not pack_name:
        return None, None
    from ..packs import load_pack

    cfg = request.config
    user_dir = cfg.base_dir / cfg.defaults.packs_dir if cfg.defaults.packs_dir else None
    pack = load_pack(pack_name, user_dir)
    return pack.metric(params["id"]), pack


async def _collect_live(
    request: CollectRequest, params: dict[str, Any], base: dict[str, Any], data: dict[str, Any],
    source_name: str, source: "SourceConfig", pack: Any, pack_metric: Any, optional: bool,
) -> Evidence:
    try:
        async with live_client(request, source_name, source, _request_timeout(request, source)) as client:
            return await _collect_with(client, request, params, base, data, source_name, source, pack, pack_metric,
                                       optional)
    except PromFault as fault:
        return Evidence.failed(**base, reason=str(fault), status=fault.status)


async def _collect_with(
    client: AsyncPromClient, request: CollectRequest, params: dict[str, Any], base: dict[str, Any],
    data: dict[str, Any], source_name: str, source: "SourceConfig", pack: Any, pack_metric: Any, optional: bool,
) -> Evidence:
    from ..packs import fill

    deadline = _deadline(request)
    src = f"{source.type} {client.public_url}"
    labels = request.service_config.labels if request.service in request.config.services else {}
    warnings: list[str] = []
    query = params.get("query", "")
    window, baseline = request.window, request.baseline
    step_s = pick_step(window.length.total_seconds())
    data["step_s"] = step_s
    quantile = pack_metric.quantile if pack_metric is not None else None
    # A baseline just before the window is fetched with it in one query: half the requests,
    # the same points, and the series cannot drift apart between two evaluations. Not for
    # histogram buckets: theirs is a collection's slowest query (every bucket of every pod),
    # and as two halves it runs on two cores at once (at 300 pods 1.4 s alone, most of the wall).
    merged = (
        quantile is None and baseline is not None and baseline.end == window.start
        and (window.end - baseline.start).total_seconds() / step_s < MAX_POINTS
    )
    if quantile is None:
        # Histogram bucket queries are the slowest of a run: let them reach the server first.
        await anyio.lowlevel.checkpoint()
    # replies[query][tag]: the same metric may be asked in two namings (see the speculation below)
    replies: dict[str, dict[str, PromReply | PromFault]] = {}

    async def fetch(q: str, tag: str, w: Window) -> None:
        try:
            got: PromReply | PromFault = await shared_query_range(
                request, source_name, client, q, w.start.timestamp(), w.end.timestamp(), step_s, deadline
            )
        except PromFault as fault:
            got = fault
        replies.setdefault(q, {})[tag] = got

    shared = pack_metric.shared if pack_metric is not None else None
    shared_q = pack.queries[shared.query] if shared is not None else None
    by = shared_q.by if shared_q is not None else None
    per_pod = (pack_metric.aggregate if pack_metric is not None else None) == "per_instance"
    fleets: dict[str, dict[str | None, dict[str, Any]]] = {}  # query -> the fleet's ranking by part

    def template_for(naming: str | None) -> str | None:
        """The pack query to send, ``$selector`` unfilled: the shared one when the metric has one."""
        if pack_metric is None:
            return None
        return shared_q.query_for(naming) if shared_q is not None else pack_metric.query_for(naming)

    async def fetch_fleet(template: str, q: str, w: Window) -> None:
        windows = {"window": w} | ({"baseline": baseline} if baseline is not None and not merged else {})
        try:
            fleets[q], got = await _fleet_fetch(request, source_name, client, template, labels, by, windows,
                                                step_s, deadline, _limit_parts(pack, shared))
            replies.setdefault(q, {}).update(got)
        except PromFault as fault:
            replies.setdefault(q, {})["window"] = fault

    def start_fetches(tg: Any, template: str | None) -> str:
        q = fill(template, labels) if template is not None else query
        w = Window(baseline.start, window.end) if merged and baseline else window
        if per_pod and template is not None and "$selector" in template:
            tg.start_soon(fetch_fleet, template, q, w)  # the worst pods and the spread, not every pod
            return q
        tg.start_soon(fetch, q, "window", w)
        if baseline is not None and not merged:
            tg.start_soon(fetch, q, "baseline", baseline)
        return q

    speculative = None
    with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
        async with anyio.create_task_group() as tg:
            if pack is not None and pack_metric is not None and pack_metric.variants:
                # The probe's first naming wins whenever it exists, so query it while the probe runs:
                # when the probe agrees (or finds neither), the answer is already on its way; when it
                # picks another naming, the speculative query matched no series and cost the server little.
                default = next(iter(pack.probe), None)
                if default:
                    speculative = start_fetches(tg, template_for(default))
                    await anyio.lowlevel.checkpoint()  # let the query go out before the probe
                probe = await choose_naming(request, client, source_name, pack, labels, deadline)
                if probe["error"]:
                    warnings.append(f"naming probe failed, using the default naming: {probe['error']}")
                data["naming"] = probe["naming"] or default
                data["naming_note"] = probe["note"]
                chosen = template_for(data["naming"])
                query = fill(chosen, labels) if chosen is not None else query
                data["query"] = fill(pack_metric.query_for(data["naming"]), labels)
                if probe["naming"]:
                    src += f" · {_NAMING_TITLES.get(probe['naming'], probe['naming'])} naming"
                if query != speculative:
                    start_fetches(tg, chosen)
            else:
                query = start_fetches(tg, template_for(None) if pack_metric is not None else None)
    if pack is not None and pack_metric is not None and pack_metric.variants and "naming" not in data:
        # The deadline came before the probe's answer: the default naming's query was the one sent.
        data["naming"] = next(iter(pack.probe), None)
        data["naming_note"] = "the naming probe gave no answer in time"
        warnings.append(f"the naming probe gave no answer within {request.timeout_s:.1f} s: "
                        "the default naming's query was used")
        query = speculative or query
    if shared is not None:
        data["shared_query"] = query
    got = replies.get(query, {})
    if scope.cancelled_caught and "window" not in got:
        return Evidence.failed(
            **base, reason=f"{client.what} at {client.public_url} gave no answer within "
                           f"{request.timeout_s:.1f} s (query_range)",
            status=Status.timeout, source=src,
        )
    main = got["window"]
    if isinstance(main, PromFault):
        return Evidence.failed(**base, reason=str(main), status=main.status, source=src)
    fleet = _fleet_for(fleets.get(query), pack, pack_metric)
    if fleet is not None:
        data["_fleet"] = fleet
    if quantile is not None:
        data["query"] = f"histogram_quantile({quantile:g}, {query})"
        data["quantile"] = quantile

    def to_series(reply: PromReply, where: str) -> list[dict[str, Any]]:
        if reply.parse_error is not None:
            raise InputError(reply.parse_error)
        series = reply.series if reply.series is not None else _series_from_data(reply.data, where)
        series = _pick(series, shared, by)
        if fleet is not None:  # the reply holds the worst pods of every part: keep this metric's
            series = [s for s in series if _label_key(s["labels"]) in fleet["order"]]
        if quantile is None or not series:
            return series
        if not any("le" in s["labels"] for s in series):
            raise InputError(f"{client.what} at {client.public_url}: a quantile needs bucket series "
                             "with an `le` label; got none")
        return buckets_to_quantile(series, quantile, f"{client.what} at {client.public_url}")

    try:
        series = to_series(main, "window")
    except InputError as e:
        return Evidence.failed(**base, reason=str(e), source=src)
    warnings += [f"{client.what} warning: {w}" for w in main.warnings]
    baseline_series = None
    b = got.get("baseline")
    if merged and baseline is not None:
        b_lo, b_hi = baseline.start.timestamp(), baseline.end.timestamp()
        baseline_series = [{"labels": s["labels"], "points": _between(s["points"], b_lo, b_hi, False)}
                           for s in series]
    elif isinstance(b, PromReply):
        try:
            b_lo, b_hi = baseline.start.timestamp(), baseline.end.timestamp()  # type: ignore[union-attr]
            baseline_series = [  # the window is half-open: its end point belongs to the next one
                {"labels": s["labels"], "points": _between(s["points"], b_lo, b_hi, False)}
                for s in to_series(b, "baseline")
            ]
        except InputError as e:
            warnings.append(f"baseline not compared: {e}")
        warnings += [f"{client.what} warning (baseline): {w}" for w in b.warnings if w not in main.warnings]
    elif isinstance(b, PromFault):
        warnings.append(f"baseline not compared: {b}")
    elif baseline is not None:
        warnings.append("baseline not compared: no answer in time")
    data["elapsed_ms"] = round(main.elapsed_s * 1000, 1)
    return _finish(base, data, series, baseline_series, warnings, request, src, optional, labels)


def _fleet_for(stats: dict[str | None, dict[str, Any]] | None, pack: Any, pack_metric: Any) -> dict[str, Any] | None:
    """This metric's part of a fleet ranking, and which pods it shows (in the order shown).

    A limit (heap max, ``limit_of: heap_used``) read from the same shared query shows the pods
    its metric shows, so each limit stands beside its own pod's usage.
    """
    if stats is None:
        return None
    part = pack_metric.shared.part if pack_metric.shared is not None else None
    own = stats.get(part)
    if own is None:
        return {"count": 0, "order": {}}
    info = {k: v for k, v in own.items()}
    shown_from = own
    target = pack.metric(pack_metric.limit_of) if pack_metric.limit_of else None
    if (target is not None and target.shared is not None and pack_metric.shared is not None
            and target.shared.query == pack_metric.shared.query and target.shared.part in stats):
        shown_from = stats[target.shared.part]
        info["shown_for"] = target.title
    info["order"] = {_label_key(t["labels"]): i for i, t in enumerate(shown_from["worst_pods"])}
    return info


def _finish(
    base: dict[str, Any], data: dict[str, Any], series: list[dict[str, Any]],
    baseline_series: list[dict[str, Any]] | None, warnings: list[str], request: CollectRequest,
    src: str, optional: bool, labels: dict[str, str] | None = None,
) -> Evidence:
    per_pod = data.get("aggregate") == "per_instance"
    fleet = data.pop("_fleet", None)
    summaries, total, n_in_window, bad = _summaries(series, request.window, baseline_series, per_pod)
    if fleet is not None and summaries:
        # Ranked by Prometheus over every pod; the series are the shown pods', in that order.
        order = fleet.pop("order")
        summaries.sort(key=lambda x: order.get(_label_key(x["labels"]), len(order)))
        data["instances"] = fleet
        total = fleet["count"]
    data["series"] = summaries
    data["series_total"] = total
    if per_pod and summaries and fleet is None:
        # The worst pod first (its trend predicts the failure), then the spread across all pods.
        _, data["instances"] = per_instance(_all_summaries(series, request.window))
    data["dropped_points"] = bad
    if bad and summaries:
        warnings.append(f"{bad} NaN/Inf sample{'s' if bad != 1 else ''} of {n_in_window} left out "
                        "(a ratio over zero traffic, or a broken exporter)")
    if not summaries:
        if n_in_window and bad == n_in_window:
            reason = (f"all {bad} samples in the window are NaN/Inf "
                      "(a ratio over zero traffic, or a broken exporter)")
        else:
            sel = ", ".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
            reason = "no series in the window" + (f" for {{{sel}}}" if sel else "")
            reason += f" — query: {data['query']}" if data.get("query") else ""
            if data.get("naming_note") and ("neither" in data["naming_note"] or "no answer" in data["naming_note"]):
                reason += f" ({data['naming_note']})"
        if optional:
            return Evidence(**base, status=Status.skipped, reason=f"not exposed (optional): {reason}", source=src,
                            data=data, warnings=warnings)
        return Evidence(**base, status=Status.empty, reason=reason, source=src, data=data, warnings=warnings)
    return Evidence(**base, source=src, data=data, warnings=warnings)
