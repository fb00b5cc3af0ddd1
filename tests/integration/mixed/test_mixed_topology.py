"""One rollout, validate → core → edge, across AWS (moto), GCP (local Compute server) and the sim."""

from __future__ import annotations

import concurrent.futures
import urllib.request
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.gcp import GcpCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.aws import AwsRegionConfig
from config.models import Topology
from contracts.rollout import RolloutRequest
from tests.helpers.aws.provision import provision
from tests.helpers.aws.workflow_runs import fast_policies
from tests.helpers.gcp import gcp_topology
from tests.helpers.gcp_server.server import ComputeTestServer
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions

pytestmark = pytest.mark.slow

AWS_REGIONS = ("us-east-1", "eu-west-1")  # one core pilot, one core region
GCP_REGIONS = ("us-central1", "europe-west1", "asia-southeast1")


def mixed_topology(base: Topology, moto: str, gcp: ComputeTestServer, queue: str) -> Topology:
    """The default 16 regions: two on AWS (moto), the three GCP ones on the Compute server, the rest sim."""
    topo = gcp_topology(base, gcp, queue)
    regions = [
        r.model_copy(update={"provider": "aws", "instances": 2, "aws": AwsRegionConfig(endpoint_url=moto)})
        if r.name in AWS_REGIONS
        else r
        for r in topo.regions
    ]
    return Topology.model_validate({**topo.model_dump(), "regions": [r.model_dump() for r in regions]})


async def test_one_rollout_spans_aws_gcp_and_the_sim(
    ts_env: WorkflowEnvironment,
    moto_endpoint: str,
    gcp_server: ComputeTestServer,
    tmp_path: Path,
    topology: Topology,
) -> None:
    await register_search_attributes(ts_env.client)
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - the same local URL
        pass
    gcp_server.reset()
    topo = mixed_topology(topology, moto_endpoint, gcp_server, f"mixed-{uuid.uuid4().hex[:8]}")
    assert {r.provider for r in topo.regions} == {"aws", "gcp", "sim"}
    provision(topo, moto_endpoint)
    aws, gcp = AwsCloud(topo), GcpCloud(topo)
    gcp.bootstrap_topology()
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topo)
    registry = CloudRegistry({"sim": lambda: sim, "aws": lambda: aws, "gcp": lambda: gcp})
    request = RolloutRequest(
        service="checkout", release="2.0.0", request_id="mixed", topology=topo, policies=fast_policies()
    )
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        worker = Worker(
            ts_env.client,
            task_queue=topo.default_task_queue,
            workflows=WORKFLOWS,
            activities=activity_functions(registry),
            activity_executor=pool,
        )
        async with worker:
            result = await (await start_rollout(ts_env.client, request)).result()
    assert result.status == "succeeded", result.phase
    assert len(result.deploy_order) == 16
    assert result.deploy_order[0] == "us-east-1"  # the AWS pilot went first
    for region in topo.regions:
        cloud = registry.get(region.provider)
        state = cloud.region_state("checkout", region.name)
        assert state.releases == {"2.0.0": region.instances}, (region.name, region.provider, state)
