"""OpenTelemetry tracing: a real workflow run through a traced client exports its spans over OTLP/HTTP."""

from __future__ import annotations

import concurrent.futures
import gzip
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.loader import load_policies
from config.models import Topology
from contracts.rollout import (
    RegionDeployInput,
    RegionOutcome,
)
from tests.helpers.temporal import unique_queue
from workers import telemetry
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions
from workflows.region_deployment import RegionDeploymentWorkflow


class Receiver(ThreadingHTTPServer):
    """A tiny OTLP/HTTP collector: records every POST's path and (decompressed) body, answers 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def traces(self) -> bytes:
        with self.lock:
            return b"".join(body for path, body in self.posts if path == "/v1/traces")


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.posts.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_tracing_is_off_without_an_endpoint() -> None:
    assert telemetry.tracing_interceptors({}) == []
    assert telemetry.tracing_interceptors({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == []


def test_grpc_protocol_builds_an_interceptor_without_connecting() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    [interceptor] = telemetry.tracing_interceptors(env)
    assert isinstance(interceptor, TracingInterceptor)


async def test_a_workflow_run_exports_its_spans_over_otlp_http(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    topology: Topology,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_COMPRESSION"):
        monkeypatch.delenv(name, raising=False)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    interceptors = telemetry.tracing_interceptors(env)
    assert len(interceptors) == 1

    await register_search_attributes(ts_env.client)
    client: Client = await telemetry.with_runtime(ts_env.client, None, interceptors)
    queue = unique_queue()
    inp = RegionDeployInput(
        service="checkout",
        release="2.0.0",
        previous_release="1.0.0",
        region=topology.region("eu-west-1"),
        task_queue=queue,
        wave="core",
        policies=load_policies("config/policies.demo.yaml"),
        key_prefix=f"deploy:test/{uuid.uuid4().hex[:8]}",
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        # The tracing interceptor is on the client, so the worker picks it up for workflows and activities.
        async with Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activity_functions(CloudRegistry({"sim": lambda: sim})),
            activity_executor=pool,
        ):
            out: RegionOutcome = await client.execute_workflow(
                RegionDeploymentWorkflow.run, inp, id=f"deploy:{uuid.uuid4().hex[:8]}", task_queue=queue
            )
    assert out.status == "succeeded"

    assert telemetry.flush_tracing()  # exports synchronously: the receiver has the spans on return
    assert any(path == "/v1/traces" for path, _ in receiver.posts), receiver.posts
    body = receiver.traces()
    for span in (
        b"StartWorkflow:RegionDeploymentWorkflow",
        b"RunWorkflow:RegionDeploymentWorkflow",
        b"StartActivity:",
        b"RunActivity:",
    ):
        assert span in body, span
    assert b"globalops-worker" in body  # the default service name
