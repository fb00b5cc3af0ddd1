"""The AWS integrity check reads a snapshot's blocks (EBS direct APIs, on moto) and can fail.

A snapshot is tagged with its block manifest when it is taken; its copy is verified against it. A
wrong block (data that does not hash to its checksum), a missing block and an extra block each fail
with a reason naming the block; an intact copy passes; so does a copy whose original is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.clouds.aws import AwsCloud
from activities.clouds.aws_clients import TAG_BLOCKS, TAG_MANIFEST
from config.models import Topology
from contracts.storage import Snapshot
from tests.helpers.aws import moto_ebs
from tests.integration.aws.test_aws_adapter import client

pytestmark = pytest.mark.slow

EAST, WEST = "us-east-1", "us-west-2"
SERVICE = "checkout"


def backed_up(aws: AwsCloud, key: str) -> tuple[Snapshot, Snapshot]:
    taken = datetime(2030, 1, 1, 12, tzinfo=UTC)
    snap = aws.snapshot_volume(SERVICE, EAST, taken, f"{key}/snap")
    return snap, aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, f"{key}/copy")


def test_a_snapshot_records_its_manifest_and_an_intact_copy_verifies(
    topology: Topology, aws: AwsCloud
) -> None:
    snap, copy = backed_up(aws, "intact")
    for region, sid in ((EAST, snap.id), (WEST, copy.id)):
        raw = client(topology, "ec2", region).describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
        tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
        assert tags[TAG_BLOCKS] == str(moto_ebs.DEFAULT_BLOCKS) and len(tags[TAG_MANIFEST]) == 64
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert found.checked and found.ok and found.reason is None
    assert f"{moto_ebs.DEFAULT_BLOCKS} blocks" in found.method


def test_a_wrong_block_fails_naming_it(topology: Topology, aws: AwsCloud) -> None:
    _, copy = backed_up(aws, "wrong")
    moto_ebs.corrupt_block(WEST, copy.id, 2)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert found.checked and not found.ok
    assert found.reason == f"snapshot {copy.id}: block 2: data does not hash to its SHA-256 checksum"


def test_a_missing_and_an_extra_block_fail_naming_them(topology: Topology, aws: AwsCloud) -> None:
    _, copy = backed_up(aws, "missing")
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


def test_without_the_original_a_changed_block_list_still_fails(topology: Topology, aws: AwsCloud) -> None:
    snap, copy = backed_up(aws, "orphan")
    assert aws.delete_snapshot(SERVICE, EAST, snap.id)
    assert aws.verify_snapshot(SERVICE, WEST, copy.id).ok  # the manifest travels with the copy
    moto_ebs.drop_block(WEST, copy.id, 3)
    found = aws.verify_snapshot(SERVICE, WEST, copy.id)
    assert not found.ok
    assert found.reason == (
        f"snapshot {copy.id}: the block list (3 blocks) differs from the manifest recorded when the"
        " snapshot was taken (4 blocks)"
    )
