"""Rolling, canary and blue-green deploys of GCP regions through the real workflows and the Compute API."""

from __future__ import annotations

import concurrent.futures
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from config.strategies import Strategy
from contracts.rollout import (
    RegionDeployInput,
    RolloutRequest,
)
from tests.helpers.gcp import GCP_REGIONS, gcp_worker
from tests.helpers.gcp_server import ComputeTestServer
from workflows.region_deployment import RegionDeploymentWorkflow


def deploy_input(
    topo: Topology, policies: Policies, strategy: Strategy, release: str, region: str
) -> RegionDeployInput:
    return RegionDeployInput(
        service="checkout",
        release=release,
        region=topo.region(region),
        task_queue="globalops",
        wave=topo.wave_of(region),
        policies=policies,
        key_prefix=f"deploy:gcp/{uuid.uuid4().hex[:8]}",
        strategy=strategy,
    )


@pytest.mark.slow  # ~25 s: the full 16-region rollout with bakes
async def test_rolling_rollout_moves_every_gcp_region_through_its_mig(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    req = RolloutRequest(
        service="checkout", release="2.0.0", request_id="gcp-rolling", topology=gtopo, policies=policies
    )
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        result = await (await start_rollout(ts_env.client, req)).result()
    assert result.status == "succeeded", result.reason
    for region in GCP_REGIONS:
        state = gcp.region_state("checkout", region)
        assert state.releases == {"2.0.0": 4} and state.release == "2.0.0", state
        assert state.healthy == 4 and state.canary_instances == 0
    assert sum(gcp.traffic("checkout").weights.values()) == 1.0


async def test_canary_steps_weights_on_the_backend_service_and_promotes(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        handle = await ts_env.client.start_workflow(
            RegionDeploymentWorkflow.run,
            deploy_input(gtopo, policies, "canary", "2.0.0", "us-central1"),
            id=f"deploy:{uuid.uuid4().hex[:8]}",
            task_queue="globalops",
        )
        result = await handle.result()
    assert result.status == "succeeded", result.detail
    assert sorted({a.weight for a in result.analysis}) == [5, 25, 50, 100]
    assert all(a.verdict == "pass" for a in result.analysis)
    state = gcp.region_state("checkout", "us-central1")
    assert state.releases == {"2.0.0": 4} and state.canary_instances == 0 and state.canary_weight == 0
    assert gcp_server.state.count("instanceGroupManagers") == 3  # the canary MIG is gone
    assert gcp_server.state.created["instanceGroupManagers"] == 4  # one canary MIG was made


async def test_bad_canary_is_rolled_back_on_gcp(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    gcp_server.state.release_faults["3.0.0"] = (0.08, 0.0)
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        handle = await ts_env.client.start_workflow(
            RegionDeploymentWorkflow.run,
            deploy_input(gtopo, policies, "canary", "3.0.0", "europe-west1"),
            id=f"deploy:{uuid.uuid4().hex[:8]}",
            task_queue="globalops",
        )
        result = await handle.result()
    assert result.status == "rolled_back"
    state = gcp.region_state("checkout", "europe-west1")
    assert state.releases == {"1.0.0": 4} and state.canary_instances == 0 and state.canary_weight == 0


async def test_blue_green_switches_on_gcp_and_removes_blue(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        handle = await ts_env.client.start_workflow(
            RegionDeploymentWorkflow.run,
            deploy_input(gtopo, policies, "blue-green", "2.0.0", "europe-west1"),
            id=f"deploy:{uuid.uuid4().hex[:8]}",
            task_queue="globalops",
        )
        result = await handle.result()
    assert result.status == "succeeded", (result.detail, result.analysis)
    state = gcp.region_state("checkout", "europe-west1")
    assert state.releases == {"2.0.0": 4} and state.canary_instances == 0 and state.canary_weight == 0
    assert gcp.traffic("checkout").weights["europe-west1"] == 1 / 3
