"""The AWS adapter waits for end states, heartbeating, and gives up retryably.

moto reaches every end state at once, so botocore hooks (tests/helpers/aws/pending.py) make it
answer as AWS does meanwhile: snapshots `pending`, Route 53 changes `PENDING`, new targets
`initial`. The real activities run in temporalio's ActivityEnvironment with a heartbeat timeout, so
each heartbeat the adapter sends while it waits is seen with its details.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.cloud_activities import CloudActivities
from activities.clouds.aws import AwsCloud
from activities.clouds.aws_clients import EventHook
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from activities.storage_activities import StorageActivities
from activities.traffic_activities import TrafficActivities
from config.models import Topology
from contracts.dr import CopyInput, SnapshotInput
from contracts.failover import SetTrafficInput
from contracts.rollout import EnsureReleaseInput
from tests.helpers.aws.call_counter import Counter
from tests.helpers.aws.pending import InitialTargets, PendingChanges, PendingSnapshots
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE, aws_config
from tests.helpers.aws.worker import aws_worker
from tests.helpers.aws.workflow_runs import backup, failover
from workers.client import register_search_attributes

pytestmark = pytest.mark.slow

EAST, WEST = AWS_REGIONS
TAKEN = datetime(2030, 1, 1, 12, tzinfo=UTC)


class Beats:
    """An activity environment with a heartbeat timeout, keeping every heartbeat's details."""

    def __init__(self) -> None:
        self.env = ActivityEnvironment()
        self.env.info = dataclasses.replace(self.env.info, heartbeat_timeout=timedelta(seconds=10))
        self.details: list[tuple[Any, ...]] = []
        self.env.on_heartbeat = lambda *details: self.details.append(details)

    def waits(self, what: str) -> list[tuple[Any, ...]]:
        """The adapter's own heartbeats (the side thread's carry no details) about `what`."""
        return [d for d in self.details if d and what in str(d[0])]


def adapter(topology: Topology, hooks: Sequence[EventHook], **aws: Any) -> AwsCloud:
    """An adapter on `topology` with the hooks, and `aws` changed in both AWS regions' blocks."""
    if aws:
        regions = [
            r.model_copy(update={"aws": aws_config(str(r.aws.endpoint_url), **aws)}) if r.aws else r
            for r in topology.regions
        ]
        topology = topology.model_copy(update={"regions": regions})
    counter = Counter()
    cloud = AwsCloud(topology, event_hooks=[*hooks, counter.hook()])
    cloud.counter = counter  # type: ignore[attr-defined]
    return cloud


def registry(cloud: AwsCloud) -> CloudRegistry:
    return CloudRegistry({"aws": lambda: cloud})


def test_a_snapshot_and_its_copy_are_returned_once_completed(topology: Topology) -> None:
    pending = PendingSnapshots(n=3)
    cloud = adapter(topology, pending.hooks())
    storage = StorageActivities(registry(cloud))
    beats = Beats()
    snap = beats.env.run(
        storage.snapshot_volume,
        SnapshotInput(service=SERVICE, region=EAST, provider="aws", taken_at=TAKEN, key="k/snap"),
    )
    assert pending.seen[snap.id] == 4  # three polls said pending, the fourth completed
    waited = beats.waits(f"snapshot {snap.id} in {EAST} completed")
    assert [d[1] for d in waited] == ["pending 25%", "pending 50%", "pending 75%"]
    copy = beats.env.run(
        storage.copy_snapshot,
        CopyInput(
            service=SERVICE, region=EAST, provider="aws", snapshot_id=snap.id, dest_region=WEST, key="k/copy"
        ),
    )
    assert copy.copy_of == snap.id and pending.seen[copy.id] == 4
    assert len(beats.waits(f"snapshot {copy.id} in {WEST} completed")) == 3
    # A retry with the same key finds the copy (completed now) and returns it without a new one.
    again = cloud.copy_snapshot(SERVICE, snap.id, EAST, WEST, "k/copy")
    assert again.id == copy.id and cloud.counter.calls.get("ec2.CopySnapshot") == 1  # type: ignore[attr-defined]


def test_a_failed_snapshot_is_deleted_and_the_call_retried(topology: Topology) -> None:
    pending = PendingSnapshots(n=1, final="error")
    cloud = adapter(topology, pending.hooks())
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(
            StorageActivities(registry(cloud)).snapshot_volume,
            SnapshotInput(service=SERVICE, region=EAST, provider="aws", taken_at=TAKEN, key="k/bad"),
        )
    assert failed.value.type == "Unavailable" and not failed.value.non_retryable
    assert "failed (injected: the volume went away); deleted, retried" in str(failed.value)
    assert cloud.list_snapshots(SERVICE, EAST) == []  # the retry takes a new one
    fine = AwsCloud(topology).snapshot_volume(SERVICE, EAST, TAKEN, "k/bad")
    assert fine.id not in pending.seen


def test_a_route53_change_is_waited_for_until_insync(topology: Topology) -> None:
    changes = PendingChanges(n=2)
    cloud = adapter(topology, changes.hooks())
    beats = Beats()
    wanted = {EAST: 0.25, WEST: 0.75}
    state = beats.env.run(
        TrafficActivities(registry(cloud)).set_traffic,
        SetTrafficInput(service=SERVICE, provider="aws", weights=wanted, key="k/traffic"),
    )
    assert state.weights == wanted
    [change] = changes.sent
    assert changes.reads[change] == 3  # PENDING, PENDING, INSYNC
    waited = beats.waits("Route 53 change")  # one heartbeat per PENDING read
    assert len(waited) == 2 and all(d[1].endswith(f"{change} PENDING") for d in waited)
    assert cloud.set_traffic(SERVICE, wanted, "k/traffic").weights == wanted  # nothing to send again
    assert len(changes.sent) == 1


def test_old_instances_go_only_once_the_new_ones_are_healthy(topology: Topology) -> None:
    old = {m.id for m in AwsCloud(topology)._groups(SERVICE, EAST).members("stable")}
    targets = InitialTargets(n=2, serving=old)
    cloud = adapter(topology, targets.hooks())
    beats = Beats()
    result = beats.env.run(
        CloudActivities(registry(cloud)).ensure_release,
        EnsureReleaseInput(
            service=SERVICE, region=EAST, provider="aws", release="2.0.0", count=1, key="k/batch-1"
        ),
    )
    assert result.changed == 1 and result.state.releases == {"1.0.0": 1, "2.0.0": 1}
    [new] = list(targets.reads)
    assert targets.log[:3] == [f"initial {new}", f"initial {new}", f"healthy {new}"]
    assert targets.log[3].startswith("terminate ") and targets.log[3].removeprefix("terminate ") in old
    waited = beats.waits("instances of 'checkout' on 2.0.0 InService and healthy")
    assert [d[1] for d in waited] == [f"0 of 1 ready ({new} InService/initial)"] * 2


def test_a_wait_past_its_deadline_fails_retryably(topology: Topology) -> None:
    targets = InitialTargets(
        n=10**6, serving={m.id for m in AwsCloud(topology)._groups(SERVICE, EAST).members("stable")}
    )
    cloud = adapter(topology, targets.hooks(), wait_timeout_s=0.3)
    with pytest.raises(ApplicationError) as late:
        ActivityEnvironment().run(
            CloudActivities(registry(cloud)).ensure_release,
            EnsureReleaseInput(
                service=SERVICE, region=EAST, provider="aws", release="2.0.0", count=1, key="k/late"
            ),
        )
    assert late.value.type == "Unavailable" and not late.value.non_retryable
    assert "1 instances of 'checkout' on 2.0.0 InService and healthy: not reached after 0.3s" in str(
        late.value
    )
    assert "the call is retried and waits again" in str(late.value)
    assert not any(line.startswith("terminate") for line in targets.log)  # capacity never dipped
    endpoint = topology.region(EAST).aws.endpoint_url  # type: ignore[union-attr]
    asg = boto3.client("autoscaling", region_name=EAST, endpoint_url=endpoint)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[SERVICE])["AutoScalingGroups"][0]
    assert len(group["Instances"]) == 3  # the old two still serve beside the new one


async def test_backup_and_failover_wait_for_aws_on_a_real_worker(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
) -> None:
    """The real workflows on the time-skipping server: each snapshot, copy and DNS change is pending
    for two polls, and every workflow still ends as it should, with what it waited for done."""
    await register_search_attributes(ts_env.client)
    snapshots, changes = PendingSnapshots(n=2), PendingChanges(n=2)
    cloud = adapter(topology, [*snapshots.hooks(), *changes.hooks()])
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, cloud, executor):
        made = await backup(ts_env, topology, [EAST])
        report = await failover(ts_env, topology, EAST, WEST)
    assert made.status == "succeeded", made.reason
    region = made.regions[0]
    assert region.snapshot_id and region.copy_id
    assert snapshots.seen[region.snapshot_id] >= 3 and snapshots.seen[region.copy_id] >= 3
    assert report.status == "succeeded", report.reason
    assert changes.sent and all(changes.reads[c] == 3 for c in changes.sent)
    assert AwsCloud(topology).traffic(SERVICE).weights == {EAST: 0.0, WEST: 1.0}
