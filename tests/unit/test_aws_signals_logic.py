"""The pure parts of the AWS signals: CloudWatch points to numbers, quotas, waits, the `aws:` block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from activities.aws_metrics import (
    GroupPoint,
    arn_suffix,
    cpu_share,
    custom_group,
    lag_metric,
    native_group,
)
from activities.clouds.aws_preflight import VcpuQuota, standard_family
from activities.clouds.aws_signals import combine, effective_share, weighted
from activities.clouds.aws_waits import Done, Pending, Waiter
from config.aws import AwsRegionConfig, CustomMetricNames, ReplicaLagSource
from config.loader import ConfigError, load_topology
from config.paths import default_topology_path
from contracts.errors import Unavailable

LB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/checkout/50dc6c495c0c9188"
TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/checkout-canary/73e2d6bc24d8a067"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_native_dimensions_are_the_arn_suffixes_aws_publishes() -> None:
    group = native_group(LB, TG)
    assert group.dimensions == (
        ("TargetGroup", "targetgroup/checkout-canary/73e2d6bc24d8a067"),
        ("LoadBalancer", "app/checkout/50dc6c495c0c9188"),
    )
    assert arn_suffix("not-an-arn") == "not-an-arn"
    stats = {q["Id"]: q["MetricStat"]["Stat"] for q in group.queries("canary_", 60)}
    assert stats == {"canary_requests": "Sum", "canary_error_rate": "Sum", "canary_latency_p99": "p99"}
    names = {q["MetricStat"]["Metric"]["MetricName"] for q in group.queries("", 60)}
    assert names == {"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime"}


def test_native_points_fail_closed_except_the_5xx_count_the_alb_leaves_out_at_zero() -> None:
    group = native_group(LB, TG)
    found = {
        "requests": [(at(0), 200.0), (at(1), 0.0), (at(2), 100.0), (at(3), 50.0)],
        "error_rate": [(at(0), 10.0), (at(3), 80.0)],  # minute 2: no 5xx point, so none answered 5xx
        "latency_p99": [(at(0), 0.25), (at(2), 0.1)],  # minute 3: no p99 point
    }
    assert group.points(found, "") == [
        GroupPoint(at(0), 200.0, 0.05, 250.0),
        GroupPoint(at(2), 100.0, 0.0, 100.0),  # minute 1 had no requests: no point at all
        GroupPoint(at(3), 50.0, 1.0, None),  # capped at 1; latency unknown, not 0
    ]
    assert group.points({}, "") == []  # no metrics arrived: no data


def test_custom_points_take_the_published_rates_and_leave_missing_ones_unknown() -> None:
    group = custom_group("globalops", CustomMetricNames(), "checkout", "eu-west-1", "stable")
    assert group.dimensions == (("Service", "checkout"), ("Region", "eu-west-1"), ("Group", "stable"))
    assert {q["MetricStat"]["Stat"] for q in group.queries("", 10)} == {"Sum", "Average"}
    found = {"requests": [(at(0), 10.0), (at(1), 10.0)], "error_rate": [(at(0), 0.5)], "latency_p99": []}
    assert group.points(found, "") == [
        GroupPoint(at(0), 10.0, 0.5, None),
        GroupPoint(at(1), 10.0, None, None),
    ]


def test_lag_metrics_and_units() -> None:
    rds = lag_metric(ReplicaLagSource(metric="ReplicaLag", id="{service}-replica"), "ns", "checkout", "r")
    assert (rds.namespace, rds.name, rds.dimensions, rds.to_seconds) == (
        "AWS/RDS",
        "ReplicaLag",
        (("DBInstanceIdentifier", "checkout-replica"),),
        1.0,
    )
    aurora = lag_metric(ReplicaLagSource(metric="AuroraGlobalDBReplicationLag", id="c2"), "ns", "s", "r")
    assert (aurora.dimensions, aurora.to_seconds) == ((("DBClusterIdentifier", "c2"),), 0.001)
    custom = lag_metric(ReplicaLagSource(metric="custom"), "globalops", "checkout", "eu-west-1")
    assert (custom.namespace, custom.dimensions) == (
        "globalops",
        (("Service", "checkout"), ("Region", "eu-west-1")),
    )
    assert aurora.query("lag", 60)["MetricStat"]["Stat"] == "Maximum"
    assert (cpu_share(42.0), cpu_share(130.0), cpu_share(-1.0)) == (0.42, 1.0, 0.0)


def test_groups_combine_by_requests_and_one_unseen_group_leaves_the_sample_unknown() -> None:
    stable = GroupPoint(at(0), 300.0, 0.01, 100.0)
    canary = GroupPoint(at(0), 100.0, 0.05, 200.0)
    requests, error, p99 = combine([stable, canary])
    assert requests == 400 and error == pytest.approx(0.02) and p99 == pytest.approx(125.0)
    assert combine([stable, None]) == (None, None, None)
    assert combine([]) == (None, None, None)
    assert combine([stable, GroupPoint(at(0), 100.0, 0.05, None)]) == (400, pytest.approx(0.02), None)
    assert weighted([(1.0, 0.0), (3.0, 0.0)]) == 2.0
    assert (effective_share(2, 0, 0.5), effective_share(0, 2, 0.5), effective_share(2, 2, 0.25)) == (
        0.0,
        1.0,
        0.25,
    )


@pytest.mark.parametrize(
    ("instance_type", "standard"),
    [
        ("t3.micro", True),
        ("m7g.large", True),
        ("c6in.xlarge", True),
        ("d3en.2xlarge", True),
        ("im4gn.large", True),
        ("z1d.large", True),
        ("inf2.xlarge", False),
        ("dl1.24xlarge", False),
        ("hpc7g.16xlarge", False),
        ("mac2.metal", False),
        ("trn1.2xlarge", False),
        ("g5.xlarge", False),
        ("p4d.24xlarge", False),
        ("x2idn.16xlarge", False),
        ("", False),
    ],
)
def test_standard_quota_families(instance_type: str, standard: bool) -> None:
    assert standard_family(instance_type) is standard


def test_the_vcpu_quota_problem_names_the_quota_and_the_numbers() -> None:
    quota = VcpuQuota("eu-west-1", limit=64, in_use=60)
    assert quota.problem(4) is None  # exactly what is free fits
    assert quota.problem(8) == (
        "quota 'Running On-Demand Standard instances' (L-1216C47A) in eu-west-1: needs 8 vCPUs, 4 free of 64"
        " (60 in use)"
    )
    over = VcpuQuota("eu-west-1", limit=4, in_use=6)
    assert over.problem(0) is None  # adding nothing never fails
    assert "needs 2 vCPUs, 0 free of 4 (6 in use)" in (over.problem(2) or "")


def test_a_wait_returns_the_end_state_and_gives_up_retryably() -> None:
    seen = iter([Pending("pending 10%"), Pending("pending 50%"), Done("snap-1")])
    polls: list[str] = []

    def check() -> Done[str] | Pending:
        outcome = next(seen)
        polls.append(str(outcome))
        return outcome

    assert Waiter(timeout_s=60, interval_s=0.001).until("snapshot", check) == "snap-1"
    assert len(polls) == 3
    with pytest.raises(Unavailable, match=r"never: not reached after 0\.01s \(\d+ polls, last seen: stuck\)"):
        Waiter(timeout_s=0.01, interval_s=0.001).until("never", lambda: Pending("stuck"))


def test_the_aws_block_defaults_and_its_checks() -> None:
    cfg = AwsRegionConfig()
    assert (cfg.metrics, cfg.replica_lag, cfg.wait_timeout_s, cfg.poll_interval_s) == (
        "native",
        None,
        50.0,
        5.0,
    )
    with pytest.raises(ValidationError, match="id: required for metric ReplicaLag"):
        ReplicaLagSource(metric="ReplicaLag")
    with pytest.raises(ValidationError):
        AwsRegionConfig.model_validate({"metrics": "prometheus"})
    with pytest.raises(ValidationError):
        AwsRegionConfig.model_validate({"poll_interval_s": 0})


def test_a_topology_file_refuses_unknown_keys_in_the_new_aws_blocks(tmp_path: Path) -> None:
    base = yaml.safe_load(default_topology_path().read_text(encoding="utf-8"))
    region = base["regions"][0]
    region["provider"] = "aws"
    region["aws"] = {"metrics": "native", "replica_lag": {"metric": "ReplicaLag", "id": "db-1"}}
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(base), encoding="utf-8")
    loaded = load_topology(good).region(region["name"]).aws
    assert loaded is not None and loaded.replica_lag == ReplicaLagSource(metric="ReplicaLag", id="db-1")
    region["aws"]["replica_lag"]["instance"] = "db-1"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(base), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"replica_lag\.instance: unknown field"):
        load_topology(bad)
