"""What exists in moto for a topology's AWS regions, read back through boto3, and a diff of two readings.

`moto_inventory` is the AWS twin of `SimCloud.inventory()`: a JSON-like, sorted summary to compare
before and after an operation. Resources are counted by what they are (group, release, kind and
environment tags), not by id, so two readings of the same state are equal while a duplicate (two
snapshots with the same idempotency key) counts 2. Tag values that are ids or timestamps
(snapshot, volume, copy-of, taken-at, checksum, watermark) are left out of the signatures.

moto quirks it works around: a terminated instance stays registered in its target group (AWS
deregisters it), so only live targets count; a root volume lives and dies with its instance, so
only volumes that are not an instance's root device count.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import boto3

from activities.clouds.aws_clients import (
    TAG_CHECKSUM,
    TAG_COPY_OF,
    TAG_ENV,
    TAG_KIND,
    TAG_RELEASE,
    TAG_SNAPSHOT,
    TAG_TAKEN_AT,
    TAG_VOLUME,
    TAG_WATERMARK,
    tags_of,
)
from config.aws import AwsRegionConfig
from config.models import Topology

#: Instance states that are still a resource (terminated instances linger in describe calls).
LIVE = ("pending", "running", "stopping", "stopped")
#: Tags whose values are ids or clock readings: they differ between two runs of the same thing.
VOLATILE_TAGS = (TAG_CHECKSUM, TAG_SNAPSHOT, TAG_TAKEN_AT, TAG_VOLUME, TAG_WATERMARK)
GLOBALOPS_PREFIX = "globalops:"
NONE = "-"

Inventory = dict[str, Any]


def moto_inventory(topology: Topology, service: str) -> Inventory:
    """Every AWS region's groups, instances, load balancing, EBS and launch templates; Route 53 globally."""
    regions = [r for r in topology.regions if r.provider == "aws"]
    if not regions:
        return {"regions": {}, "route53": {}}
    out: Inventory = {"regions": {r.name: _region(r.name, _endpoint(r.aws)) for r in regions}}
    first = regions[0].aws or AwsRegionConfig()
    zone = first.named(first.hosted_zone, service)
    out["route53"] = _route53(_client("route53", regions[0].name, _endpoint(first)), zone)
    return _sorted(out)


def diff(before: Mapping[str, Any], after: Mapping[str, Any], path: str = "") -> list[str]:
    """One line per path whose value differs (missing on one side shows as <absent>)."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after), key=str):
        here = f"{path}/{key}" if path else str(key)
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            lines += diff(old, new, here)
        elif old != new:
            lines.append(f"{here}: {_show(old)} -> {_show(new)}")
    return lines


# ----- per region --------------------------------------------------------------------------------


def _region(region: str, endpoint: str | None) -> Inventory:
    ec2 = _client("ec2", region, endpoint)
    asg = _client("autoscaling", region, endpoint)
    elb = _client("elbv2", region, endpoint)
    instances = [i for r in _pages(ec2, "describe_instances", "Reservations") for i in r["Instances"]]
    live = {i["InstanceId"]: i for i in instances if i["State"]["Name"] in LIVE}
    groups = list(_pages(asg, "describe_auto_scaling_groups", "AutoScalingGroups"))
    target_groups = list(_pages(elb, "describe_target_groups", "TargetGroups"))
    member_of = {m["InstanceId"]: g["AutoScalingGroupName"] for g in groups for m in g.get("Instances", [])}
    return {
        "auto_scaling_groups": {g["AutoScalingGroupName"]: _group(g) for g in groups},
        "instances": _count(_instance_signature(i, member_of) for i in live.values()),
        "target_groups": _target_groups(elb, target_groups, set(live)),
        "listener_weights": _listeners(elb, target_groups),
        "volumes": _count(_signature(v) for v in _volumes(ec2, instances)),
        "snapshots": _count(
            _signature(s) for s in _pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"])
        ),
        "launch_templates": _launch_templates(ec2),
    }


def _group(raw: Mapping[str, Any]) -> dict[str, Any]:
    template = raw.get("LaunchTemplate") or {}
    return {
        "desired": raw["DesiredCapacity"],
        "min": raw["MinSize"],
        "max": raw["MaxSize"],
        "launch_template": f"{template.get('LaunchTemplateName', NONE)}:{template.get('Version', NONE)}",
        "tags": {t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])},
    }


def _instance_signature(raw: Mapping[str, Any], member_of: Mapping[str, str]) -> str:
    """group|release|kind|env of a live instance (NONE where it has none)."""
    tags = tags_of(raw)
    parts = [
        member_of.get(raw["InstanceId"], NONE),
        tags.get(TAG_RELEASE, NONE),
        tags.get(TAG_KIND, NONE),
        tags.get(TAG_ENV, NONE),
    ]
    return "|".join(parts)


def _signature(raw: Mapping[str, Any]) -> str:
    """The resource's globalops tags without the volatile ones, e.g. `env=drill-1,key=k,kind=restore`."""
    tags = tags_of(raw)
    if not tags:
        return "untagged"
    kept = []
    for key, value in sorted(tags.items()):
        if key in VOLATILE_TAGS:
            continue
        if key == TAG_COPY_OF:
            value = "yes"  # the source snapshot's id: only whether it is a copy is comparable
        kept.append(f"{key.removeprefix(GLOBALOPS_PREFIX)}={value}")
    return ",".join(kept)


def _volumes(ec2: Any, instances: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Volumes except instances' root devices (they come and go with their instance)."""
    roots = {
        (i["InstanceId"], i.get("RootDeviceName")) for i in instances if i["State"]["Name"] != "terminated"
    }
    for volume in _pages(ec2, "describe_volumes", "Volumes"):
        if volume.get("State") in ("deleting", "deleted"):
            continue
        attached = {(a.get("InstanceId"), a.get("Device")) for a in volume.get("Attachments", [])}
        if attached & roots:
            continue
        yield volume


def _target_groups(elb: Any, target_groups: list[dict[str, Any]], live: set[str]) -> dict[str, int]:
    """Live registered targets per target group (moto keeps terminated instances registered)."""
    out = {}
    for tg in target_groups:
        health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        out[tg["TargetGroupName"]] = sum(1 for h in health if h["Target"]["Id"] in live)
    return out


def _listeners(elb: Any, target_groups: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Forward weights per target group name of every listener, keyed `<load balancer>:<port>`."""
    names = {tg["TargetGroupArn"]: tg["TargetGroupName"] for tg in target_groups}
    out: dict[str, dict[str, int]] = {}
    for lb in _pages(elb, "describe_load_balancers", "LoadBalancers"):
        for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            weights: dict[str, int] = {}
            for action in listener.get("DefaultActions", []):
                groups = action.get("ForwardConfig", {}).get("TargetGroups")
                if not groups and action.get("TargetGroupArn"):
                    groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
                for tg in groups or []:
                    weights[names.get(tg["TargetGroupArn"], tg["TargetGroupArn"])] = int(tg.get("Weight", 1))
            out[f"{lb['LoadBalancerName']}:{listener['Port']}"] = weights
    return out


def _launch_templates(ec2: Any) -> dict[str, dict[str, Any]]:
    """Per launch template: its default version and how many versions carry each description."""
    out: dict[str, dict[str, Any]] = {}
    for template in _pages(ec2, "describe_launch_templates", "LaunchTemplates"):
        name = template["LaunchTemplateName"]
        versions = ec2.describe_launch_template_versions(LaunchTemplateName=name)["LaunchTemplateVersions"]
        out[name] = {
            "default": template.get("DefaultVersionNumber"),
            "versions": _count(str(v.get("VersionDescription", NONE)) for v in versions),
        }
    return out


# ----- global ------------------------------------------------------------------------------------


def _route53(r53: Any, zone: str) -> dict[str, Any]:
    """Record sets of the zone but its own NS and SOA: `<name> <type> <set id>` -> weight and values."""
    fqdn = zone if zone.endswith(".") else zone + "."
    found = r53.list_hosted_zones_by_name(DNSName=fqdn)["HostedZones"]
    out: dict[str, Any] = {}
    for z in (z for z in found if z["Name"] == fqdn):
        for rs in _pages(r53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=z["Id"]):
            if rs["Type"] in ("NS", "SOA") and rs["Name"] == fqdn:
                continue
            out[f"{rs['Name']} {rs['Type']} {rs.get('SetIdentifier', NONE)}"] = {
                "weight": rs.get("Weight"),
                "values": sorted(str(r.get("Value")) for r in rs.get("ResourceRecords", [])),
            }
    return out


# ----- helpers -----------------------------------------------------------------------------------

_ABSENT = object()


def _show(value: Any) -> str:
    return "<absent>" if value is _ABSENT else repr(value)


def _endpoint(config: AwsRegionConfig | None) -> str | None:
    return (config or AwsRegionConfig()).endpoint_url


@functools.cache
def _client(service: str, region: str, endpoint: str | None) -> Any:
    """One client per (service, region, endpoint): building a client costs more than reading moto."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint)  # type: ignore[call-overload]


def _pages(client: Any, operation: str, key: str, **request: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**request):
        yield from page.get(key, [])


def _count(signatures: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(signatures).items()))


def _sorted(value: Any) -> Any:
    """Nested dicts with sorted keys: deterministic order for printing and comparing."""
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    return value
