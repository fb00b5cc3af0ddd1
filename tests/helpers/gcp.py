"""GCP regions in tests: a topology on the local Compute test server, a worker with {"sim", "gcp"}, and
the workflow runs (failover, backup, drill) of the GCP tests."""

from __future__ import annotations

import concurrent.futures
import uuid

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clouds.gcp import GcpCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.gcp import GcpRegionConfig
from config.models import Policies, Topology
from contracts.dr import BackupReport, BackupRequest, DrillReport, DrillRequest
from contracts.failover import FailoverReport, FailoverRequest
from tests.helpers.gcp_server import ComputeTestServer
from workers.main import WORKFLOWS, activity_functions
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failover import RegionFailoverWorkflow

SERVICE = "checkout"
GCP_REGIONS = ("us-central1", "europe-west1", "asia-southeast1")
#: Backups and recoveries stay on GCP: each GCP region backs up to another GCP region.
GCP_BACKUP = {"us-central1": "europe-west1", "europe-west1": "us-central1", "asia-southeast1": "europe-west1"}
PROJECT = "globalops-test"


def gcp_key(region: str) -> str:
    """The Cloud KMS key that encrypts the region's snapshots (the test server checks its form only)."""
    return f"projects/{PROJECT}/locations/{region}/keyRings/globalops/cryptoKeys/backups"


def gcp_topology(topology: Topology, server: ComputeTestServer, queue: str = "globalops") -> Topology:
    """The default topology with the GCP regions on provider gcp, pointing at the test server.

    Residency is off so a GCP region can fail over / back up to another GCP region (the GCP
    traffic manager only knows GCP backends).
    Each GCP region has its backup key (`gcp_key`).
    """
    regions = []
    for region in topology.regions:
        if region.name in GCP_REGIONS:
            cfg = GcpRegionConfig(
                project=PROJECT,
                zones=[f"{region.name}-b", f"{region.name}-c"],
                api_endpoint=server.url,
                monitoring_endpoint=server.monitoring_endpoint,
                operation_timeout_s=20,
                call_retry_s=10,
            )
            region = region.model_copy(
                update={
                    "provider": "gcp",
                    "gcp": cfg,
                    "backup_region": GCP_BACKUP[region.name],
                    "backup_key": gcp_key(region.name),
                }
            )
        regions.append(region)
    services = [s.model_copy(update={"data_residency": False}) for s in topology.services]
    return topology.model_copy(update={"regions": regions, "services": services, "default_task_queue": queue})


def monitoring_policies(policies: Policies) -> Policies:
    """Canary analysis over Cloud Monitoring: one point per 60 s period (the API's shortest), so
    `min_samples` (50) points need a window of an hour, not the default 5 minutes."""
    analysis = policies.analysis.model_copy(update={"window": 3600.0})
    return policies.model_copy(update={"analysis": analysis})


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


def lenient(policies: Policies) -> Policies:
    """The test server's clock may jump years between workflows (see tests/workflows/test_dr.py)."""
    return policies.model_copy(
        update={"dr": policies.dr.model_copy(update={"rpo_target": 400 * 365 * 86400.0})}
    )


async def failover(
    env: WorkflowEnvironment, topo: Topology, policies: Policies, wid: str | None = None
) -> FailoverReport:
    return await env.client.execute_workflow(
        RegionFailoverWorkflow.run,
        FailoverRequest(
            service=SERVICE,
            from_region="us-central1",
            to_region="europe-west1",
            topology=topo,
            policies=policies,
            request_id=uuid.uuid4().hex[:8],
        ),
        id=wid or f"failover:{SERVICE}:us-central1:{uuid.uuid4().hex[:6]}",
        task_queue=topo.default_task_queue,
    )


async def backup(
    env: WorkflowEnvironment, topo: Topology, policies: Policies, regions: list[str], wid: str | None = None
) -> BackupReport:
    return await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(
            service=SERVICE, topology=topo, policies=policies, request_id=uuid.uuid4().hex, regions=regions
        ),
        id=wid or f"backup:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topo.default_task_queue,
    )


async def drill(
    env: WorkflowEnvironment, topo: Topology, policies: Policies, regions: list[str], wid: str | None = None
) -> DrillReport:
    return await env.client.execute_workflow(
        DrillWorkflow.run,
        DrillRequest(
            service=SERVICE,
            topology=topo,
            policies=lenient(policies),
            regions=regions,
            request_id=uuid.uuid4().hex,
        ),
        id=wid or f"drill:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topo.default_task_queue,
    )
