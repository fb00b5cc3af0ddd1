"""Failover, backup, recovery and drills of GCP regions through the real workflows and the Compute API."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from cli import launch
from config.models import Policies, Topology
from contracts.dr import (
    RecoveryRequest,
)
from contracts.practice import PracticeRequest
from tests.helpers.gcp import PROJECT, SERVICE, backup, drill, failover, gcp_key, gcp_worker
from tests.helpers.gcp_server import ComputeTestServer
from tests.helpers.temporal import unique_queue
from workflows.practice import FailoverPracticeWorkflow
from workflows.recovery import DisasterRecoveryWorkflow


def snapshots_client(server: ComputeTestServer) -> compute_v1.SnapshotsClient:
    """The real Compute snapshots client, on the test server (anonymous, REST)."""
    return compute_v1.SnapshotsClient(
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=server.url),
        transport="rest",
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


async def test_practice_moves_the_backend_weights_away_and_back(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    queue = unique_queue()
    topo = gtopo.model_copy(update={"default_task_queue": queue})
    before = gcp.traffic(SERVICE).weights
    req = PracticeRequest(
        service=SERVICE,
        region="us-central1",
        duration_s=60,
        topology=topo,
        policies=policies,
        request_id="p1",
    )
    async with gcp_worker(ts_env.client, sim, gcp, executor, queue):
        handle = await launch.start(ts_env.client, launch.practice(req, f"practice:{SERVICE}:us-central1:p1"))
        for _ in range(200):  # until it holds: read the backend service's weights from the API itself
            if (await handle.query(FailoverPracticeWorkflow.report)).checks:
                break
            await ts_env.sleep(5)
        during = gcp.traffic(SERVICE).weights
        report = await handle.result()
    assert report.verdict == "pass", report.reason
    assert report.target in ("europe-west1", "asia-southeast1")
    assert during["us-central1"] == 0 and during[report.target] == pytest.approx(2 / 3)
    assert report.weights_before == before and report.weights_after == before
    assert gcp.traffic(SERVICE).weights == before
    assert gcp.region_state(SERVICE, report.target).instances == 4  # pre-scaled for the hold, scaled back


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
        # Each snapshot carries its region's CMEK, read back through the real google-cloud-compute client.
        snapshots = snapshots_client(gcp_server)
        for region, row in rows.items():
            original = snapshots.get(project=PROJECT, snapshot=row.snapshot_id)
            assert original.snapshot_encryption_key.kms_key_name == f"{gcp_key(region)}/cryptoKeyVersions/1"
            copy = snapshots.get(project=PROJECT, snapshot=row.copy_id)
            assert copy.storage_locations == [row.copy_region]
            assert (
                copy.snapshot_encryption_key.kms_key_name
                == f"{gcp_key(row.copy_region or '')}/cryptoKeyVersions/1"
            )
            assert row.kms_key == gcp_key(row.copy_region or "")  # the key without the version GCE appends
        copy_of_us = next(s for s in copies if s.id == rows["us-central1"].copy_id)
        assert (copy_of_us.encrypted, copy_of_us.kms_key) == (True, gcp_key("europe-west1"))

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


def test_a_plain_snapshot_is_encrypted_with_the_destination_key_on_copy(
    gcp: GcpCloud, gcp_server: ComputeTestServer
) -> None:
    eu_key = gcp_key("europe-west1")
    plain = gcp.snapshot_volume(SERVICE, "us-central1", datetime(2030, 1, 1, tzinfo=UTC), "k-plain")
    assert (plain.encrypted, plain.kms_key) == (False, None)  # no key: Google's default encryption only
    copy = gcp.copy_snapshot(SERVICE, plain.id, "us-central1", "europe-west1", "k-plain-copy", eu_key)
    assert (copy.encrypted, copy.kms_key, copy.region) == (True, eu_key, "europe-west1")
    read = snapshots_client(gcp_server).get(project=PROJECT, snapshot=copy.id)
    assert read.snapshot_encryption_key.kms_key_name == f"{eu_key}/cryptoKeyVersions/1"
    assert gcp.copy_snapshot(SERVICE, plain.id, "us-central1", "europe-west1", "k-plain-copy", eu_key) == copy
