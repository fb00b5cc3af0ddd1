"""A local Compute REST test server, a GCP topology pointing at it, and workers with {"sim", "gcp"}."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.gcp import GcpCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.gcp import GcpRegionConfig
from config.models import Topology
from tests.gcp_server import ComputeTestServer
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions

GCP_REGIONS = ("us-central1", "europe-west1", "asia-southeast1")
#: Backups and recoveries stay on GCP: each GCP region backs up to another GCP region.
GCP_BACKUP = {"us-central1": "europe-west1", "europe-west1": "us-central1", "asia-southeast1": "europe-west1"}
PROJECT = "globalops-test"


@pytest.fixture(scope="session")
def gcp_server() -> Iterator[ComputeTestServer]:
    server = ComputeTestServer().start()
    try:
        yield server
    finally:
        server.stop()


def gcp_topology(topology: Topology, server: ComputeTestServer, queue: str = "globalops") -> Topology:
    """The default topology with the GCP regions on provider gcp, pointing at the test server.

    Residency is off so a GCP region can fail over / back up to another GCP region (the GCP
    traffic manager only knows GCP backends).
    """
    regions = []
    for region in topology.regions:
        if region.name in GCP_REGIONS:
            cfg = GcpRegionConfig(
                project=PROJECT,
                zones=[f"{region.name}-b", f"{region.name}-c"],
                api_endpoint=server.url,
                metrics_url=server.metrics_url(),
                operation_timeout_s=20,
                call_retry_s=10,
            )
            region = region.model_copy(
                update={"provider": "gcp", "gcp": cfg, "backup_region": GCP_BACKUP[region.name]}
            )
        regions.append(region)
    services = [s.model_copy(update={"data_residency": False}) for s in topology.services]
    return topology.model_copy(update={"regions": regions, "services": services, "default_task_queue": queue})


@pytest.fixture
def gtopo(topology: Topology, gcp_server: ComputeTestServer) -> Topology:
    return gcp_topology(topology, gcp_server)


@pytest.fixture
def gcp(gtopo: Topology, gcp_server: ComputeTestServer) -> GcpCloud:
    """A fresh server state, bootstrapped: template, stable MIG, data disk per region, backend service."""
    gcp_server.reset()
    cloud = GcpCloud(gtopo)
    cloud.bootstrap_topology()
    return cloud


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def gcp_worker(
    client: Client, sim: SimCloud, gcp: GcpCloud, executor: concurrent.futures.Executor, queue: str
) -> Worker:
    registry = CloudRegistry({"sim": lambda: sim, "gcp": lambda: gcp})
    return Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=activity_functions(registry),
        activity_executor=executor,
    )
