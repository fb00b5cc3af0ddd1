"""Worker telemetry: Prometheus metrics (Temporal SDK + globalops' own) and optional OpenTelemetry tracing.

The worker serves `http://<GLOBALOPS_METRICS_HOST>:<GLOBALOPS_METRICS_PORT>/metrics` (default
127.0.0.1:9464; a port of 0 or an empty value turns it off). globalops' own series come from a
worker interceptor that watches every workflow start and finish through `workflow.metric_meter()`,
which records nothing during replay, so no workflow module needs to know about metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio import workflow
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import FailureError, is_cancelled_exception
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import ServiceClient
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

METRICS_PORT_ENV = "GLOBALOPS_METRICS_PORT"
METRICS_HOST_ENV = "GLOBALOPS_METRICS_HOST"
DEFAULT_METRICS_PORT = 9464
DEFAULT_METRICS_HOST = "127.0.0.1"  # set GLOBALOPS_METRICS_HOST=0.0.0.0 to be scraped from other hosts
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_OTLP_PROTOCOL = "http/protobuf"  # the OTel spec's default; `grpc` is supported too

#: Workflow type -> the operation kind in metric labels (as in the `OperationKind` search attribute).
KINDS = {
    "RegionalRolloutWorkflow": "rollout",
    "RegionDeploymentWorkflow": "region_deployment",
    "RegionHealthMonitorWorkflow": "monitor",
    "RegionFailoverWorkflow": "failover",
    "FailbackWorkflow": "failback",
    "BackupWorkflow": "backup",
    "DisasterRecoveryWorkflow": "recovery",
    "DrillWorkflow": "drill",
}

#: Histogram buckets (seconds) for globalops' durations; the SDK's defaults are for milliseconds.
_FAILOVER_BUCKETS = [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600]
_RTO_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
_RPO_BUCKETS = [1, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
BUCKETS: dict[str, Sequence[float]] = {
    "globalops_failover_duration_seconds": _FAILOVER_BUCKETS,
    "globalops_drill_rto_seconds": _RTO_BUCKETS,
    "globalops_drill_rpo_seconds": _RPO_BUCKETS,
    "globalops_recovery_rto_seconds": _RTO_BUCKETS,
    "globalops_recovery_rpo_seconds": _RPO_BUCKETS,
}

_log = structlog.get_logger("globalops.telemetry")
#: Tracer providers made by `tracing_interceptors`, for `flush_tracing`.
_tracer_providers: list[TracerProvider] = []


# ----- configuration ------------------------------------------------------------------------------


class MetricsConfigError(ValueError):
    """GLOBALOPS_METRICS_PORT is not a port number."""


def metrics_address(env: Mapping[str, str] | None = None) -> str | None:
    """`host:port` the worker serves metrics on, or None when turned off (port 0 or empty)."""
    env = os.environ if env is None else env
    raw = env.get(METRICS_PORT_ENV)
    if raw is None:
        port = DEFAULT_METRICS_PORT
    elif not raw.strip():
        return None
    else:
        try:
            port = int(raw)
        except ValueError:
            raise MetricsConfigError(f"{METRICS_PORT_ENV}: {raw!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise MetricsConfigError(f"{METRICS_PORT_ENV}: {port} is not a port number (0-65535)")
        if port == 0:
            return None
    host = env.get(METRICS_HOST_ENV) or DEFAULT_METRICS_HOST
    return f"{host}:{port}"


def preferred_port(host: str, port: int) -> int:
    """`port` if nothing listens on host:port now, else any free port (`dev up` picks its ports so)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except (OSError, OverflowError):  # taken, or past 65535
            return free_port(host)
    return port


def free_port(host: str = DEFAULT_METRICS_HOST) -> int:
    """A port the OS says is free now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def metrics_runtime(address: str | None) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics on `address`; None if off or the port is taken.

    A taken port must not stop the worker from running workflows: it logs and goes on without metrics.
    """
    if address is None:
        return None
    config = PrometheusConfig(
        bind_address=address,
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides=BUCKETS,
    )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=config))
    except ValueError as exc:  # "Failed starting Prometheus exporter: Address already in use"
        _log.warning("metrics disabled", address=address, error=str(exc))
        return None


def tracing_interceptors(env: Mapping[str, str] | None = None) -> list[ClientInterceptor]:
    """OpenTelemetry tracing through temporalio.contrib.opentelemetry when an OTLP endpoint is set.

    Off unless OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, e.g. http://collector:4318) or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full traces URL) is set. OTEL_EXPORTER_OTLP_PROTOCOL (or
    ..._TRACES_PROTOCOL) picks the transport: `http/protobuf`, the default as in the OTel spec (port
    4318), or `grpc` (port 4317). Spans go through a BatchSpanProcessor on a TracerProvider of their
    own, which also becomes the global one if none was set yet; `flush_tracing()` exports what is
    buffered, and the SDK flushes at exit. Headers, timeout, compression and TLS settings come from
    the usual OTEL_EXPORTER_OTLP_* variables of the process environment; the service name from
    OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else `globalops-worker`.
    """
    env = os.environ if env is None else env
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    endpoint = env.get(OTLP_ENDPOINT_ENV, "").strip()
    if not (traces_endpoint or endpoint):
        return []
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip() or DEFAULT_OTLP_PROTOCOL
    exporter: SpanExporter
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        url = traces_endpoint or endpoint
        exporter = GrpcExporter(endpoint=url)
    else:
        if protocol != "http/protobuf":
            _log.warning("unsupported OTLP protocol, using http/protobuf", protocol=protocol)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        # A signal-specific endpoint is used as is; the base endpoint gets the traces path appended.
        url = traces_endpoint or f"{endpoint.rstrip('/')}/v1/traces"
        exporter = HttpExporter(endpoint=url)
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "globalops-worker"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracer_providers.append(provider)
    if isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider):
        otel_trace.set_tracer_provider(provider)  # settable once per process: later calls keep the first
    _log.info("tracing to OTLP", endpoint=url, protocol="grpc" if protocol == "grpc" else "http/protobuf")
    # The interceptor gets this provider's tracer, so its spans never depend on the global provider.
    return [TracingInterceptor(provider.get_tracer("globalops.workers"))]


def flush_tracing(timeout_millis: int = 10_000) -> bool:
    """Export the spans buffered by every provider `tracing_interceptors` made; False on a timeout."""
    return all(provider.force_flush(timeout_millis) for provider in _tracer_providers)


async def instrument(client: Client) -> tuple[Client, list[Interceptor]]:
    """The worker's client on a metrics-serving runtime (plus tracing), and the worker interceptors.

    The CLI connected `client` on the default runtime; a runtime is fixed when a connection is made,
    so the worker reconnects with the same options on its own runtime.
    """
    runtime = metrics_runtime(metrics_address())
    tracing = tracing_interceptors()
    if runtime is not None or tracing:
        client = await with_runtime(client, runtime, tracing)
    if runtime is not None:
        _log.info("metrics", url=f"http://{metrics_address()}/metrics")
    return client, [MetricsInterceptor()]


async def with_runtime(
    client: Client, runtime: Runtime | None, interceptors: Sequence[ClientInterceptor] = ()
) -> Client:
    """A new client with the options of `client`, connected on `runtime`, with extra interceptors."""
    connect = client.service_client.config
    if runtime is not None:
        connect = dataclasses.replace(connect, runtime=runtime)
    config = client.config()
    config["service_client"] = await ServiceClient.connect(connect)
    config["interceptors"] = [*config["interceptors"], *interceptors]
    return Client(**config)


# ----- globalops' own metrics, observed by a worker interceptor ----------------------------------------


class MetricsInterceptor(Interceptor):
    """Counts workflow starts and finishes by kind and outcome; records failover and DR timings."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowMetrics


def kind_of(workflow_type: str) -> str:
    """Operation kind of a workflow type (the type itself if globalops does not know it)."""
    return KINDS.get(workflow_type, workflow_type)


def outcome_of(result: object) -> str:
    """A finished operation's outcome: its report's `status` (succeeded, rolled_back, ...) or completed."""
    status = getattr(result, "status", None)
    return status if isinstance(status, str) and status else "completed"


def observations(kind: str, result: object) -> list[tuple[str, float, dict[str, str]]]:
    """(histogram, seconds, labels) to record for a finished operation's result."""
    out: list[tuple[str, float, dict[str, str]]] = []
    if kind == "failover":
        timings = getattr(result, "timings", None) or {}
        for name, seconds in timings.items():
            phase = {"phase": name.removesuffix("_s")}
            out.append(("globalops_failover_duration_seconds", float(seconds), phase))
    elif kind == "drill":
        for row in getattr(result, "regions", None) or []:
            labels = {"region": str(getattr(row, "region", ""))}
            for what in ("rto", "rpo"):
                value = getattr(row, f"{what}_s", None)
                if isinstance(value, int | float):
                    out.append((f"globalops_drill_{what}_seconds", float(value), labels))
    elif kind == "recovery" and getattr(result, "mode", None) == "recover":
        # Drill rehearsals run this workflow too; their figures are recorded once, from the drill.
        labels = {"region": str(getattr(result, "target_region", ""))}
        for what in ("rto", "rpo"):
            value = getattr(result, f"{what}_s", None)
            if isinstance(value, int | float):
                out.append((f"globalops_recovery_{what}_seconds", float(value), labels))
    return out


_HISTOGRAM_HELP = {
    "globalops_failover_duration_seconds": "Failover phase durations (detect, decide, shift, total)",
    "globalops_drill_rto_seconds": "Recovery time measured by DR drills, per region",
    "globalops_drill_rpo_seconds": "Recovery point (data age) measured by DR drills, per region",
    "globalops_recovery_rto_seconds": "Recovery time of production disaster recoveries",
    "globalops_recovery_rpo_seconds": "Recovery point of production disaster recoveries",
}


class _WorkflowMetrics(WorkflowInboundInterceptor):
    """Runs inside the workflow: its meter is replay-safe, so a replayed history counts nothing twice."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        kind = kind_of(info.workflow_type)
        meter = workflow.metric_meter().with_additional_attributes({"kind": kind})
        finished = meter.create_counter(
            "globalops_operations_finished", "Operations finished, by kind and outcome"
        )
        if info.continued_run_id is None:  # a monitor continuing as new is the same operation
            meter.create_counter("globalops_operations_started", "Operations started, by kind").add(1)
        try:
            result = await self.next.execute_workflow(input)
        except workflow.ContinueAsNewError:
            raise
        except (FailureError, asyncio.CancelledError) as exc:
            # These end the workflow; any other exception fails only this workflow task, which is retried.
            finished.add(1, {"outcome": "cancelled" if is_cancelled_exception(exc) else "failed"})
            raise
        outcome = outcome_of(result)
        finished.add(1, {"outcome": outcome})
        if outcome == "rolled_back":
            meter.create_counter("globalops_rollbacks", "Operations that ended rolled back").add(1)
        for name, seconds, labels in observations(kind, result):
            meter.create_histogram_float(name, _HISTOGRAM_HELP[name], "s").record(seconds, labels)
        return result
