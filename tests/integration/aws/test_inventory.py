"""The moto inventory the compensation tests compare: stable between readings, and it sees a duplicate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from activities.clouds.aws_clients import TAG_KEY, TAG_KIND, TAG_SERVICE, TAG_TAKEN_AT, tag_spec
from config.models import Topology
from tests.helpers.aws.inventory import diff, moto_inventory
from tests.helpers.aws.provision import AWS_REGIONS, INSTANCES, SERVICE

pytestmark = pytest.mark.slow

EAST = AWS_REGIONS[0]


def test_two_readings_of_the_provisioned_topology_are_equal_and_json(topology: Topology) -> None:
    first = moto_inventory(topology, SERVICE)
    assert moto_inventory(topology, SERVICE) == first
    assert json.loads(json.dumps(first)) == first
    east = first["regions"][EAST]
    assert east["instances"] == {f"{SERVICE}|1.0.0|-|-": INSTANCES}
    assert east["listener_weights"] == {f"{SERVICE}:80": {f"{SERVICE}-canary": 0, f"{SERVICE}-stable": 100}}
    assert east["volumes"] == {f"kind=data,service={SERVICE}": 1}
    assert sorted(first["route53"]) == [f"{SERVICE}.globalops.internal. CNAME {r}" for r in AWS_REGIONS]


def test_a_second_snapshot_with_the_same_key_counts_two_and_the_diff_names_only_it(
    topology: Topology,
) -> None:
    before = moto_inventory(topology, SERVICE)
    ec2 = boto3.client("ec2", region_name=EAST, endpoint_url=topology.region(EAST).aws.endpoint_url)  # type: ignore[union-attr]
    volume = ec2.describe_volumes(Filters=[{"Name": f"tag:{TAG_KIND}", "Values": ["data"]}])["Volumes"][0]
    for _ in range(2):
        tags = {
            TAG_SERVICE: SERVICE,
            TAG_KIND: "backup",
            TAG_KEY: "k1",
            TAG_TAKEN_AT: datetime.now(UTC).isoformat(),
        }
        ec2.create_snapshot(VolumeId=volume["VolumeId"], TagSpecifications=tag_spec("snapshot", tags))
    after = moto_inventory(topology, SERVICE)
    signature = f"key=k1,kind=backup,service={SERVICE}"
    assert after["regions"][EAST]["snapshots"] == {signature: 2}
    assert diff(before, after) == [f"regions/{EAST}/snapshots/{signature}: <absent> -> 2"]
