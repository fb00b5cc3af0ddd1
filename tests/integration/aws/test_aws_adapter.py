"""The AWS adapter against moto: each mutating call twice with one key leaves one resource."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from activities.clouds.aws import AwsCloud
from config.models import Topology
from contracts.errors import (
    InvalidRequest,
    NotFound,
)
from tests.helpers.aws.call_counter import Counter
from tests.helpers.aws.provision import SERVICE

pytestmark = pytest.mark.slow

EAST, WEST = "us-east-1", "us-west-2"


def client(topology: Topology, service: str, region: str) -> Any:
    endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def live_instances(topology: Topology, region: str, **tags: str) -> list[dict[str, Any]]:
    filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": ["pending", "running"]})
    pages = client(topology, "ec2", region).describe_instances(Filters=filters)["Reservations"]
    return [i for r in pages for i in r["Instances"]]


def test_rolling_calls_are_idempotent_and_converge(topology: Topology, aws: AwsCloud) -> None:
    before = aws.region_state(SERVICE, EAST)
    assert before.releases == {"1.0.0": 2} and before.release == "1.0.0"
    assert before.healthy == 2 and before.traffic == pytest.approx(0.5)

    first = aws.ensure_release(SERVICE, EAST, "2.0.0", 1, "k/batch-1")
    again = aws.ensure_release(SERVICE, EAST, "2.0.0", 1, "k/batch-1")
    assert first.changed == 1 and again.changed == 0
    assert again.state.releases == {"1.0.0": 1, "2.0.0": 1}
    full = aws.ensure_release(SERVICE, EAST, "2.0.0", 2, "k/batch-2")
    assert full.state.releases == {"2.0.0": 2} and full.state.release == "2.0.0"
    assert len(live_instances(topology, EAST, **{"aws:autoscaling:groupName": SERVICE})) == 2

    versions = client(topology, "ec2", EAST).describe_launch_template_versions(LaunchTemplateName=SERVICE)
    assert len(versions["LaunchTemplateVersions"]) == 2  # one version per release, made once


def test_canary_weight_promote_and_restore(topology: Topology, aws: AwsCloud) -> None:
    with pytest.raises(InvalidRequest):
        aws.set_canary_weight(SERVICE, EAST, 0.5, "k/w-empty")
    for _ in range(2):
        aws.scale_group(SERVICE, EAST, "canary", "2.0.0", 1, "k/canary-1")
    state = aws.set_canary_weight(SERVICE, EAST, 0.25, "k/w")
    state = aws.set_canary_weight(SERVICE, EAST, 0.25, "k/w")
    assert state.canary_instances == 1 and state.canary_weight == pytest.approx(0.25)
    assert state.releases == {"1.0.0": 2, "2.0.0": 1}

    aws.scale_group(SERVICE, EAST, "canary", "2.0.0", 2, "k/canary-full")
    promoted = aws.promote_canary(SERVICE, EAST, "k/promote")
    replay = aws.promote_canary(SERVICE, EAST, "k/promote")
    assert promoted == replay
    assert replay.releases == {"2.0.0": 2} and replay.canary_instances == 0 and replay.canary_weight == 0
    with pytest.raises(InvalidRequest):
        aws.promote_canary(SERVICE, EAST, "k/promote-again")

    aws.scale_group(SERVICE, EAST, "canary", "3.0.0", 1, "k/c3")
    aws.set_canary_weight(SERVICE, EAST, 0.5, "k/w3")
    for _ in range(2):
        restored = aws.restore(SERVICE, EAST, "2.0.0", 2, "k/restore")
    assert restored.releases == {"2.0.0": 2} and restored.canary_weight == 0
    assert len(live_instances(topology, EAST, **{"aws:autoscaling:groupName": SERVICE})) == 2


def test_traffic_round_trips_and_a_repeated_key_sends_nothing(topology: Topology) -> None:
    counter = Counter()
    aws = AwsCloud(topology, event_hooks=[counter.hook()])
    assert aws.traffic(SERVICE).weights == {EAST: 0.5, WEST: 0.5}
    wanted = {EAST: 1 / 3, WEST: 2 / 3}
    assert aws.set_traffic(SERVICE, wanted, "k/t").weights == wanted
    assert aws.set_traffic(SERVICE, wanted, "k/t").weights == wanted
    assert counter.calls.get("route-53.ChangeResourceRecordSets") == 1
    assert aws.traffic(SERVICE).weights == wanted  # exact shares, not 85/170 of 255
    drained = aws.set_traffic(SERVICE, {EAST: 0.0, WEST: 1.0}, "k/drain").weights
    assert drained == {EAST: 0.0, WEST: 1.0}
    records = client(topology, "route53", EAST)
    zone = records.list_hosted_zones()["HostedZones"][0]["Id"]
    weights = {
        r["SetIdentifier"]: r["Weight"]
        for r in records.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if r["Type"] == "CNAME"
    }
    assert weights == {EAST: 0, WEST: 255}
    with pytest.raises(InvalidRequest):
        aws.set_traffic(SERVICE, {EAST: 0.5}, "k/bad-sum")
    with pytest.raises(NotFound):
        aws.set_traffic(SERVICE, {"eu-west-1": 0.0}, "k/unknown")


def test_storage_calls_are_idempotent_by_tag(topology: Topology, aws: AwsCloud) -> None:
    taken = datetime(2030, 1, 1, 12, tzinfo=UTC)
    snap = aws.snapshot_volume(SERVICE, EAST, taken, "k/snap")
    assert aws.snapshot_volume(SERVICE, EAST, taken, "k/snap").id == snap.id
    assert snap.taken_at == taken
    copy = aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, "k/copy")
    assert aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, "k/copy").id == copy.id
    assert copy.copy_of == snap.id and copy.source_region == EAST and copy.checksum == snap.checksum
    assert [s.id for s in aws.list_snapshots(SERVICE, WEST)] == [copy.id]
    ec2 = client(topology, "ec2", WEST)
    assert len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 1

    volume = aws.restore_volume(SERVICE, WEST, copy.id, "drill-x", "k/vol")
    assert aws.restore_volume(SERVICE, WEST, copy.id, "drill-x", "k/vol").id == volume.id
    check = aws.check_volume(SERVICE, WEST, volume.id)
    assert (check.checksum, check.watermark) == (snap.checksum, snap.watermark)
    made = aws.launch_instances(SERVICE, WEST, "1.0.0", 2, volume.id, "drill-x", "k/launch")
    assert aws.launch_instances(SERVICE, WEST, "1.0.0", 2, volume.id, "drill-x", "k/launch") == made
    assert len(live_instances(topology, WEST, **{"globalops:env": "drill-x"})) == 2
    assert aws.region_state(SERVICE, WEST).instances == 2  # a drill never touches production

    found = aws.list_resources(SERVICE, "drill-x")
    assert {r.id for r in found} == {volume.id, *(m.id for m in made)}
    for res in found:
        assert aws.delete_resource(SERVICE, res.region, res.id) is True
        assert aws.delete_resource(SERVICE, res.region, res.id) is False
    assert aws.list_resources(SERVICE, "drill-x") == []
    assert aws.delete_snapshot(SERVICE, WEST, copy.id) is True
    assert aws.delete_snapshot(SERVICE, WEST, copy.id) is False


def test_a_copy_is_encrypted_with_the_destination_regions_kms_key(topology: Topology, aws: AwsCloud) -> None:
    west_key = topology.region(WEST).backup_key
    assert west_key and west_key.startswith(f"arn:aws:kms:{WEST}:")  # made in moto's KMS by the fixture
    taken = datetime(2030, 1, 1, 12, tzinfo=UTC)
    snap = aws.snapshot_volume(SERVICE, EAST, taken, "k/enc-snap", topology.region(EAST).backup_key)
    assert (snap.encrypted, snap.kms_key) == (False, None)  # EBS: as its volume, which is not encrypted
    copy = aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, "k/enc-copy", west_key)
    described = client(topology, "ec2", WEST).describe_snapshots(SnapshotIds=[copy.id])["Snapshots"][0]
    assert (described["Encrypted"], described["KmsKeyId"]) == (True, west_key)
    assert (copy.encrypted, copy.kms_key, copy.region) == (True, west_key, WEST)
    again = aws.copy_snapshot(SERVICE, snap.id, EAST, WEST, "k/enc-copy", west_key)  # found by its tag
    assert (again.id, again.encrypted, again.kms_key) == (copy.id, True, west_key)
    listed = {s.id: (s.encrypted, s.kms_key) for s in aws.list_snapshots(SERVICE, WEST)}
    assert listed == {copy.id: (True, west_key)}


def test_prod_launch_joins_the_stable_group(topology: Topology, aws: AwsCloud) -> None:
    snap = aws.snapshot_volume(SERVICE, WEST, datetime.now(UTC), "k/s")
    volume = aws.restore_volume(SERVICE, WEST, snap.id, "prod", "k/v")
    made = aws.launch_instances(SERVICE, WEST, "1.0.0", 2, volume.id, "prod", "k/l")
    aws.launch_instances(SERVICE, WEST, "1.0.0", 2, volume.id, "prod", "k/l")
    state = aws.region_state(SERVICE, WEST)
    assert state.instances == 4 and state.healthy == 4
    aws.delete_resource(SERVICE, WEST, made[0].id)
    assert aws.region_state(SERVICE, WEST).instances == 3


def test_health_replica_lag_and_metrics_read_cloudwatch(aws: AwsCloud) -> None:
    sample = aws.health(SERVICE, EAST)
    assert sample.healthy_instances == 2 and sample.source == "cloudwatch"
    assert sample.error_rate is not None and 0 < sample.error_rate < 0.01
    assert sample.latency_p99_ms is not None and 70 < sample.latency_p99_ms < 90
    assert sample.cpu is not None and 0.3 < sample.cpu < 0.5
    assert sample.requests is not None and sample.requests >= 500 and sample.missing() == []
    assert aws.replica_lag(SERVICE, EAST) == 1.0
    series = aws.metrics(SERVICE, EAST, "stable", 300)  # the ALB's 1-minute points
    assert len(series.error_rate) >= 4 and series.release == "1.0.0"
    assert len(series.latency_p99_ms) == len(series.error_rate) and series.requests >= 2000
    assert aws.metrics(SERVICE, EAST, "canary", 300).error_rate == []  # no canary instances
    assert aws.preflight(SERVICE, EAST, "2.0.0", surge=2).ok
