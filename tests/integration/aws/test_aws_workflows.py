"""The real workflows on the time-skipping server, two regions on AWS (moto) and two on the sim."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import boto3
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.aws import AwsCloud
from activities.clouds.sim import SimCloud
from cli import launch
from config.models import Topology
from contracts.practice import PracticeRequest
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE
from tests.helpers.aws.worker import aws_worker
from tests.helpers.aws.workflow_runs import Faults, backup, drill, failover, fast_policies, recover, rollout
from tests.helpers.retry_tally import count_retries
from workers.client import register_search_attributes
from workflows.practice import FailoverPracticeWorkflow

pytestmark = pytest.mark.slow

EAST, WEST = AWS_REGIONS


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def env_resources(topology: Topology, env: str) -> list[str]:
    """Live volumes and instances tagged with `env`, counted by moto's own describe calls."""
    found = []
    for region in AWS_REGIONS:
        endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
        ec2: Any = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        tag = [{"Name": "tag:globalops:env", "Values": [env]}]
        found += [v["VolumeId"] for v in ec2.describe_volumes(Filters=tag)["Volumes"]]
        live = [*tag, {"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}]
        for reservation in ec2.describe_instances(Filters=live)["Reservations"]:
            found += [i["InstanceId"] for i in reservation["Instances"]]
    return found


@pytest.mark.parametrize("strategy", ["rolling", "canary", "blue-green"])
async def test_rollout_strategies_reach_every_aws_region(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
    strategy: str,
) -> None:
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        result = await rollout(ts_env, topology, "2.0.0", strategy)
    assert result.status == "succeeded", result.reason
    for region in AWS_REGIONS:
        state = aws.region_state(SERVICE, region)
        assert state.releases == {"2.0.0": 2} and state.canary_instances == 0 and state.canary_weight == 0
        outcome = result.region(region)
        assert outcome.strategy == strategy and outcome.status == "succeeded"
        if strategy != "rolling":
            assert outcome.analysis and all(a.verdict == "pass" for a in outcome.analysis)
    assert sim.region_state(SERVICE, "us-central1").releases == {"2.0.0": 4}


async def test_failover_moves_route53_weights(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        report = await failover(ts_env, topology, EAST, WEST)
    assert report.status == "succeeded", report.reason
    assert report.to_region == WEST
    assert aws.traffic(SERVICE).weights == {EAST: 0.0, WEST: 1.0}


async def test_practice_moves_route53_weights_away_and_back(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    before = aws.traffic(SERVICE).weights
    pols = fast_policies()
    req = PracticeRequest(
        service=SERVICE, region=EAST, duration_s=60, topology=topology, policies=pols, request_id="p1"
    )
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        handle = await launch.start(ts_env.client, launch.practice(req, f"practice:{SERVICE}:{EAST}:p1"))
        for _ in range(200):  # until it holds: traffic on WEST, read from Route 53 itself
            if (await handle.query(FailoverPracticeWorkflow.report)).checks:
                break
            await ts_env.sleep(5)
        during = aws.traffic(SERVICE).weights
        report = await handle.result()
    assert during == {EAST: 0.0, WEST: 1.0}
    assert report.verdict == "pass", report.reason
    assert report.target == WEST
    assert report.weights_before == before and report.weights_after == before
    assert aws.traffic(SERVICE).weights == before
    assert aws.region_state(SERVICE, WEST).instances == 2  # the failback scaled the pre-scaling back


async def test_backup_recover_and_drill_leave_nothing_tagged_behind(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        made = await backup(ts_env, topology, [EAST])
        assert made.status == "succeeded", made.reason
        assert made.regions[0].copy_region == WEST and made.regions[0].copy_id
        # the volume is not encrypted: its snapshot is plain, and the copy re-encrypted with WEST's key
        assert made.regions[0].kms_key == topology.region(WEST).backup_key
        assert "re-encrypted on copy" in made.regions[0].note
        drilled = await drill(ts_env, topology, [EAST])
        assert drilled.verdict == "pass", drilled.markdown
        assert drilled.leftover_resources == 0  # each rehearsal removed its own; the sweep verified it
        assert env_resources(topology, drilled.env) == []
        assert aws.region_state(SERVICE, WEST).instances == 2  # the drill never touched production
        recovered = await recover(ts_env, topology, EAST, WEST, made)
    assert recovered.status == "succeeded", recovered.reason
    assert recovered.integrity_ok and recovered.consistency_ok and recovered.rpo_s == 20 * 60
    assert aws.region_state(SERVICE, WEST).instances == 4  # the recovered instances serve in prod
    assert aws.traffic(SERVICE).weights == {EAST: 0.0, WEST: 1.0}


async def test_rollout_failover_and_drill_complete_under_20_percent_api_faults(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
) -> None:
    """20 % of AWS calls throttled (RequestLimitExceeded / Throttling) or 503: every one is retried.

    botocore's standard retry mode (4 attempts, jittered backoff) absorbs most; a call whose
    attempts all fail fails its activity, and Temporal retries that (CLOUD_RETRY).
    """
    faults = Faults(rate=0.2)
    flaky = AwsCloud(topology, event_hooks=[("before-send", faults)])
    backup_id, drill_id = f"backup:{SERVICE}:faults", f"drill:{SERVICE}:faults"
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, flaky, executor):
        result = await rollout(ts_env, topology, "2.0.0", "rolling")
        assert result.status == "succeeded", result.reason
        report = await failover(ts_env, topology, EAST, WEST)
        assert report.status == "succeeded", report.reason
        made = await backup(ts_env, topology, [EAST], backup_id)
        assert made.status == "succeeded", made.reason
        drilled = await drill(ts_env, topology, [EAST], drill_id)
    assert drilled.verdict == "pass", drilled.markdown
    assert env_resources(topology, drilled.env) == []
    assert faults.injected > 30 and faults.injected / faults.sent == pytest.approx(0.2, abs=0.05)
    clean = AwsCloud(topology)
    for region in AWS_REGIONS:
        assert clean.region_state(SERVICE, region).releases.get("2.0.0", 0) >= 2
    assert clean.traffic(SERVICE).weights == {EAST: 0.0, WEST: 1.0}
    print(f"\naws: {faults.injected} of {faults.sent} calls failed, each retried (botocore or Temporal)")
    for what, wid in [
        ("rollout", f"rollout:{SERVICE}"),
        ("failover", f"failover:{SERVICE}:{EAST}"),
        ("backup", backup_id),
        ("drill", drill_id),
    ]:
        tally = await count_retries(ts_env.client, wid)
        print(tally.line(f"aws {what}"))
        assert tally.final_failures == 0, tally  # no activity gave up
