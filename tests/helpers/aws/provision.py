"""Create, in moto (or any AWS account), what the AWS adapter expects of a topology's AWS regions.

Per AWS region: a VPC with two subnets, an AMI-less launch template (version 1 = the service's
initial release), the stable and canary Auto Scaling groups, an ALB with two target groups and a
weighted listener, and the service's data volume; before the topology exists, a KMS key for backups
(the topology names its ARN as the region's backup_key). Globally: the hosted zone and one weighted
record per region. Plus the metrics AWS would publish for them (`put_metrics`): the ALB's per
target group, EC2's CPU per Auto Scaling group and RDS's replica lag, so health and analysis have
something to read.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from activities.aws_metrics import ELB_NAMESPACE, arn_suffix
from activities.clouds.aws_clients import TAG_KIND, TAG_RELEASE, TAG_SERVICE, TAG_SIZE
from activities.clouds.aws_groups import release_description
from activities.clouds.aws_traffic import route53_weight
from config.aws import AwsRegionConfig, ReplicaLagSource
from config.loader import load_topology
from config.models import Topology

AWS_REGIONS = ("us-east-1", "us-west-2")
SIM_REGIONS = ("us-central1", "ca-central-1")
SERVICE = "checkout"
INSTANCES = 2
#: The RDS read replica whose ReplicaLag each AWS region of the test topology reports.
REPLICA = "{service}-replica"
#: Polls of the adapter's waits: moto reaches end states at once unless a test hook says otherwise.
POLL_INTERVAL_S = 0.05
#: The alias of each AWS region's backup key in moto's KMS.
BACKUP_KEY_ALIAS = "alias/globalops-backup"


def aws_config(endpoint_url: str, **changes: Any) -> AwsRegionConfig:
    """The `aws:` block of the test regions: moto's endpoint, the replica's lag, quick polls."""
    base = {
        "endpoint_url": endpoint_url,
        "replica_lag": ReplicaLagSource(metric="ReplicaLag", id=REPLICA),
        "poll_interval_s": POLL_INTERVAL_S,
    }
    return AwsRegionConfig.model_validate({**base, **changes})


def backup_key(region: str, endpoint_url: str) -> str:
    """The ARN of the region's backup key in KMS (alias BACKUP_KEY_ALIAS), created if there is none."""
    kms = _client("kms", region, endpoint_url)
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"] == BACKUP_KEY_ALIAS and alias.get("TargetKeyId"):
            return str(kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(Description=f"globalops backups in {region}")["KeyMetadata"]
    kms.create_alias(AliasName=BACKUP_KEY_ALIAS, TargetKeyId=key["KeyId"])
    return str(key["Arn"])


def aws_topology(endpoint_url: str, queue: str = "globalops") -> Topology:
    """The default topology cut to four regions, two of them on `provider: aws` at `endpoint_url`,
    each with its KMS backup key (made in KMS now, since the topology names its ARN)."""
    base = load_topology()
    regions = []
    for region in base.regions:
        if region.name in AWS_REGIONS:
            regions.append(
                region.model_copy(
                    update={
                        "provider": "aws",
                        "instances": INSTANCES,
                        "aws": aws_config(endpoint_url),
                        "backup_key": backup_key(region.name, endpoint_url),
                    }
                ).model_dump()
            )
        elif region.name in SIM_REGIONS:
            regions.append(region.model_dump())
    data: dict[str, Any] = {
        "services": [s.model_dump() for s in base.services],
        "default_task_queue": queue,
        "regions": regions,
        "waves": [
            {"name": "validate"},
            {
                "name": "core",
                "pilot": "us-east-1",
                "concurrency": 2,
                "regions": [*AWS_REGIONS, "us-central1"],
            },
            {"name": "edge", "regions": ["ca-central-1"]},
        ],
    }
    return Topology.model_validate(data)


def _client(service: str, region: str, endpoint_url: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def provision(topology: Topology, endpoint_url: str, service: str = SERVICE) -> dict[str, Any]:
    """Create every resource of `service` in the topology's AWS regions; returns what was made."""
    release = next(s.initial_release for s in topology.services if s.name == service)
    made: dict[str, Any] = {}
    for region in (r for r in topology.regions if r.provider == "aws"):
        made[region.name] = _provision_region(region.name, region.instances, release, endpoint_url, service)
    r53 = _client("route53", "us-east-1", endpoint_url)
    zone_name = AwsRegionConfig().hosted_zone
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=uuid.uuid4().hex)["HostedZone"]
    share = 1.0 / len(made)
    r53.change_resource_record_sets(
        HostedZoneId=zone["Id"].split("/")[-1],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{service}.{zone_name}",
                        "Type": "CNAME",
                        "SetIdentifier": name,
                        "Weight": route53_weight(share),
                        "TTL": 60,
                        "ResourceRecords": [{"Value": info["dns"]}],
                    },
                }
                for name, info in made.items()
            ]
        },
    )
    put_metrics(topology, endpoint_url, service)
    return made


def _provision_region(
    region: str, instances: int, release: str, endpoint_url: str, service: str
) -> dict[str, Any]:
    ec2 = _client("ec2", region, endpoint_url)
    elb = _client("elbv2", region, endpoint_url)
    asg = _client("autoscaling", region, endpoint_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    ec2.create_launch_template(
        LaunchTemplateName=service,
        VersionDescription=release_description(release),
        LaunchTemplateData={
            "InstanceType": "t3.micro",
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": TAG_SERVICE, "Value": service}, {"Key": TAG_RELEASE, "Value": release}],
                }
            ],
        },
    )
    lb = elb.create_load_balancer(Name=service, Subnets=subnets)["LoadBalancers"][0]
    tgs = {
        group: elb.create_target_group(
            Name=f"{service}-{group}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        for group in ("stable", "canary")
    }
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": tgs["stable"], "Weight": 100},
                        {"TargetGroupArn": tgs["canary"], "Weight": 0},
                    ]
                },
            }
        ],
    )
    for group, name, size in (("stable", service, instances), ("canary", f"{service}-canary", 0)):
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": service, "Version": "1"},
            MinSize=0,
            MaxSize=3 * instances,
            DesiredCapacity=size,
            VPCZoneIdentifier=subnets[0],
            TargetGroupARNs=[tgs[group]],
            Tags=[
                {"Key": TAG_SERVICE, "Value": service, "PropagateAtLaunch": True},
                *(
                    [{"Key": TAG_SIZE, "Value": str(size), "PropagateAtLaunch": False}]
                    if group == "stable"
                    else []
                ),
            ],
        )
    volume = ec2.create_volume(
        AvailabilityZone=f"{region}a",
        Size=10,
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [{"Key": TAG_SERVICE, "Value": service}, {"Key": TAG_KIND, "Value": "data"}],
            }
        ],
    )["VolumeId"]
    return {"vpc": vpc, "subnets": subnets, "dns": lb["DNSName"], "target_groups": tgs, "volume": volume}


def put_metrics(
    topology: Topology,
    endpoint_url: str,
    service: str = SERVICE,
    minutes: int = 20,
    error_rate: float = 0.002,
    canary_error_rate: float | None = None,
    regions: Sequence[str] | None = None,
) -> None:
    """What AWS publishes for a healthy service, once a minute over the last `minutes`, per AWS region
    (or those named): the ALB's metrics of both target groups (the canary's at `canary_error_rate` if
    given), EC2's CPU of both groups and the replica's lag."""
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(7)
    for region in (r for r in topology.regions if r.provider == "aws"):
        if regions is not None and region.name not in regions:
            continue
        cfg = region.aws or AwsRegionConfig()
        cw = _client("cloudwatch", region.name, endpoint_url)
        for group in ("stable", "canary"):
            dims = target_group_dims(topology, endpoint_url, region.name, group, service)
            rate = canary_error_rate if group == "canary" and canary_error_rate is not None else error_rate
            data = []
            for step in range(minutes):
                requests = rng.randint(500, 700)
                errors = round(requests * rate * rng.uniform(0.5, 1.5))
                p99_s = 0.08 * rng.uniform(0.93, 1.07)
                data += alb_minute(dims, now - timedelta(minutes=step), requests, errors, p99_s)
            cw.put_metric_data(Namespace=ELB_NAMESPACE, MetricData=data)
            asg = cfg.named(cfg.stable_group if group == "stable" else cfg.canary_group, service)
            cw.put_metric_data(
                Namespace="AWS/EC2",
                MetricData=[
                    _point("CPUUtilization", [{"Name": "AutoScalingGroupName", "Value": asg}], stamp, value)
                    for step in range(minutes)
                    for stamp, value in [(now - timedelta(minutes=step), 40 * rng.uniform(0.9, 1.1))]
                ],
            )
        if cfg.replica_lag is not None and cfg.replica_lag.id:
            replica = cfg.replica_lag.id.replace("{service}", service)
            cw.put_metric_data(
                Namespace="AWS/RDS",
                MetricData=[
                    _point("ReplicaLag", [{"Name": "DBInstanceIdentifier", "Value": replica}], now, 1.0)
                ],
            )


def target_group_dims(
    topology: Topology, endpoint_url: str, region: str, group: str, service: str = SERVICE
) -> list[dict[str, str]]:
    """The dimensions the ALB publishes a target group's metrics under (TargetGroup, LoadBalancer)."""
    cfg = topology.region(region).aws or AwsRegionConfig()
    elb = _client("elbv2", region, endpoint_url)
    lb = elb.describe_load_balancers(Names=[cfg.named(cfg.load_balancer, service)])["LoadBalancers"][0]
    name = cfg.named(cfg.stable_target_group if group == "stable" else cfg.canary_target_group, service)
    tg = elb.describe_target_groups(Names=[name])["TargetGroups"][0]
    return [
        {"Name": "TargetGroup", "Value": arn_suffix(tg["TargetGroupArn"])},
        {"Name": "LoadBalancer", "Value": arn_suffix(lb["LoadBalancerArn"]).removeprefix("loadbalancer/")},
    ]


def alb_minute(
    dims: list[dict[str, str]], stamp: datetime, requests: int, errors: int, p99_s: float = 0.08
) -> list[dict[str, Any]]:
    """One minute of a target group as the ALB publishes it: RequestCount, HTTPCode_Target_5XX_Count
    (only when not 0, like the ALB) and TargetResponseTime as a distribution (Values and Counts of
    100 samples: moto keeps each sample) whose p99 is `p99_s`."""
    data = [
        _point("RequestCount", dims, stamp, float(requests)),
        {
            "MetricName": "TargetResponseTime",
            "Dimensions": dims,
            "Timestamp": stamp,
            "Values": [p99_s / 2, p99_s, p99_s * 3],
            "Counts": [98.0, 1.0, 1.0],
            "Unit": "Seconds",
        },
    ]
    if errors:
        data.append(_point("HTTPCode_Target_5XX_Count", dims, stamp, float(errors)))
    return data


def put_custom_metrics(
    topology: Topology,
    endpoint_url: str,
    service: str = SERVICE,
    minutes: int = 15,
    error_rate: float = 0.002,
) -> None:
    """The service's own series (`metrics: custom`) every 10 s over the last `minutes`, both groups."""
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(7)
    for region in (r for r in topology.regions if r.provider == "aws"):
        cw = _client("cloudwatch", region.name, endpoint_url)
        for group in ("stable", "canary"):
            dims = [
                {"Name": "Service", "Value": service},
                {"Name": "Region", "Value": region.name},
                {"Name": "Group", "Value": group},
            ]
            data = []
            for step in range(minutes * 6):
                stamp = now - timedelta(seconds=10 * step)
                data += [
                    _point("ErrorRate", dims, stamp, error_rate * rng.uniform(0.8, 1.2)),
                    _point("LatencyP99", dims, stamp, 80 * rng.uniform(0.93, 1.07)),
                    _point("RequestCount", dims, stamp, 100.0),
                ]
            cw.put_metric_data(Namespace="globalops", MetricData=data)


def _point(name: str, dims: list[dict[str, str]], stamp: datetime, value: float) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": dims,
        "Timestamp": stamp,
        "Value": value,
        "StorageResolution": 1,
    }
