"""CloudWatch alarms on moto: the alarm check reads them through the AWS adapter's clients, and a rollout
rolls back when one is in ALARM in an AWS region it deploys, at a region's gate or during a wave's bake."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.alarm_activities import AlarmActivities
from activities.clouds.aws import AwsCloud
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.models import Topology
from contracts.alarms import AlarmQuery
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE
from tests.helpers.aws.worker import aws_worker
from tests.helpers.aws.workflow_runs import fast_policies, start
from tests.helpers.polling import rollout_until
from workers.client import register_search_attributes

pytestmark = pytest.mark.slow

EAST, WEST = AWS_REGIONS
ALARM = "checkout-5xx"


def cloudwatch(topology: Topology, region: str) -> Any:
    endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint)


def put_alarm(topology: Topology, region: str, name: str, state: str) -> None:
    """A metric alarm as people have them, then its state set (moto does not evaluate alarms)."""
    client = cloudwatch(topology, region)
    client.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    client.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")


def check(aws: AwsCloud, region: str, names: list[str]) -> list[str]:
    acts = AlarmActivities(CloudRegistry({"aws": lambda: aws}))
    query = AlarmQuery(service=SERVICE, region=region, provider="aws", cloudwatch=names)
    return ActivityEnvironment().run(acts.check_alarms, query).firing


def test_an_alarm_in_state_alarm_fires_and_one_in_ok_does_not(topology: Topology, aws: AwsCloud) -> None:
    put_alarm(topology, EAST, ALARM, "ALARM")
    put_alarm(topology, EAST, "checkout-latency", "OK")
    assert check(aws, EAST, [ALARM, "checkout-latency"]) == [f"{ALARM} (cloudwatch)"]
    assert check(aws, EAST, ["checkout-latency"]) == []
    cloudwatch(topology, EAST).set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="recovered")
    assert check(aws, EAST, [ALARM]) == []


def test_an_alarm_that_does_not_exist_is_a_non_retryable_error_naming_it(
    topology: Topology, aws: AwsCloud
) -> None:
    put_alarm(topology, EAST, ALARM, "ALARM")  # in us-east-1 only: CloudWatch alarms are regional
    with pytest.raises(ApplicationError) as caught:
        check(aws, EAST, [ALARM, "no-such-alarm"])
    assert caught.value.non_retryable and caught.value.type == "NotFound"
    assert "no-such-alarm" in str(caught.value) and EAST in str(caught.value)
    with pytest.raises(ApplicationError, match=f"{ALARM} not found in {WEST}"):
        check(aws, WEST, [ALARM])


async def test_a_rollout_rolls_back_when_an_aws_region_is_in_alarm(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    await register_search_attributes(ts_env.client)
    put_alarm(topology, EAST, ALARM, "OK")  # the pilot passes, and its bake checks it
    put_alarm(topology, WEST, ALARM, "ALARM")  # the next group's AWS region fails its first gate
    base = fast_policies()
    policies = base.model_copy(
        update={"alarms": base.alarms.model_copy(update={"cloudwatch": [ALARM], "interval": 600.0})}
    )
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        result = await (await start(ts_env, topology, "2.0.0", "rolling", policies)).result()
    assert result.status == "rolled_back", result.reason
    west = result.region(WEST)
    assert [g.passed for g in west.gates] == [False]
    assert west.gates[0].reasons == [f"alarm {ALARM} is ALARM in {WEST} (cloudwatch)"]
    assert f"alarm {ALARM} is ALARM in {WEST} (cloudwatch)" in result.reason
    assert result.region(EAST).gates and all(g.passed for g in result.region(EAST).gates)
    for region in AWS_REGIONS:  # both AWS regions back on the old release
        assert aws.region_state(SERVICE, region).releases == {"1.0.0": 2}


async def test_a_cloudwatch_alarm_during_the_core_bake_rolls_back_and_names_it(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    await register_search_attributes(ts_env.client)
    for region in AWS_REGIONS:  # every gate passes: only the bake can see the alarm
        put_alarm(topology, region, ALARM, "OK")
    base = fast_policies()
    policies = base.model_copy(
        update={"alarms": base.alarms.model_copy(update={"cloudwatch": [ALARM], "interval": 300.0})}
    )
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        handle = await start(ts_env, topology, "2.0.0", "rolling", policies)
        baking = await rollout_until(ts_env, handle, lambda p: p.phase.startswith("baking after core"))
        assert set(AWS_REGIONS) <= set(baking.deploy_order)
        for region in AWS_REGIONS:
            assert aws.region_state(SERVICE, region).releases == {"2.0.0": 2}
        cloudwatch(topology, WEST).set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="5xx")
        result = await handle.result()
    assert result.status == "rolled_back", result.reason
    assert result.reason == f"alarm {ALARM} is ALARM in {WEST} (cloudwatch) during the bake after core"
    assert "ca-central-1" not in result.deploy_order  # the edge wave never started
    for region in AWS_REGIONS:  # rollback_all: both AWS regions back on the old release
        assert aws.region_state(SERVICE, region).releases == {"1.0.0": 2}
