"""An instrumented program on the real OpenTelemetry SDK, and its spans as OTLP JSON lines.

The program is an ``orders`` service: each ``POST /orders`` request (a SERVER span)
calls two dependencies over HTTP (CLIENT spans):

- ``ledger-service`` ``GET /balance``, whose server runs ``SELECT ledger_entries``
  on PostgreSQL; from ``slow_at`` the query takes about 1.9 s instead of ~40 ms;
- ``payment-gateway`` ``POST /authorize``; from ``fail_at`` about a third of the
  calls answer 503 with a ``GatewayUnavailableError`` recorded as an exception
  event (a real Python exception with its real stack), and ``orders`` retries a
  failed call up to three attempts.

The time is simulated (each span gets explicit start and end times) so that an
hour of traffic takes a fraction of a second and the figures are reproducible
(a seeded random generator, seeded span and trace ids). Export goes through the
SDK's own OTLP encoder (``opentelemetry-exporter-otlp-proto-common``) and
protobuf's JSON mapping; ids are then written in hex as the OTLP/JSON spec
requires (protobuf's mapping writes bytes as base64) — the format the
OpenTelemetry Collector's file exporter writes, one ``ExportTraceServiceRequest``
per line.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode


class GatewayUnavailableError(RuntimeError):
    """What the gateway client raises on a 503."""


class _SeededIds(IdGenerator):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


@dataclass(frozen=True)
class Scenario:
    """When things change, and how much traffic there is (times UTC)."""

    start: datetime = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    end: datetime = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    slow_at: datetime = datetime(2026, 3, 2, 11, 2, tzinfo=timezone.utc)
    fail_at: datetime = datetime(2026, 3, 2, 11, 20, tzinfo=timezone.utc)
    every_s: float = 6.0  # one request every N seconds (jittered)
    fail_share: float = 0.33  # of gateway calls after fail_at
    seed: int = 17
    service: str = "orders"
    version: str = "1.8.0"


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def _raise_gateway(order: int) -> None:
    raise GatewayUnavailableError(f"payment-gateway answered 503 for order {order}: upstream connect error")


def run(sc: Scenario = Scenario()) -> list[Any]:
    """Run the program over the scenario's time and return the finished SDK spans (ReadableSpan)."""
    rng = random.Random(sc.seed)
    exporter = InMemorySpanExporter()
    providers = {}
    for name in (sc.service, "ledger-service"):
        p = TracerProvider(resource=Resource.create({"service.name": name, "service.version": sc.version,
                                                     "deployment.environment": "prod",
                                                     "service.instance.id": f"{name}-0"}),
                           id_generator=_SeededIds(rng))
        p.add_span_processor(SimpleSpanProcessor(exporter))
        providers[name] = p
    orders = providers[sc.service].get_tracer("orders.http", "1.0")
    ledger = providers["ledger-service"].get_tracer("ledger.http", "1.0")
    t = _ns(sc.start)
    end = _ns(sc.end)
    order_id = 100_000
    ms = 1_000_000
    while t < end:
        order_id += 1
        now = datetime.fromtimestamp(t / 1e9, tz=timezone.utc)
        root = orders.start_span("POST /orders", kind=SpanKind.SERVER, start_time=t, attributes={
            "http.request.method": "POST", "http.route": "/orders", "url.scheme": "https"})
        ctx = trace.set_span_in_context(root)
        cur = t + int(rng.uniform(1, 3) * ms)
        # ledger-service GET /balance -> SELECT ledger_entries
        query_ms = rng.lognormvariate(3.6, 0.25) if now < sc.slow_at else rng.lognormvariate(7.55, 0.12)
        call = orders.start_span("GET /balance", context=ctx, kind=SpanKind.CLIENT, start_time=cur, attributes={
            "peer.service": "ledger-service", "server.address": "ledger.prod.svc", "http.request.method": "GET"})
        srv_start = cur + int(0.6 * ms)
        srv = ledger.start_span("GET /balance", context=trace.set_span_in_context(call), kind=SpanKind.SERVER,
                                start_time=srv_start, attributes={"http.route": "/balance"})
        q_start = srv_start + int(0.4 * ms)
        q = ledger.start_span("SELECT ledger_entries", context=trace.set_span_in_context(srv),
                              kind=SpanKind.CLIENT, start_time=q_start, attributes={
                                  "db.system": "postgresql", "db.name": "ledger",
                                  "db.statement": "SELECT * FROM ledger_entries WHERE account_id = $1"})
        q_end = q_start + int(query_ms * ms)
        q.end(end_time=q_end)
        srv_end = q_end + int(0.5 * ms)
        srv.set_attribute("http.response.status_code", 200)
        srv.end(end_time=srv_end)
        call.set_attribute("http.response.status_code", 200)
        call.end(end_time=srv_end + int(0.6 * ms))
        cur = srv_end + int(rng.uniform(0.8, 1.5) * ms)
        # payment-gateway POST /authorize, retried after a failure
        failed_all = True
        for attempt in range(3):
            g = orders.start_span("POST /authorize", context=ctx, kind=SpanKind.CLIENT, start_time=cur, attributes={
                "peer.service": "payment-gateway", "server.address": "gw.payments.example",
                "http.request.method": "POST", "http.resend_count": attempt})
            dur = rng.lognormvariate(4.2, 0.2)
            fails = now >= sc.fail_at and rng.random() < sc.fail_share
            if fails:
                try:
                    _raise_gateway(order_id)
                except GatewayUnavailableError as exc:
                    g.record_exception(exc, timestamp=cur + int(dur * ms))
                    g.set_status(Status(StatusCode.ERROR, str(exc)))
                g.set_attribute("http.response.status_code", 503)
                g.set_attribute("error.type", "503")
            else:
                g.set_attribute("http.response.status_code", 200)
            cur += int(dur * ms)
            g.end(end_time=cur)
            cur += int(rng.uniform(0.2, 0.5) * ms)
            if not fails:
                failed_all = False
                break
            cur += int(50 * ms)  # back-off before the retry
        if failed_all:
            root.set_status(Status(StatusCode.ERROR, "payment authorization failed"))
            root.set_attribute("http.response.status_code", 502)
        else:
            root.set_attribute("http.response.status_code", 201)
        root.end(end_time=cur + int(rng.uniform(0.5, 1.5) * ms))
        t += int(rng.uniform(0.5, 1.5) * sc.every_s * 1e9)
    for p in providers.values():
        p.shutdown()
    return list(exporter.get_finished_spans())


def _hex_ids(obj: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON writes trace and span ids as hex."""
    import base64

    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                out[k] = base64.b64decode(v).hex()
            else:
                out[k] = _hex_ids(v)
        return out
    if isinstance(obj, list):
        return [_hex_ids(v) for v in obj]
    return obj


def otlp_requests(spans: list[Any], batch: int = 256, hex_ids: bool = True) -> list[dict[str, Any]]:
    """The spans as ExportTraceServiceRequest dicts, ``batch`` spans each (as a BatchSpanProcessor sends them)."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    out = []
    for i in range(0, len(spans), batch):
        msg = encode_spans(spans[i: i + batch])
        # OTLP/JSON: enums as integers, field names in lowerCamelCase.
        d = MessageToDict(msg, use_integers_for_enums=True)
        out.append(_hex_ids(d) if hex_ids else d)
    return out


def otlp_json_lines(spans: list[Any], batch: int = 256) -> str:
    """One ExportTraceServiceRequest per line, as the Collector's file exporter writes them."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in otlp_requests(spans, batch))


def shift(sc: Scenario, hours: float) -> Scenario:
    """The same scenario moved in time."""
    d = timedelta(hours=hours)
    return Scenario(sc.start + d, sc.end + d, sc.slow_at + d, sc.fail_at + d, sc.every_s, sc.fail_share, sc.seed,
                    sc.service, sc.version)
