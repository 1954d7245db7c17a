"""OpenTelemetry: a span for the run and one per collector, exported only on request.

Nothing is exported unless the standard variables ask for it:
``OTEL_TRACES_EXPORTER=console`` prints spans to stderr; ``otlp`` (or an
``OTEL_EXPORTER_OTLP_ENDPOINT``) sends them with the OTLP exporter when
``opentelemetry-exporter-otlp`` is installed. An application that already set a
global tracer provider keeps it.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from opentelemetry import trace
from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["get_tracer"]


@lru_cache(maxsize=1)
def _configure_from_env() -> None:
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter_name and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporter_name = "otlp"
    if not exporter_name or exporter_name == "none":
        return
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return  # the embedding application configured tracing itself
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = SdkProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "ctxgrab")}))
    for name in exporter_name.split(","):
        name = name.strip()
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
            except ImportError:
                print("ctxgrab: OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http; "
                      "spans are not exported", file=sys.stderr)
                continue
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def get_tracer(provider: TracerProvider | None = None) -> Tracer:
    """ctxgrab's tracer: from ``provider`` when given (tests, embedding apps), else the global one."""
    if provider is not None:
        return provider.get_tracer("ctxgrab")
    _configure_from_env()
    return trace.get_tracer("ctxgrab")
