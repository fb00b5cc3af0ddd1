"""Worker crashes on AWS (moto server): SIGKILL the worker at 11-15 points of a rollout, failover and drill.

Six of them land inside an AWS call: moto made the change and holds the answer (tests/helpers/inflight.py).

The `dev up` worker runs the AWS adapter against a moto server over HTTP (a four-region topology:
us-east-1 and us-west-2 on AWS, two regions on the sim), so a kill can land between, or inside,
real AWS calls. Each operation must still end in the right state, and nothing may exist twice in
moto: each AWS region keeps its Auto Scaling groups' instance counts, one snapshot per key, no
drill volume or instance left, one Route 53 record per region.

Run: .venv/bin/python -m pytest tests/e2e/test_crash_aws.py -q -s   (-s prints the kill log)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import pytest_asyncio
import yaml

from activities.clouds.aws import AwsCloud
from config.models import Topology
from tests.helpers.aws.moto_server import reset_moto
from tests.helpers.aws.provision import AWS_REGIONS, SERVICE, aws_topology, provision, put_metrics
from tests.helpers.crash import (
    COMPLETED,
    DevEnv,
    KillLog,
    crash_at,
    crash_policies,
    finished,
    moto_in_call,
    ok_json,
    running,
)

pytestmark = pytest.mark.e2e
EAST, WEST = AWS_REGIONS


class AwsDevEnv(DevEnv):
    """A `dev up` environment whose worker and CLI use a topology with two AWS regions on moto."""

    def __init__(self, home: Path, policies: Path, topology: Topology, endpoint: str) -> None:
        super().__init__(home, policies)
        self.topology, self.endpoint = topology, endpoint
        path = home / "topology.yaml"
        path.write_text(yaml.safe_dump(topology.model_dump(mode="json")), encoding="utf-8")
        self.env["GLOBALOPS_TOPOLOGY"] = str(path)  # moto credentials come from the session fixture
        self.configured = {r.name: r.instances for r in topology.regions}
        self.aws = AwsCloud(topology)

    def ec2(self, region: str) -> Any:
        return boto3.client("ec2", region_name=region, endpoint_url=self.endpoint)

    def releases_on_aws(self) -> dict[str, dict[str, int]]:
        return {r: self.aws.region_state(SERVICE, r).releases for r in AWS_REGIONS}

    def live_instances(self, region: str) -> int:
        live = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        reservations = self.ec2(region).describe_instances(Filters=live)["Reservations"]
        return sum(len(r["Instances"]) for r in reservations)

    def tagged(self, key: str) -> dict[str, int]:
        """How many live volumes and snapshots carry each value of tag `key`, across the AWS regions."""
        counts: dict[str, int] = {}
        for region in AWS_REGIONS:
            ec2 = self.ec2(region)
            tag = [{"Name": "tag-key", "Values": [key]}]
            found = ec2.describe_volumes(Filters=tag)["Volumes"]
            found += ec2.describe_snapshots(OwnerIds=["self"], Filters=tag)["Snapshots"]
            for item in found:
                value = next(t["Value"] for t in item["Tags"] if t["Key"] == key)
                counts[f"{region}/{value}"] = counts.get(f"{region}/{value}", 0) + 1
        return counts

    def route53_records(self) -> dict[str, list[str]]:
        """The weighted records' set identifiers by record type (CNAME: traffic, TXT: the exact shares)."""
        r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=self.endpoint)
        zone = r53.list_hosted_zones()["HostedZones"][0]["Id"]
        by_type: dict[str, list[str]] = {}
        for record in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
            if "SetIdentifier" in record:
                by_type.setdefault(record["Type"], []).append(record["SetIdentifier"])
        return {kind: sorted(ids) for kind, ids in by_type.items()}


def assert_nothing_twice_on_aws(env: AwsDevEnv, instances: dict[str, int]) -> None:
    """Live instances equal the groups' counts, one volume/snapshot per key, one record per region."""
    for region in AWS_REGIONS:
        state = env.aws.region_state(SERVICE, region)
        assert env.live_instances(region) == instances[region] == state.instances + state.canary_instances
    assert {k: n for k, n in env.tagged("globalops:key").items() if n > 1} == {}
    records = env.route53_records()
    assert records["CNAME"] == sorted(AWS_REGIONS)  # one weighted record per region, never a second
    assert records.get("TXT", sorted(AWS_REGIONS)) == sorted(AWS_REGIONS)


@pytest_asyncio.fixture(scope="module")
async def aws_env(
    tmp_path_factory: pytest.TempPathFactory,
    moto_endpoint: str,
) -> AsyncIterator[AwsDevEnv]:
    reset_moto(moto_endpoint)
    topology = aws_topology(moto_endpoint, queue="globalops")
    provision(topology, moto_endpoint)
    home = tmp_path_factory.mktemp("globalops-aws-home")
    policies = crash_policies(tmp_path_factory.mktemp("policies"))
    with running(AwsDevEnv(home, policies, topology, moto_endpoint)) as env:
        yield env


@pytest.fixture(scope="module")
def aws_kills() -> KillLog:
    return KillLog()


async def test_rollout_on_aws_completes_after_seven_worker_kills_two_inside_calls(
    aws_env: AwsDevEnv, aws_kills: KillLog
) -> None:
    env = aws_env
    put_metrics(env.topology, env.endpoint)  # health reads the last 5 minutes of CloudWatch
    assert env.releases_on_aws() == {r: {"1.0.0": 2} for r in AWS_REGIONS}
    started = env.run("rollout", "start", "--service", SERVICE, "--release", "2.0.0")
    assert started.returncode == 0, started.stdout + started.stderr

    def on_new(region: str, at_least: int) -> Callable[[], bool]:
        cloud = env.aws if region in AWS_REGIONS else env.sim
        return lambda: cloud.region_state(SERVICE, region).releases.get("2.0.0", 0) >= at_least

    # Two batches per region (crash_policies): one instance per batch on AWS. Seven points, none optional
    # (two inside AWS calls): with the failover's and the drill's two sure points each, at least ten
    # kills in all, six of them inside a call.
    await crash_at(
        env,
        aws_kills,
        "rollout",
        f"rollout:{SERVICE}",
        [
            moto_in_call("SetDesiredCapacity", f"in call: {EAST} surge asked, answer held"),
            moto_in_call("TerminateInstanceInAutoScalingGroup", f"in call: {EAST} old instance ended, held"),
            (f"pilot {EAST}: first batch replaced", on_new(EAST, 1)),
            (f"pilot {EAST} done: pilot bake", on_new(EAST, 2)),
            (f"core: {WEST} replacing", on_new(WEST, 1)),
            (f"core: {WEST} replaced, verifying", on_new(WEST, 2)),
            ("edge: ca-central-1 (sim) first batch replaced", on_new("ca-central-1", 1)),
        ],
    )
    assert await finished(env, f"rollout:{SERVICE}") == COMPLETED
    status = ok_json(env, "rollout", "status", SERVICE, "--json")
    assert status["status"] == "succeeded", status
    assert {r["region"]: r["status"] for r in status["regions"]} == dict.fromkeys(env.configured, "succeeded")
    assert env.releases_on_aws() == {r: {"2.0.0": 2} for r in AWS_REGIONS}
    assert_nothing_twice_on_aws(env, {EAST: 2, WEST: 2})
    print("\n" + aws_kills.summary("rollout"))


async def test_failover_on_aws_completes_after_worker_kills_two_inside_calls(
    aws_env: AwsDevEnv, aws_kills: KillLog
) -> None:
    env = aws_env
    put_metrics(env.topology, env.endpoint)
    wid = f"failover:{SERVICE}:{EAST}"
    started = env.run("failover", "start", "--service", SERVICE, "--from", EAST, "--to", WEST)
    assert started.returncode == 0, started.stdout + started.stderr

    def prescaled() -> bool:
        return env.aws.region_state(SERVICE, WEST).instances > 2

    def shifted() -> bool:
        return env.aws.traffic(SERVICE).weights[EAST] == 0

    await crash_at(
        env,
        aws_kills,
        "failover",
        wid,
        [
            moto_in_call("SetDesiredCapacity", f"in call: {WEST} pre-scale asked, answer held"),
            moto_in_call("ChangeResourceRecordSets", "in call: Route 53 weights changed, answer held"),
            (f"{WEST} pre-scaled, traffic not moved", prescaled),
            (f"Route 53 shifted: validating {WEST}", shifted),
        ],
        optional=2,
    )
    assert await finished(env, wid) == COMPLETED
    report = ok_json(env, "failover", "status", wid, "--json")
    assert report["status"] == "succeeded", report
    assert env.aws.traffic(SERVICE).weights == {EAST: 0.0, WEST: 1.0}
    after = env.aws.region_state(SERVICE, WEST).instances
    scaled = [s for s in report["steps"] if f"{WEST}: pre-scaled" in s]
    assert len(scaled) == 1, report["steps"]  # pre-scaled once, not once per restart
    assert_nothing_twice_on_aws(env, {EAST: 2, WEST: after})
    print("\n" + aws_kills.summary("failover"))


async def test_drill_on_aws_cleans_up_after_worker_kills(aws_env: AwsDevEnv, aws_kills: KillLog) -> None:
    env = aws_env
    put_metrics(env.topology, env.endpoint)
    backup = ok_json(env, "backup", "run", "--service", SERVICE, "--region", EAST, "--wait", "--json")
    assert backup["status"] == "succeeded", backup
    snapshots = env.tagged("globalops:key")
    instances = {r: env.live_instances(r) for r in AWS_REGIONS}
    weights = env.aws.traffic(SERVICE).weights
    started = ok_json(env, "drill", "run", "--service", SERVICE, "--region", EAST, "--json")
    wid = started["workflow_id"]

    def drill_resources() -> int:
        return len(env.aws.list_resources(SERVICE))

    def launched() -> bool:
        return drill_resources() >= 2  # the restored volume and at least one instance

    await crash_at(
        env,
        aws_kills,
        "drill",
        wid,
        [
            moto_in_call("CreateVolume", "in call: volume created from the snapshot, answer held"),
            moto_in_call("RunInstances", "in call: drill instances run, answer held"),
            ("volume restored, instances launched", launched),
            ("removing, final sweep", lambda: drill_resources() == 0),
        ],
        optional=2,
    )
    await finished(env, wid)
    report = await (await env.connect()).get_workflow_handle(wid).query("report")
    assert report["verdict"] == "pass", report
    assert report["leftover_resources"] == 0
    assert env.aws.list_resources(SERVICE, report["env"]) == []  # nothing of the drill left
    assert {r: env.live_instances(r) for r in AWS_REGIONS} == instances
    assert env.aws.traffic(SERVICE).weights == weights  # production untouched
    assert {k: n for k, n in env.tagged("globalops:key").items() if k in snapshots} == snapshots
    assert_nothing_twice_on_aws(env, instances)
    print("\n" + aws_kills.summary("drill"))
    assert len(aws_kills.kills) >= 10
    in_call = [k.point for k in aws_kills.kills if k.in_flight == "in-call"]
    assert len(in_call) == 6, in_call  # two inside AWS calls of each operation
