"""GCP fails closed through the real workflows: a bad release fails its health gate on Cloud Monitoring's
points, a region whose metrics never arrive waits for a decision, a short quota fails preflight before
anything changes, and waits for Compute operations heartbeat."""

from __future__ import annotations

import concurrent.futures
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds import gcp_api
from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.rollout import RegionDeployInput, RolloutRequest
from tests.helpers.gcp import GCP_REGIONS, PROJECT, SERVICE, gcp_worker
from tests.helpers.gcp_monitoring import wait_child
from tests.helpers.gcp_server import ComputeTestServer
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow


def rollout(topo: Topology, policies: Policies, release: str, strategy: str | None = None) -> RolloutRequest:
    return RolloutRequest.model_validate(
        {
            "service": SERVICE,
            "release": release,
            "request_id": uuid.uuid4().hex[:8],
            "topology": topo,
            "policies": policies,
            "strategy": strategy,
        }
    )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [((0.2, 0.0), "error rate"), ((0.002, 400.0), "p99")],
    ids=["errors", "latency"],
)
async def test_a_bad_release_fails_its_gcp_health_gate_on_cloud_monitoring_points(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
    fault: tuple[float, float],
    reason: str,
) -> None:
    gcp_server.state.release_faults["3.0.0"] = fault  # what the load balancer records for its instances
    inp = RegionDeployInput(
        service=SERVICE,
        release="3.0.0",
        region=gtopo.region("europe-west1"),
        task_queue="globalops",
        wave=gtopo.wave_of("europe-west1"),
        policies=policies,
        key_prefix=f"deploy:gcp/{uuid.uuid4().hex[:8]}",
        strategy="rolling",
    )
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        result = await ts_env.client.execute_workflow(
            RegionDeploymentWorkflow.run, inp, id=f"deploy:{uuid.uuid4().hex[:8]}", task_queue="globalops"
        )
    assert result.status == "rolled_back", result.detail
    failed = result.gates[-1]
    assert not failed.passed and failed.step == "batch 1/4", failed
    assert any(r.startswith(reason) for r in failed.reasons), failed.reasons
    assert gcp.region_state(SERVICE, "europe-west1").releases == {"1.0.0": 4}


@pytest.mark.slow  # ~15 s: a rollout of the 16 regions up to the core wave, then an abort
async def test_a_gcp_region_without_metrics_waits_instead_of_passing(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    assert policies.health.on_no_data == "wait"  # the default
    gcp_server.state.monitoring.silent.add("us-central1")  # nothing of the region reaches Monitoring
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        handle = await start_rollout(ts_env.client, rollout(gtopo, policies, "2.0.0"))
        waiting = await wait_child(ts_env, "us-central1", lambda o: o.status == "waiting")
        assert "no metrics arrived from us-central1 (cloud-monitoring)" in waiting.detail, waiting.detail
        assert "error rate, p99 latency, cpu, request count" in waiting.detail
        assert waiting.gates == [] and waiting.batches_done == 1  # held at its first gate, nothing passed
        await handle.execute_update(RegionalRolloutWorkflow.abort, "no metrics from us-central1")
        result = await handle.result()
    assert result.status in ("rolled_back", "aborted"), result.reason
    assert gcp.region_state(SERVICE, "us-central1").releases == {"1.0.0": 4}


async def test_a_short_gcp_quota_fails_the_rollout_before_anything_changes(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    # A canary adds a full group beside stable (4 × e2-small = 8 vCPUs); 8 run, 12 are used elsewhere.
    gcp_server.state.set_quota(PROJECT, "europe-west1", "CPUS", 24, other_usage=12)
    created = dict(gcp_server.state.created)
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        result = await (
            await start_rollout(ts_env.client, rollout(gtopo, policies, "2.0.0", "canary"))
        ).result()
    assert result.status == "failed"
    assert "quota 'CPUS' in europe-west1: needs 8, 4 free of 24 (20 in use)" in result.reason, result.reason
    assert result.region("europe-west1").status == "failed"
    assert dict(gcp_server.state.created) == created  # no template, group or instance was made
    for region in GCP_REGIONS:
        assert gcp.region_state(SERVICE, region).releases == {"1.0.0": 4}
    assert set(sim.region_state(SERVICE, "us-east-1").releases) == {"1.0.0"}


def test_waiting_for_an_operation_heartbeats_with_its_name_and_status(
    gcp: GcpCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    beats: list[str] = []
    monkeypatch.setattr(gcp_api, "beat", lambda *details: beats.extend(str(d) for d in details))
    gcp.scale_group(SERVICE, "europe-west1", "stable", "1.0.0", 5, f"scale:{uuid.uuid4().hex[:6]}")
    assert beats, "no heartbeat while waiting for operations"
    assert all(" operation operation-" in b for b in beats), beats
    assert {b.rsplit(" ", 1)[-1] for b in beats} <= {"PENDING", "RUNNING"}
    assert any("resize checkout-stable in europe-west1" in b for b in beats), beats
