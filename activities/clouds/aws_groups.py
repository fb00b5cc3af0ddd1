"""Releases on Auto Scaling groups: one launch-template version per release, groups reshaped in place.

moto has no instance refresh, so a group is replaced by hand, in an order that is safe to repeat:
point the group at the release's launch-template version, raise the desired capacity by the
instances still missing (the group launches them on the new version), then terminate the
instances to drop with `TerminateInstanceInAutoScalingGroup(ShouldDecrementDesiredCapacity=True)`.
Every step reads the group first and moves it toward the desired state, so a retry after a crash
at any point converges instead of doing the work twice. An instance's release is the
`globalops:release` tag its launch-template version gives it at launch.

Capacity never dips: before old instances are terminated, the adapter waits (aws_waits.py) until
the instances that replace them are InService in the group and healthy in its target group. Deploy
steps stay within the group's MaxSize (the operator's cap, which preflight checks); only undo
steps, failover scaling and recoveries may raise it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activities.clouds.aws_clients import TAG_RELEASE, TAG_SERVICE, TAG_SIZE, tags_of, token
from activities.clouds.aws_waits import Done, Pending, Waiter
from contracts.cloud import Group
from contracts.errors import (
    InvalidRequest,
    NotFound,
    QuotaExceeded,
)

#: Reads the target-group health of instances: (group, instance ids) -> id -> state ("healthy", ...).
TargetHealth = Callable[[Group, list[str]], dict[str, str]]

#: Lifecycle states of instances that are leaving a group (not counted).
_LEAVING = ("Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached")


def release_description(release: str) -> str:
    """The VersionDescription that names a launch-template version's release."""
    return f"globalops release {release}"


@dataclass(frozen=True)
class Member:
    """One instance of a group, as the adapter sees it."""

    id: str
    release: str | None
    launched: datetime
    in_service: bool


@dataclass(frozen=True)
class GroupNames:
    """The resource names of one service in one region."""

    service: str
    launch_template: str
    stable: str
    canary: str

    def asg(self, group: Group) -> str:
        return self.stable if group == "stable" else self.canary


def majority(members: Sequence[Member]) -> str | None:
    """The release most members run (a tie goes to the newest launch), None if empty."""
    counts = Counter(m.release for m in members if m.release)
    if not counts:
        return None
    newest = {m.release: m.launched for m in sorted(members, key=lambda m: m.launched) if m.release}
    return max(counts, key=lambda r: (counts[r], newest[r]))


class Groups:
    """Launch-template versions and Auto Scaling groups of one service in one region.

    With a `waiter` and `target_health`, changes wait for new instances to be InService and healthy
    before old ones go; with `grow_max` they may raise a group's MaxSize, else they stay within it.
    """

    def __init__(
        self,
        ec2: Any,
        asg: Any,
        names: GroupNames,
        waiter: Waiter | None = None,
        target_health: TargetHealth | None = None,
        grow_max: bool = False,
    ) -> None:
        self._ec2 = ec2
        self._asg = asg
        self.names = names
        self._waiter = waiter
        self._target_health = target_health
        self._grow_max = grow_max

    # ----- reading -------------------------------------------------------------------------------

    def describe(self, group: Group) -> dict[str, Any]:
        """The group's description; NotFound if it does not exist."""
        name = self.names.asg(group)
        found = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not found:
            raise NotFound(f"AWS: Auto Scaling group '{name}' does not exist")
        return dict(found[0])

    def members(self, group: Group, described: dict[str, Any] | None = None) -> list[Member]:
        """The group's instances that are not leaving it, oldest first."""
        asg = described or self.describe(group)
        states = {
            str(i["InstanceId"]): str(i.get("LifecycleState", ""))
            for i in asg.get("Instances", [])
            if str(i.get("LifecycleState", "")) not in _LEAVING
        }
        if not states:
            return []
        members = []
        for instance in self._instances(list(states)):
            if instance["State"]["Name"] in ("shutting-down", "terminated"):
                continue
            members.append(
                Member(
                    id=str(instance["InstanceId"]),
                    release=tags_of(instance).get(TAG_RELEASE),
                    launched=instance["LaunchTime"],
                    in_service=states[str(instance["InstanceId"])] == "InService",
                )
            )
        return sorted(members, key=lambda m: (m.launched, m.id))

    def _instances(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self._ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
            for reservation in page["Reservations"]:
                out.extend(reservation["Instances"])
        return out

    def size(self, described: dict[str, Any]) -> int | None:
        """The stable size recorded on the group (what a rolling replacement keeps), if any."""
        value = tags_of(described).get(TAG_SIZE)
        return int(value) if value is not None and value.isdigit() else None

    # ----- launch-template versions --------------------------------------------------------------

    def find_version(self, release: str) -> str | None:
        """The launch-template version number of `release`, if one exists."""
        for version in self._versions():
            if version.get("VersionDescription") == release_description(release):
                return str(version["VersionNumber"])
        return None

    def instance_type(self, release: str) -> str | None:
        """The instance type `release` launches: its version's, else the default version's (from
        which its version would be derived); None if the template names none."""
        versions = self._versions()
        own = next((v for v in versions if v.get("VersionDescription") == release_description(release)), None)
        default = next((v for v in versions if v.get("DefaultVersion")), versions[0] if versions else None)
        chosen = own or default
        found = (chosen or {}).get("LaunchTemplateData", {}).get("InstanceType")
        return str(found) if found else None

    def has_versions(self) -> bool:
        """True if the launch template exists with a version to derive release versions from."""
        return bool(self._versions())

    def release_version(self, release: str) -> str:
        """The version of `release`: found by its description, else derived from the default one."""
        if not release:
            raise InvalidRequest("AWS: release artifact '' does not exist")
        found = self.find_version(release)
        if found is not None:
            return found
        versions = self._versions()
        default = next((v for v in versions if v.get("DefaultVersion")), versions[0] if versions else None)
        if default is None:
            raise NotFound(f"AWS: launch template '{self.names.launch_template}' has no version")
        data = dict(default.get("LaunchTemplateData", {}))
        specs = [s for s in data.get("TagSpecifications", []) if s.get("ResourceType") != "instance"]
        instance_tags = {TAG_SERVICE: self.names.service, TAG_RELEASE: release}
        old = next(
            (s for s in data.get("TagSpecifications", []) if s.get("ResourceType") == "instance"), None
        )
        merged = {**tags_of(old or {}), **instance_tags}
        specs.append(
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in merged.items()]}
        )
        data["TagSpecifications"] = specs
        created = self._ec2.create_launch_template_version(
            LaunchTemplateName=self.names.launch_template,
            VersionDescription=release_description(release),
            LaunchTemplateData=data,
            ClientToken=token(f"{self.names.launch_template}/{release}"),
        )
        return str(created["LaunchTemplateVersion"]["VersionNumber"])

    def _versions(self) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"LaunchTemplateName": self.names.launch_template, "MaxResults": 200}
        out: list[dict[str, Any]] = []
        while True:
            page = self._ec2.describe_launch_template_versions(**request)
            out.extend(page.get("LaunchTemplateVersions", []))
            if not page.get("NextToken"):
                return out
            request["NextToken"] = page["NextToken"]

    # ----- changing ------------------------------------------------------------------------------

    def reshape(self, group: Group, release: str, count: int) -> int:
        """Make `group` exactly `count` instances on `release`; returns instances created + removed.

        Instances on `release` are kept (the oldest); the shortfall is launched first, then the
        others and the extras are terminated (newest extras first), so capacity never dips.
        """
        version = self.release_version(release)
        described = self.describe(group)
        members = self.members(group, described)
        on = [m for m in members if m.release == release]
        off = [m for m in members if m.release != release]
        kept, extra = on[:count], on[count:]
        need = count - len(kept)
        self._point_at(group, described, version, peak=len(members) + need, low=count)
        if need > 0:
            self._desire(group, len(members) + need)
        victims = [*off, *reversed(extra)]
        if count > 0:
            self.wait_ready(group, release, count)
        self._terminate(victims)
        if group == "stable":
            self.record_size(count)
        return need + len(victims)

    def ensure(self, release: str, count: int) -> int:
        """At least `count` stable instances on `release`, the group's size kept; returns replaced."""
        version = self.release_version(release)
        described = self.describe("stable")
        members = self.members("stable", described)
        size = self.size(described)
        if size is None:
            size = len(members)
            self.record_size(size)
        target = min(count, size)
        on = [m for m in members if m.release == release]
        need = max(0, target - len(on))
        if need > 0:
            self._point_at("stable", described, version, peak=len(members) + need, low=size)
            self._desire("stable", len(members) + need)
        if need > 0 or len(members) > size:  # new instances serve before old ones go
            members = self.wait_ready("stable", release, target)
            on = [m for m in members if m.release == release]
        excess = len(members) - size
        if excess <= 0:
            return need
        off = [m for m in members if m.release != release]
        victims = off[:excess]
        if len(victims) < excess:  # only possible when more than `size` already run the release
            victims += list(reversed(on[target:]))[: excess - len(victims)]
        self._terminate(victims)
        return need

    def attach(self, instance_ids: list[str]) -> None:
        """Add launched instances to the stable group (they join its target groups too), raising its
        MaxSize if needed (a recovery adds capacity on purpose), and wait until they serve."""
        described = self.describe("stable")
        current = len(self.members("stable", described))
        members = {str(i["InstanceId"]) for i in described.get("Instances", [])}
        new = [i for i in instance_ids if i not in members]
        if new:
            if current + len(new) > int(described["MaxSize"]):
                self._asg.update_auto_scaling_group(
                    AutoScalingGroupName=self.names.stable, MaxSize=current + len(new)
                )
            self._asg.attach_instances(AutoScalingGroupName=self.names.stable, InstanceIds=new)
        self.wait_serving("stable", instance_ids)
        self.record_size(len(self.members("stable")))

    # ----- waiting -------------------------------------------------------------------------------

    def wait_ready(self, group: Group, release: str, count: int) -> list[Member]:
        """Wait until `count` members of `group` on `release` are InService and healthy in its target
        group; returns the group's members then (at once without a waiter)."""
        if self._waiter is None:
            return self.members(group)
        name = self.names.asg(group)

        def check() -> Done[list[Member]] | Pending:
            members = self.members(group)
            on = [m for m in members if m.release == release]
            states = self._health(group, [m.id for m in on if m.in_service])
            ready = [m for m in on if m.in_service and states.get(m.id) == "healthy"]
            if len(ready) >= count:
                return Done(members)
            return Pending(f"{len(ready)} of {count} ready ({_describe(on, states)})")

        return self._waiter.until(f"{count} instances of '{name}' on {release} InService and healthy", check)

    def wait_serving(self, group: Group, instance_ids: list[str]) -> None:
        """Wait until the named instances are InService in `group` and healthy in its target group."""
        if self._waiter is None or not instance_ids:
            return
        wanted = set(instance_ids)

        def check() -> Done[None] | Pending:
            on = [m for m in self.members(group) if m.id in wanted]
            states = self._health(group, [m.id for m in on if m.in_service])
            ready = [m for m in on if m.in_service and states.get(m.id) == "healthy"]
            if len(ready) == len(wanted):
                return Done(None)
            return Pending(f"{len(ready)} of {len(wanted)} ready ({_describe(on, states)})")

        self._waiter.until(
            f"instances {', '.join(sorted(wanted))} serving in '{self.names.asg(group)}'", check
        )

    def _health(self, group: Group, ids: list[str]) -> dict[str, str]:
        if not ids or self._target_health is None:
            return dict.fromkeys(ids, "healthy")
        return self._target_health(group, ids)

    def terminate_member(self, instance_id: str) -> None:
        """Remove one instance from its group, lowering the desired capacity with it."""
        self._terminate_ids([instance_id])
        self.record_size(len(self.members("stable")))

    def record_size(self, size: int) -> None:
        """Record the stable group's size (what rolling replacements keep) as a group tag."""
        self.tag_stable(TAG_SIZE, str(size))

    def tag_stable(self, key: str, value: str) -> None:
        """Set one tag on the stable group (not propagated to instances)."""
        self._asg.create_or_update_tags(
            Tags=[
                {
                    "ResourceId": self.names.stable,
                    "ResourceType": "auto-scaling-group",
                    "Key": key,
                    "Value": value,
                    "PropagateAtLaunch": False,
                }
            ]
        )

    def _point_at(self, group: Group, described: dict[str, Any], version: str, peak: int, low: int) -> None:
        """Launch new instances of the group on `version`, with room for `peak` instances."""
        template = described.get("LaunchTemplate") or {}
        update: dict[str, Any] = {}
        if str(template.get("Version")) != version:
            update["LaunchTemplate"] = {"LaunchTemplateName": self.names.launch_template, "Version": version}
        if int(described["MaxSize"]) < peak:
            if not self._grow_max:
                raise QuotaExceeded(
                    f"AWS: Auto Scaling group '{self.names.asg(group)}' allows {described['MaxSize']}"
                    f" instances (MaxSize); this step needs {peak} at its peak"
                )
            update["MaxSize"] = peak
        if int(described["MinSize"]) > low:
            update["MinSize"] = low
        if update:
            self._asg.update_auto_scaling_group(AutoScalingGroupName=self.names.asg(group), **update)

    def _desire(self, group: Group, capacity: int) -> None:
        self._asg.set_desired_capacity(
            AutoScalingGroupName=self.names.asg(group), DesiredCapacity=capacity, HonorCooldown=False
        )

    def _terminate(self, victims: Sequence[Member]) -> None:
        self._terminate_ids([m.id for m in victims])

    def _terminate_ids(self, ids: list[str]) -> None:
        for instance_id in ids:
            self._asg.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
            )


def _describe(members: Sequence[Member], states: dict[str, str]) -> str:
    """What a wait saw of each instance: its group lifecycle and target health."""
    if not members:
        return "none launched yet"
    return ", ".join(
        f"{m.id} {'InService' if m.in_service else 'not InService'}/{states.get(m.id, 'not checked')}"
        for m in members
    )
