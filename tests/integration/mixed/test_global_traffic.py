"""Failover across clouds through a global traffic layer (issue 18), on moto and the GCP test server at
once: a region goes down, the monitor fails it over to a region of the same jurisdiction on the other
cloud (pre-scaled there, the layer's weights moved with the topology's TTL, validated by the target's
own health), and failback returns the traffic step by step through the layer.

The clouds and both layers' records are set up once for the module (about 7 s): each test's failback
puts weights and instances back as they were, and asserts it, so the next test starts from the same
state."""

from __future__ import annotations

import concurrent.futures
import math
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.registry import CloudRegistry
from config.loader import load_topology
from config.models import Policies, Topology
from contracts import ids
from contracts.failover import (
    FailbackReport,
    FailbackRequest,
    FailoverReport,
    FailoverRequest,
    MonitorInput,
)
from tests.helpers.aws.workflow_runs import fast_policies
from tests.helpers.gcp import PROJECT
from tests.helpers.gcp_server.server import ComputeTestServer
from tests.helpers.global_traffic import (
    RECORDED,
    SERVICE,
    ZONE,
    ShiftLog,
    layer_worker,
    refresh_signals,
    set_up,
)
from tests.helpers.temporal import time_skipping_monitor
from workers.client import register_search_attributes
from workflows.failback import FailbackWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow

pytestmark = pytest.mark.slow

TTL = 30
RELEASE = "1.0.0"
Clouds = tuple[dict[str, Topology], CloudRegistry]


@pytest.fixture(scope="module")
def clouds(
    moto_endpoint: str, gcp_server: ComputeTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clouds]:
    yield set_up(load_topology(), moto_endpoint, gcp_server, tmp_path_factory.mktemp("layer"), ttl=TTL)


NO_RECORD = "no weighted record in the {} traffic layer: its traffic cannot be moved there"


def policies() -> Policies:
    """Few probes, each a handful of real API calls: 2 to validate a failover, a failback after 10 s
    healthy with 10 s bake and 1 probe at each of its steps (10, 50, 100 %)."""
    base = fast_policies()
    failback = base.failover.failback.model_copy(
        update={"healthy_for": 10.0, "step_bake": 10.0, "samples": 1}
    )
    failover = time_skipping_monitor(base.failover, failback=failback, validate_samples=2)
    return base.model_copy(update={"failover": failover})


async def poll(
    env: WorkflowEnvironment, read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]
) -> Any:
    for _ in range(300):
        value = await read()
        if done(value):
            return value
        await env.sleep(5)
    raise AssertionError("never reached the expected state")


async def monitor_fails_over(env: WorkflowEnvironment, topo: Topology, failed: str) -> FailoverReport:
    """Run the service's monitor until it has failed `failed` over; the failover's report."""
    monitor = await env.client.start_workflow(
        RegionHealthMonitorWorkflow.run,
        MonitorInput(service=SERVICE, topology=topo, policies=policies()),
        id=ids.monitor_id(SERVICE),
        task_queue=topo.default_task_queue,
    )
    # Stopped only once its failover has ended: a finished parent with an abandoned child still running
    # leaves the time-skipping server sleeping in real time (see tests/helpers/temporal.py).
    try:
        status = await poll(
            env, lambda: monitor.query(RegionHealthMonitorWorkflow.status), lambda s: failed in s.active
        )
        assert status.firings[-1].trigger == "probe_failures", status.firings
        failover = env.client.get_workflow_handle_for(RegionFailoverWorkflow.run, status.active[failed])
        report: FailoverReport = await failover.result()
    finally:
        await monitor.execute_update(RegionHealthMonitorWorkflow.stop)
        await monitor.result()
    return report


async def automatic_failover(env: WorkflowEnvironment, topo: Topology, failed: str) -> FailoverReport:
    """The failover the monitor would start on failed probes (no monitor: its probes cost real time)."""
    now = datetime.now(UTC)
    return await env.client.execute_workflow(
        RegionFailoverWorkflow.run,
        FailoverRequest(
            service=SERVICE,
            from_region=failed,
            topology=topo,
            policies=policies(),
            request_id=uuid.uuid4().hex[:8],
            requested_by="monitor",
            trigger="probe_failures",
            first_bad_at=now - timedelta(seconds=20),
            detected_at=now,
        ),
        id=ids.failover_id(SERVICE, failed),
        task_queue=topo.default_task_queue,
    )


def record_ttls(kind: str, moto: str, gcp: ComputeTestServer) -> set[int]:
    """The TTLs of the service's weighted records, read back from moto or the test server."""
    name = f"{SERVICE}.{ZONE}"
    if kind == "cloud_dns":
        found = gcp.state.dns.record_set(PROJECT, ZONE.rstrip(".").replace(".", "-"), name, "CNAME")
        assert found is not None
        return {found["ttl"]}
    r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=moto)
    zone = r53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
    sets = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    weighted = [rs for rs in sets if rs.get("SetIdentifier") and rs["Name"].endswith(name)]
    assert len(weighted) == 2 * len(RECORDED)  # the serving CNAME and its exact share, per region
    return {int(rs["TTL"]) for rs in weighted}


@pytest.mark.parametrize(
    ("kind", "failed", "target", "monitor"),
    [
        ("route53", "us-east-1", "us-central1", True),
        ("cloud_dns", "us-east-1", "us-central1", False),
        ("route53", "us-central1", "us-east-1", False),
    ],
    ids=["route53-aws-to-gcp", "cloud_dns-aws-to-gcp", "route53-gcp-to-aws"],
)
async def test_the_monitor_fails_a_region_over_to_another_cloud_and_failback_returns_it(
    ts_env: WorkflowEnvironment,
    clouds: Clouds,
    moto_endpoint: str,
    gcp_server: ComputeTestServer,
    kind: str,
    failed: str,
    target: str,
    monitor: bool,
) -> None:
    await register_search_attributes(ts_env.client)
    topos, registry = clouds
    topo = topos[kind]
    refresh_signals(topo, moto_endpoint, gcp_server)  # the module's clouds outlive a metrics window
    failed_cloud = registry.get(topo.region(failed).provider)
    target_cloud = registry.get(topo.region(target).provider)
    share = 1 / len(RECORDED)
    failed_cloud.scale_group(SERVICE, failed, "stable", RELEASE, 0, "test-outage")  # the region goes down
    log = ShiftLog()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        async with layer_worker(ts_env.client, topo, registry, pool, log):
            if monitor:
                report = await monitor_fails_over(ts_env, topo, failed)
            else:
                report = await automatic_failover(ts_env, topo, failed)
            assert report.status == "succeeded", report.reason
            assert report.to_region == target  # the other cloud, same jurisdiction (US)
            reasons = {r.region: r.reason for r in report.rejected_candidates}
            assert reasons["us-west-2"] == NO_RECORD.format(kind)  # US, but the layer cannot reach it
            assert "data residency" in reasons["europe-west1"] and "data residency" in reasons["eu-west-1"]
            # pre-scaled on the target's cloud for its own traffic plus the failed region's
            assert report.target_instances_before == 2
            assert target_cloud.region_state(SERVICE, target).instances == 4
            # the layer's weights moved, with the topology's TTL set on the records
            assert log.changes == [report.weights_after]
            assert report.weights_after[failed] == 0
            assert report.weights_after[target] == pytest.approx(2 * share)
            assert record_ttls(kind, moto_endpoint, gcp_server) == {TTL}
            # validated by the target's own health, and users see the shift a TTL after it was made
            assert f"{target}: healthy under the new load (2 probes)" in report.steps
            assert report.traffic_layer == kind and report.dns_ttl_s == TTL
            t = report.timings
            assert t["ttl_s"] == TTL
            assert t["visible_s"] == pytest.approx(t["detect_s"] + t["decide_s"] + t["shift_s"] + TTL)
            assert report.traffic_shift_visible_after is not None

            failed_cloud.scale_group(SERVICE, failed, "stable", RELEASE, 2, "test-recovery")
            back: FailbackReport = await ts_env.client.execute_workflow(
                FailbackWorkflow.run,
                FailbackRequest(
                    service=SERVICE,
                    region=failed,
                    backup=target,
                    original_share=report.weights_before[failed],
                    topology=topo,
                    policies=policies(),
                    request_id=uuid.uuid4().hex[:8],
                    backup_instances=report.target_instances_before,
                ),
                id=f"failback:{SERVICE}:{failed}:{uuid.uuid4().hex[:6]}",
                task_queue=topo.default_task_queue,
                execution_timeout=timedelta(hours=2),
            )
    assert back.status == "succeeded", back.reason
    assert back.steps_done == [10, 50, 100]
    # step by step through the layer: 10 %, 50 %, 100 % of the region's share back
    returned = [change[failed] for change in log.changes[1:]]
    assert returned == pytest.approx([share * p / 100 for p in (10, 50, 100)])
    layer_weights = log.changes[-1]
    assert layer_weights[failed] == pytest.approx(share) and layer_weights[target] == pytest.approx(share)
    assert math.fsum(layer_weights.values()) == pytest.approx(1.0)
    assert target_cloud.region_state(SERVICE, target).instances == 2  # the failover's capacity removed
    assert failed_cloud.region_state(SERVICE, failed).instances == 2
