"""Worker telemetry: the metrics address from env, what the interceptor records, and a real scrape."""

from __future__ import annotations

import asyncio
import concurrent.futures
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from temporalio.client import Client
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

# ----- configuration ---------------------------------------------------------------------------------


def test_metrics_are_on_by_default_on_localhost() -> None:
    assert telemetry.metrics_address({}) == "127.0.0.1:9464"


@pytest.mark.parametrize("value", ["0", "", "  "])
def test_port_zero_or_empty_turns_metrics_off(value: str) -> None:
    assert telemetry.metrics_address({"GLOBALOPS_METRICS_PORT": value}) is None


def test_port_and_host_come_from_env() -> None:
    env = {"GLOBALOPS_METRICS_PORT": "9100", "GLOBALOPS_METRICS_HOST": "10.1.2.3"}
    assert telemetry.metrics_address(env) == "10.1.2.3:9100"


@pytest.mark.parametrize("value", ["http", "70000", "-1"])
def test_a_bad_port_is_one_clear_error(value: str) -> None:
    with pytest.raises(telemetry.MetricsConfigError, match="GLOBALOPS_METRICS_PORT"):
        telemetry.metrics_address({"GLOBALOPS_METRICS_PORT": value})


def test_a_taken_port_leaves_the_worker_without_metrics_not_down() -> None:
    port = telemetry.free_port()
    first = telemetry.metrics_runtime(f"127.0.0.1:{port}")
    assert first is not None
    assert telemetry.metrics_runtime(f"127.0.0.1:{port}") is None


def test_tracing_is_off_without_an_endpoint() -> None:
    assert telemetry.tracing_interceptors({}) == []


# ----- what a finished operation records ----------------------------------------------------------------


def test_kinds_and_outcomes() -> None:
    assert telemetry.kind_of("RegionalRolloutWorkflow") == "rollout"
    assert telemetry.kind_of("SomethingElse") == "SomethingElse"
    assert telemetry.outcome_of(SimpleNamespace(status="rolled_back")) == "rolled_back"
    assert telemetry.outcome_of(None) == "completed"


def test_failover_phases_become_one_histogram() -> None:
    report = SimpleNamespace(timings={"detect_s": 2.0, "decide_s": 0.1, "shift_s": 0.2, "total_s": 3.0})
    seen = telemetry.observations("failover", report)
    assert ("globalops_failover_duration_seconds", 3.0, {"phase": "total"}) in seen
    assert len(seen) == 4


def test_drill_rto_and_rpo_per_region_and_recoveries_only_when_real() -> None:
    drill = SimpleNamespace(regions=[SimpleNamespace(region="eu-west-1", rto_s=12.0, rpo_s=None)])
    assert telemetry.observations("drill", drill) == [
        ("globalops_drill_rto_seconds", 12.0, {"region": "eu-west-1"})
    ]
    rehearsal = SimpleNamespace(mode="drill", target_region="x", rto_s=1.0, rpo_s=1.0)
    assert telemetry.observations("recovery", rehearsal) == []
    real = SimpleNamespace(mode="recover", target_region="x", rto_s=1.0, rpo_s=2.0)
    assert [name for name, _, _ in telemetry.observations("recovery", real)] == [
        "globalops_recovery_rto_seconds",
        "globalops_recovery_rpo_seconds",
    ]


# ----- a worker on the metrics runtime, scraped over HTTP ------------------------------------------------


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
        body: bytes = resp.read()
    return body.decode()


async def test_worker_serves_temporal_and_globalops_metrics(
    ts_env: WorkflowEnvironment, sim: SimCloud, topology: Topology
) -> None:
    await register_search_attributes(ts_env.client)
    address = f"127.0.0.1:{telemetry.free_port()}"
    runtime = telemetry.metrics_runtime(address)
    assert runtime is not None
    client: Client = await telemetry.with_runtime(ts_env.client, runtime)
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
        async with Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activity_functions(CloudRegistry({"sim": lambda: sim})),
            activity_executor=pool,
            interceptors=[telemetry.MetricsInterceptor()],
        ):
            out: RegionOutcome = await client.execute_workflow(
                RegionDeploymentWorkflow.run, inp, id=f"deploy:{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            assert out.status == "succeeded"
            text = ""
            for _ in range(50):  # the exporter collects asynchronously; bounded wait, not a timing check
                text = await asyncio.to_thread(scrape, address)
                if "globalops_operations_finished_total" in text:
                    break
                await asyncio.sleep(0.1)
    lines = text.splitlines()
    assert any(line.startswith("temporal_") for line in lines), text[:2000]
    started = [line for line in lines if line.startswith("globalops_operations_started_total{")]
    assert any('kind="region_deployment"' in line for line in started), started
    finished = [line for line in lines if line.startswith("globalops_operations_finished_total{")]
    assert any('kind="region_deployment"' in ln and 'outcome="succeeded"' in ln for ln in finished), finished


def test_dev_up_keeps_a_free_preferred_port_and_replaces_a_taken_or_impossible_one() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = telemetry.preferred_port("127.0.0.1", busy)
        assert other != busy and 0 < other <= 65535
    free = telemetry.free_port("127.0.0.1")
    assert telemetry.preferred_port("127.0.0.1", free) == free
    assert 0 < telemetry.preferred_port("127.0.0.1", 65535 + 10) <= 65535
