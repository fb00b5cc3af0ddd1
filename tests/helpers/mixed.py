"""The mixed topology of tests/integration/mixed/: two regions on AWS (moto), the three GCP ones on
the local Compute server, the rest on the sim, each cloud set up afresh, and a worker for all three."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.gcp import GcpCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.aws import AwsRegionConfig
from config.models import Topology
from tests.helpers.aws.moto_server import reset_moto
from tests.helpers.aws.provision import provision
from tests.helpers.gcp import gcp_topology
from tests.helpers.gcp_server.server import ComputeTestServer
from workers.main import WORKFLOWS, activity_functions

AWS_REGIONS = ("us-east-1", "eu-west-1")  # one core pilot, one core region
GCP_REGIONS = ("us-central1", "europe-west1", "asia-southeast1")


def mixed_topology(base: Topology, moto: str, gcp: ComputeTestServer, queue: str) -> Topology:
    """The default 16 regions: two on AWS (moto), the three GCP ones on the Compute server, the rest sim.

    Residency is off, as in `gcp_topology`.
    """
    topo = gcp_topology(base, gcp, queue)
    regions = [
        r.model_copy(update={"provider": "aws", "instances": 2, "aws": AwsRegionConfig(endpoint_url=moto)})
        if r.name in AWS_REGIONS
        else r
        for r in topo.regions
    ]
    return Topology.model_validate({**topo.model_dump(), "regions": [r.model_dump() for r in regions]})


def mixed_clouds(
    base: Topology, moto: str, gcp_server: ComputeTestServer, tmp_path: Path
) -> tuple[Topology, CloudRegistry]:
    """A fresh mixed topology on a task queue of its own, provisioned on moto, the Compute server
    and a new sim, and the registry of the three clouds."""
    reset_moto(moto)
    gcp_server.reset()
    topo = mixed_topology(base, moto, gcp_server, f"mixed-{uuid.uuid4().hex[:8]}")
    provision(topo, moto)
    aws, gcp = AwsCloud(topo), GcpCloud(topo)
    gcp.bootstrap_topology()
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topo)
    return topo, CloudRegistry({"sim": lambda: sim, "aws": lambda: aws, "gcp": lambda: gcp})


def mixed_worker(
    client: Client, topo: Topology, registry: CloudRegistry, executor: concurrent.futures.Executor
) -> Worker:
    return Worker(
        client,
        task_queue=topo.default_task_queue,
        workflows=WORKFLOWS,
        activities=activity_functions(registry),
        activity_executor=executor,
    )
