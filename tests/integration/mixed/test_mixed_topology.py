"""One rollout, validate → core → edge, across AWS (moto), GCP (local Compute server) and the sim."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from cli.launch import start_rollout
from config.models import Topology
from contracts.rollout import RolloutRequest
from tests.helpers.aws.workflow_runs import fast_policies
from tests.helpers.gcp_server.server import ComputeTestServer
from tests.helpers.mixed import mixed_clouds, mixed_worker
from workers.client import register_search_attributes

pytestmark = pytest.mark.slow


async def test_one_rollout_spans_aws_gcp_and_the_sim(
    ts_env: WorkflowEnvironment,
    moto_endpoint: str,
    gcp_server: ComputeTestServer,
    tmp_path: Path,
    topology: Topology,
) -> None:
    await register_search_attributes(ts_env.client)
    topo, registry = mixed_clouds(topology, moto_endpoint, gcp_server, tmp_path)
    assert {r.provider for r in topo.regions} == {"aws", "gcp", "sim"}
    request = RolloutRequest(
        service="checkout", release="2.0.0", request_id="mixed", topology=topo, policies=fast_policies()
    )
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        async with mixed_worker(ts_env.client, topo, registry, pool):
            result = await (await start_rollout(ts_env.client, request)).result()
    assert result.status == "succeeded", result.phase
    assert len(result.deploy_order) == 16
    assert result.deploy_order[0] == "us-east-1"  # the AWS pilot went first
    for region in topo.regions:
        cloud = registry.get(region.provider)
        state = cloud.region_state("checkout", region.name)
        assert state.releases == {"2.0.0": region.instances}, (region.name, region.provider, state)
