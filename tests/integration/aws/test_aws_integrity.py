"""The AWS integrity check reads a snapshot's blocks (EBS direct APIs, on moto) and can fail.

A snapshot is tagged with its block manifest when it is taken; its copy is verified against it. A
wrong block (data that does not hash to its checksum), a missing block and an extra block each fail
with a reason naming the block (or, once the original is gone, saying how the block list changed);
an intact copy passes. `dr validate` and the drill fail with the reason, as they do when the
validation hook answers an old watermark.
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from datetime import UTC, datetime

import boto3
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.clouds.aws import AwsCloud
from activities.clouds.aws_clients import TAG_BLOCKS, TAG_MANIFEST
from activities.clouds.sim import SimCloud
from config.dr import ValidationHook
from config.models import Policies, Topology
from contracts.dr import RecoveryReport, RecoveryRequest
from contracts.storage import Snapshot
from tests.helpers.aws import moto_ebs
from tests.helpers.aws.worker import aws_worker
from tests.helpers.aws.workflow_runs import backup, drill, fast_policies
from tests.helpers.receiver import Receiver
from workers.client import register_search_attributes
from workflows.drill import DrillWorkflow
from workflows.recovery import DisasterRecoveryWorkflow

pytestmark = pytest.mark.slow

EAST, WEST = "us-east-1", "us-west-2"
SERVICE = "checkout"


def backed_up(aws: AwsCloud, key: str) -> tuple[Snapshot, Snapshot]:
    taken = datetime(2030, 1, 1, 12, tzinfo=UTC)
    snap = aws.snapshot_volume(SERVICE, EAST, taken, f"{key}/snap")
    return snap, aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, f"{key}/copy")


def test_an_intact_copy_verifies_and_a_wrong_block_fails_naming_it(topology: Topology, aws: AwsCloud) -> None:
    snap, copy = backed_up(aws, "intact")
    for region, sid in ((EAST, snap.id), (WEST, copy.id)):
        endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
        raw = boto3.client("ec2", region_name=region, endpoint_url=endpoint).describe_snapshots(
            SnapshotIds=[sid]
        )
        tags = {t["Key"]: t["Value"] for t in raw["Snapshots"][0]["Tags"]}
        assert tags[TAG_BLOCKS] == str(moto_ebs.DEFAULT_BLOCKS) and len(tags[TAG_MANIFEST]) == 64
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert found.checked and found.ok and found.reason is None
    assert found.method == f"EBS direct APIs: {moto_ebs.DEFAULT_BLOCKS} blocks read, SHA-256 checked"

    moto_ebs.corrupt_block(WEST, copy.id, 2)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert found.checked and not found.ok
    assert found.reason == f"snapshot {copy.id}: block 2: data does not hash to its SHA-256 checksum"


def test_missing_and_extra_blocks_fail_naming_them_even_without_the_original(
    topology: Topology, aws: AwsCloud
) -> None:
    snap, copy = backed_up(aws, "missing")
    moto_ebs.drop_block(WEST, copy.id, 1)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert not found.ok and found.reason == f"snapshot {copy.id}: block 1: missing"
    moto_ebs.add_block(WEST, copy.id, 1, b"x" * 64)  # back, with other data and a matching checksum
    moto_ebs.add_block(WEST, copy.id, 9, b"y" * 64)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert found.reason == (
        f"snapshot {copy.id}: block 1: checksum differs from the snapshot taken;"
        " block 9: extra (not in the snapshot taken)"
    )

    # The original gone (as in a lost region): the manifest that travelled with the copy still fails it.
    assert aws.delete_snapshot(SERVICE, EAST, snap.id)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert not found.ok
    assert found.reason == (
        f"snapshot {copy.id}: the block list (5 blocks) differs from the manifest recorded when the"
        " snapshot was taken (4 blocks)"
    )


async def test_dr_validate_and_the_drill_fail_on_a_corrupt_copy_or_an_old_watermark(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    await register_search_attributes(ts_env.client)
    with Receiver() as rx:
        hook = ValidationHook(url=rx.url("/v"), timeout=2, retries=0)
        base = fast_policies()
        pols = base.model_copy(update={"dr": base.dr.model_copy(update={"validation": hook})})
        async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
            made = await backup(ts_env, topology, [EAST])
            copy_id = made.regions[0].copy_id
            assert made.status == "succeeded" and copy_id, made.reason
            mark = aws.list_snapshots(SERVICE, WEST)[0].watermark
            rx.answer("/v", 200, json.dumps({"watermark": mark}))
            intact = await validate(ts_env, topology, pols)
            rx.answer("/v", 200, json.dumps({"watermark": mark - 1}))
            old = await validate(ts_env, topology, pols)
            rx.answer("/v", 200, json.dumps({"watermark": mark}))
            moto_ebs.drop_block(WEST, copy_id, 1)
            wid = f"drill:{SERVICE}:missing-block"
            with pytest.raises(WorkflowFailureError):  # a failed verdict fails the drill workflow
                await drill(ts_env, topology, [EAST], wid, pols)
            drilled = await ts_env.client.get_workflow_handle(wid).query(DrillWorkflow.report)
            moto_ebs.corrupt_block(WEST, copy_id, 2)
            wrong = await validate(ts_env, topology, pols)
    assert intact.status == "succeeded" and intact.integrity_ok and intact.validation_ok, intact.reason
    assert any(s.startswith("integrity: EBS direct APIs: 4 blocks read") for s in intact.steps)
    assert old.status == "failed" and old.integrity_ok and old.validation_ok is False
    assert f"watermark {mark - 1} is older than the snapshot's {mark}" in (old.reason or "")
    assert drilled.verdict == "fail" and drilled.leftover_resources == 0
    assert drilled.regions[0].reason == f"integrity: snapshot {copy_id}: block 1: missing"
    assert wrong.status == "failed" and wrong.integrity_ok is False
    assert wrong.reason == (
        f"integrity: snapshot {copy_id}: block 2: data does not hash to its SHA-256 checksum;"
        " block 1: missing"
    )
    assert len(rx.at("/v")) == 2  # the hook is asked only about restores whose data verified


async def validate(env: WorkflowEnvironment, topology: Topology, policies: Policies) -> RecoveryReport:
    """`dr validate` of EAST's copy in WEST: restore, check, remove."""
    req = RecoveryRequest(
        service=SERVICE,
        source_region=EAST,
        target_region=WEST,
        topology=topology,
        policies=policies,
        mode="validate",
        env=f"validate-{uuid.uuid4().hex[:8]}",
        request_id=uuid.uuid4().hex,
    )
    return await env.client.execute_workflow(
        DisasterRecoveryWorkflow.run,
        req,
        id=f"dr-validate:{SERVICE}:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )
