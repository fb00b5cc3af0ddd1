"""Failover, backup, recovery and drills of GCP regions through the real workflows and the Compute API."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from config.models import Policies, Topology
from contracts.dr import (
    BackupReport,
    BackupRequest,
    DrillReport,
    DrillRequest,
    RecoveryRequest,
)
from contracts.failover import (
    FailoverReport,
    FailoverRequest,
)
from tests.gcp_server import ComputeTestServer
from tests.integration.gcp.conftest import gcp_worker
from workflows.backup import BackupWorkflow
from workflows.drill import DrillWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.recovery import DisasterRecoveryWorkflow

SERVICE = "checkout"


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


async def test_failover_moves_the_weight_on_the_backend_service(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        report = await failover(ts_env, gtopo, policies)
    assert report.status == "succeeded", report.reason
    weights = gcp.traffic(SERVICE).weights
    assert weights["us-central1"] == 0
    assert weights["europe-west1"] == pytest.approx(2 / 3)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert gcp.region_state(SERVICE, "europe-west1").instances == 8  # pre-scaled for the moved traffic


async def test_backup_recover_and_drill_on_gcp(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        made = await backup(ts_env, gtopo, policies, ["us-central1", "europe-west1"])
        assert made.status == "succeeded", made.reason
        rows = {r.region: r for r in made.regions}
        assert rows["us-central1"].copy_region == "europe-west1"
        copies = gcp.list_snapshots(SERVICE, "europe-west1")
        assert rows["us-central1"].copy_id in {s.id for s in copies if s.source_region == "us-central1"}
        assert gcp_server.state.count("disks", 'labels.gops-kind = "pcopy-tmp"') == 0  # temp disks gone

        report = await drill(ts_env, gtopo, policies, ["us-central1"])
        assert report.verdict == "pass", report.markdown
        assert report.leftover_resources == 0
        assert gcp.list_resources(SERVICE) == []
        assert gcp_server.state.count("instances", 'labels.gops-env = "pprod"') == 0

        taken = made.taken_at
        assert taken is not None
        recovered = await ts_env.client.execute_workflow(
            DisasterRecoveryWorkflow.run,
            RecoveryRequest(
                service=SERVICE,
                source_region="us-central1",
                target_region="europe-west1",
                topology=gtopo,
                policies=policies,
                request_id=uuid.uuid4().hex,
                failed_at=taken + timedelta(minutes=20),
            ),
            id=f"dr:{SERVICE}:us-central1",
            task_queue="globalops",
        )
    assert recovered.status == "succeeded", recovered.reason
    assert recovered.integrity_ok and recovered.consistency_ok and recovered.rpo_s == 20 * 60
    assert gcp.region_state(SERVICE, "europe-west1").instances == 8  # 4 + 4 restored into the stable MIG
    assert gcp.traffic(SERVICE).weights["us-central1"] == 0
    assert {r.env for r in gcp.list_resources(SERVICE)} == {"prod"}
