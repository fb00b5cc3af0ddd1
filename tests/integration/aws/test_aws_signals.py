"""Real signals on AWS, failing closed: native metrics judge a release, missing ones are no data, quotas hold.

On the four-region moto topology (two AWS regions) with the real workflows on the time-skipping
server. Health and analysis read what AWS publishes (ALB metrics per target group, EC2 CPU per Auto
Scaling group, the RDS replica's lag), put into moto by tests/helpers/aws/provision.py.
"""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.aws import AwsCloud
from activities.clouds.sim import SimCloud
from activities.metrics import metrics_provider
from config.models import Topology
from contracts.errors import InvalidRequest
from tests.helpers.aws.inventory import diff, moto_inventory
from tests.helpers.aws.moto_extensions import forget_metrics, set_vcpu_quota
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE, aws_config, put_custom_metrics, put_metrics
from tests.helpers.aws.signals import FailingRelease
from tests.helpers.aws.worker import aws_worker
from tests.helpers.aws.workflow_runs import fast_policies, rollout, start, wait_region
from workers.client import register_search_attributes
from workflows.rollout import RegionalRolloutWorkflow

pytestmark = pytest.mark.slow

EAST, WEST = AWS_REGIONS


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def with_aws(topology: Topology, region: str, **changes: Any) -> Topology:
    """The topology with `region`'s `aws:` block changed."""
    endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
    regions = [
        r.model_copy(update={"aws": aws_config(str(endpoint), **changes)}) if r.name == region else r
        for r in topology.regions
    ]
    return topology.model_copy(update={"regions": regions})


def cloudwatch(topology: Topology, region: str) -> Any:
    endpoint = topology.region(region).aws.endpoint_url  # type: ignore[union-attr]
    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint)


async def test_a_release_whose_target_group_answers_5xx_fails_the_health_gate(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    moto_endpoint: str,
) -> None:
    failing = FailingRelease(topology, moto_endpoint, EAST, error_rate=0.3)
    aws = AwsCloud(topology, event_hooks=[failing.hook()])
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        result = await rollout(ts_env, topology, "2.0.0", "rolling")
    assert failing.published, "the new release never launched"
    assert result.status == "rolled_back", result.reason
    pilot = result.region(EAST)
    assert pilot.gates[0].passed is False
    reason = pilot.gates[0].reasons[0]
    assert reason.startswith("error rate ") and reason.endswith("> 1.00%"), reason
    assert result.deploy_order == [EAST]  # nothing else was touched
    assert AwsCloud(topology).region_state(SERVICE, EAST).releases == {"1.0.0": 2}


async def test_an_aws_region_without_metrics_waits_instead_of_passing(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    forget_metrics(EAST)  # the ALB, EC2 and RDS published nothing there
    sample = aws.health(SERVICE, EAST)
    assert sample.healthy_instances == 2 and sample.source == "cloudwatch"
    assert (sample.error_rate, sample.latency_p99_ms, sample.cpu, sample.requests) == (None, None, None, None)
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        handle = await start(ts_env, topology, "2.0.0", "rolling")
        waiting = await wait_region(ts_env, EAST, lambda o: o.status == "waiting")
        assert (
            "batch 1/2: no metrics arrived from us-east-1 (cloudwatch): error rate, p99 latency, cpu,"
            " request count; promote to go on" in waiting.detail
        ), waiting.detail
        assert waiting.gates == []  # nothing was judged healthy
        await handle.execute_update(RegionalRolloutWorkflow.abort, "no metrics on AWS")
        result = await handle.result()
    assert result.status == "aborted"
    assert aws.region_state(SERVICE, EAST).releases == {"1.0.0": 2}


async def test_a_short_vcpu_quota_fails_preflight_before_any_region_changes(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
) -> None:
    # us-west-2 runs two t3.micro (2 vCPUs each); blue-green adds two more: 4 vCPUs needed, 1 free.
    set_vcpu_quota(WEST, 5)
    before = moto_inventory(topology, SERVICE)
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        result = await rollout(ts_env, topology, "2.0.0", "blue-green")
    assert result.status == "failed"
    assert result.deploy_order == []
    assert (
        "quota 'Running On-Demand Standard instances' (L-1216C47A) in us-west-2: needs 4 vCPUs, 1 free of 5"
        " (4 in use)" in (result.reason or "")
    ), result.reason
    assert diff(before, moto_inventory(topology, SERVICE)) == []
    assert sim.region_state(SERVICE, "us-central1").releases == {"1.0.0": 4}


def test_preflight_checks_max_size_and_the_quota_and_each_can_fail(topology: Topology, aws: AwsCloud) -> None:
    ok = aws.preflight(SERVICE, EAST, "2.0.0", surge=2)
    assert ok.ok and ok.checks == {
        "region_reachable": True,
        "config": True,
        "artifact": True,
        "capacity_max_size": True,
        "quota_vcpus": True,
    }
    big = aws.preflight(SERVICE, EAST, "2.0.0", surge=5)  # MaxSize 6 = desired 2 + 4
    assert not big.ok and big.checks["capacity_max_size"] is False and big.checks["quota_vcpus"] is True
    assert big.problems == [
        "capacity: Auto Scaling group 'checkout' in us-east-1: MaxSize 6 is below desired 2 + 5 added by"
        " the rollout"
    ]
    set_vcpu_quota(EAST, 4)  # exactly what the two instances use
    short = aws.preflight(SERVICE, EAST, "2.0.0", surge=1)
    assert short.checks["quota_vcpus"] is False and short.problems == [
        "quota 'Running On-Demand Standard instances' (L-1216C47A) in us-east-1: needs 2 vCPUs, 0 free of 4"
        " (4 in use)"
    ]
    assert aws.preflight(SERVICE, EAST, "2.0.0", surge=0).ok  # adding nothing fits
    with pytest.raises(InvalidRequest):
        aws.preflight(SERVICE, EAST, "2.0.0", surge=-1)


def test_replica_lag_is_the_databases_own_metric_and_none_when_unknown(topology: Topology) -> None:
    assert AwsCloud(topology).replica_lag(SERVICE, EAST) == 1.0  # RDS ReplicaLag, seconds
    assert AwsCloud(with_aws(topology, EAST, replica_lag=None)).replica_lag(SERVICE, EAST) is None
    silent = {"metric": "ReplicaLag", "id": "nobody-publishes-this"}
    assert AwsCloud(with_aws(topology, EAST, replica_lag=silent)).replica_lag(SERVICE, EAST) is None
    cloudwatch(topology, EAST).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "AuroraGlobalDBReplicationLag",
                "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "checkout-secondary"}],
                "Timestamp": datetime.now(UTC),
                "Value": 1500.0,  # milliseconds
            }
        ],
    )
    aurora = {"metric": "AuroraGlobalDBReplicationLag", "id": "{service}-secondary"}
    assert AwsCloud(with_aws(topology, EAST, replica_lag=aurora)).replica_lag(SERVICE, EAST) == 1.5


def test_custom_series_stay_possible_by_configuration(topology: Topology, moto_endpoint: str) -> None:
    custom = with_aws(topology, EAST, metrics="custom")
    aws = AwsCloud(custom)
    forget_metrics(EAST)
    assert aws.health(SERVICE, EAST).error_rate is None  # the custom series are not there yet
    put_custom_metrics(custom, moto_endpoint, error_rate=0.004)
    sample = aws.health(SERVICE, EAST)
    assert sample.error_rate is not None and 0.003 < sample.error_rate < 0.005
    assert sample.latency_p99_ms is not None and 70 < sample.latency_p99_ms < 90
    assert sample.requests is not None and sample.requests > 0
    assert sample.cpu is None  # EC2's CPU was forgotten with the rest: unknown, not 0
    assert sample.missing() == ["cpu"]


def test_the_cloudwatch_provider_reads_each_target_groups_native_series(aws: AwsCloud) -> None:
    provider = metrics_provider("cloudwatch", aws)  # an AWS region names its own target groups
    canary = provider.series(SERVICE, EAST, "canary", "2.0.0", 900)
    stable = provider.series(SERVICE, EAST, "stable", "1.0.0", 900)
    for series in (canary, stable):
        assert len(series.error_rate) >= 14 and len(series.latency_p99_ms) == len(series.error_rate)
        assert all(0 <= e < 0.01 for e in series.error_rate) and all(
            70 < p < 90 for p in series.latency_p99_ms
        )
        assert series.requests >= 14 * 500
    forget_metrics(EAST)
    quiet = provider.series(SERVICE, EAST, "canary", "2.0.0", 900)
    assert (quiet.error_rate, quiet.latency_p99_ms, quiet.requests) == ([], [], 0)  # no data, not zeros


async def test_canary_analysis_on_native_metrics_fails_a_canary_that_answers_5xx(
    ts_env: WorkflowEnvironment,
    topology: Topology,
    sim: SimCloud,
    aws: AwsCloud,
    executor: concurrent.futures.Executor,
    moto_endpoint: str,
) -> None:
    forget_metrics(EAST)
    put_metrics(topology, moto_endpoint, regions=[EAST], canary_error_rate=0.2)
    base = fast_policies()
    policies = base.model_copy(
        update={"analysis": base.analysis.model_copy(update={"provider": "cloudwatch"})}
    )
    async with aws_worker(ts_env.client, topology.default_task_queue, sim, aws, executor):
        result = await (await start(ts_env, topology, "2.0.0", "canary", policies)).result()
    assert result.status == "rolled_back", result.reason
    pilot = result.region(EAST)
    assert pilot.analysis[0].verdict == "fail" and not pilot.analysis[0].no_data
    assert any(r.startswith("error rate ") for r in pilot.analysis[0].reasons), pilot.analysis[0].reasons
    state = aws.region_state(SERVICE, EAST)
    assert state.releases == {"1.0.0": 2} and state.canary_instances == 0 and state.canary_weight == 0
