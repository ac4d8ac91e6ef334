"""Metrics and traces for the long-running processes (`conveyor worker`, `api`, `dev`).

Metrics: one Prometheus endpoint per process, served by the Temporal SDK's own exporter. Conveyor's metrics
(`conveyor_jobs_*`, `conveyor_send_latency`, see `worker.metrics`) go through the SDK's metric meter into that same
endpoint, so one port and one scrape carry both, with the SDK's labels (namespace, task queue) on ours too.

Traces: with `CONVEYOR_OTLP_ENDPOINT` set, the SDK's OpenTelemetry interceptor links a producer's span (an API
request, or the application's own span around `Jobs.email(...)`) to the workflow and activity spans. The
OpenTelemetry packages are the optional `conveyor[otel]` extra: nothing imports them while tracing is off.
"""

from __future__ import annotations

from typing import Any

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from conveyor.errors import ConveyorError
from conveyor.ports import PortBusy
from conveyor.settings import Settings

_runtimes: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime serving `/metrics` on `metrics_host:metrics_port` (one per address and process); None
    when `metrics_port` is 0. A client made with it exports its workers' metrics there."""
    if not settings.metrics_port:
        return None
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    if address not in _runtimes:
        try:
            _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
        except ValueError:  # the exporter could not bind
            raise PortBusy(settings.metrics_host, settings.metrics_port, "CONVEYOR_METRICS_PORT") from None
    return _runtimes[address]


def tracing_interceptors(settings: Settings) -> list[Any]:
    """The SDK's tracing interceptor when `otlp_endpoint` is set (for the client and, through it, its workers).

    Spans go to the application's tracer provider if it set one; otherwise Conveyor sets one exporting to the
    endpoint over OTLP/HTTP in batches.
    """
    if not settings.otlp_endpoint:
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise ConveyorError(
            "CONVEYOR_OTLP_ENDPOINT is set: install tracing with `pip install conveyor[otel]`"
        ) from None
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        trace.set_tracer_provider(provider)
    return [TracingInterceptor()]
