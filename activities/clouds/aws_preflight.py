"""Preflight of an AWS region: can it take a release and the instances the rollout adds (`surge`)?

Every check reads the account and can fail (a check that cannot be made fails too):

* `config`: both Auto Scaling groups, the listener and the target groups exist;
* `artifact`: a launch-template version carries the release, or one can be derived for it;
* `capacity_max_size`: the stable group's MaxSize allows its desired capacity + surge (every
  strategy peaks there: a rolling batch launches before the one it replaces, a promotion brings the
  canary's size into the stable group before the old instances go). Deploy steps stay within
  MaxSize, so this is the cap the deploy will meet;
* `quota_vcpus`: Service Quotas' "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"
  (L-1216C47A, in vCPUs) minus the vCPUs of the region's running On-Demand standard instances
  (DescribeInstances + DescribeInstanceTypes) must hold surge x the vCPUs of the release's instance
  type (from its launch-template version).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from activities.botocore_errors import classify, error_code, mapped
from activities.clouds.aws_groups import Groups
from contracts.cloud import PreflightReport
from contracts.errors import CloudError, InvalidRequest, Unavailable

if TYPE_CHECKING:
    from activities.clouds.aws_traffic import Listener

STANDARD_QUOTA_CODE = "L-1216C47A"
STANDARD_QUOTA_NAME = "Running On-Demand Standard instances"
#: Families counted by the standard quota, and prefixes of families with quotas of their own
#: although their first letter is one of these (Inferentia, DL, HPC, Mac, Trainium).
_STANDARD_LETTERS = frozenset("acdhimrtz")
_OWN_QUOTA_PREFIXES = ("inf", "dl", "hpc", "mac", "trn")
#: Instance states that use quota.
_RUNNING = ["pending", "running"]


def standard_family(instance_type: str) -> bool:
    """True if instances of this type count against the On-Demand Standard quota (L-1216C47A)."""
    family = instance_type.split(".", 1)[0].lower()
    if not family or family.startswith(_OWN_QUOTA_PREFIXES):
        return False
    return family[0] in _STANDARD_LETTERS


@dataclass(frozen=True)
class VcpuQuota:
    """The standard vCPU quota of a region and what uses it."""

    region: str
    limit: int
    in_use: int

    @property
    def free(self) -> int:
        return self.limit - self.in_use

    def problem(self, need: int) -> str | None:
        """Why `need` more vCPUs do not fit, or None if they do."""
        if need <= 0 or need <= self.free:
            return None
        return (
            f"quota '{STANDARD_QUOTA_NAME}' ({STANDARD_QUOTA_CODE}) in {self.region}: needs {need} vCPUs,"
            f" {max(0, self.free)} free of {self.limit} ({self.in_use} in use)"
        )


class AwsPreflight:
    """The preflight half of AwsCloud."""

    if TYPE_CHECKING:  # provided by AwsCloud
        _ec2: Callable[[str], Any]

        def _check(self, service: str, region: str) -> None: ...
        def _groups(self, service: str, region: str, grow_max: bool = False) -> Groups: ...
        def _listener(self, service: str, region: str) -> Listener: ...
        def _quotas(self, region: str) -> Any: ...

    @mapped
    def preflight(self, service: str, region: str, release: str, surge: int = 0) -> PreflightReport:
        """Reachable, configured, the artifact exists, and `surge` more instances fit MaxSize and quota."""
        if surge < 0:
            raise InvalidRequest(f"AWS: surge must be >= 0, got {surge}")
        self._check(service, region)
        groups = self._groups(service, region)
        checks: dict[str, bool] = {"region_reachable": True, "config": False}
        problems: list[str] = []
        try:
            stable = groups.describe("stable")
            groups.describe("canary")
            self._listener(service, region)
        except Unavailable as exc:
            return PreflightReport(
                region=region,
                ok=False,
                checks={"region_reachable": False},
                problems=[f"region unreachable: {exc}"],
            )
        except CloudError as exc:
            if exc.retryable:
                raise
            return PreflightReport(region=region, ok=False, checks=checks, problems=[str(exc)])
        checks["config"] = True

        version = groups.find_version(release) if release else None
        checks["artifact"] = bool(release) and (version is not None or groups.has_versions())
        if not release:
            problems.append("release artifact missing (empty release)")
        elif not checks["artifact"]:
            problems.append(f"no launch template version can carry release {release}")

        desired, cap = int(stable["DesiredCapacity"]), int(stable["MaxSize"])
        checks["capacity_max_size"] = desired + surge <= cap
        if not checks["capacity_max_size"]:
            problems.append(
                f"capacity: Auto Scaling group '{groups.names.stable}' in {region}: MaxSize {cap} is below"
                f" desired {desired} + {surge} added by the rollout"
            )

        quota_problem = self._quota_problem(groups, region, release, surge)
        checks["quota_vcpus"] = quota_problem is None
        if quota_problem:
            problems.append(quota_problem)
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    def _quota_problem(self, groups: Groups, region: str, release: str, surge: int) -> str | None:
        """Why `surge` instances of the release's type do not fit the vCPU quota (None: they do)."""
        instance_type = groups.instance_type(release)
        if instance_type is None:
            return (
                f"quota '{STANDARD_QUOTA_NAME}' ({STANDARD_QUOTA_CODE}) in {region}: cannot tell the vCPUs of"
                f" release {release or '(none)'}: its launch template names no InstanceType"
            )
        if not standard_family(instance_type):
            return (
                f"quota: instance type {instance_type} counts against a quota other than"
                f" '{STANDARD_QUOTA_NAME}' ({STANDARD_QUOTA_CODE}), which is the only one checked"
            )
        try:
            limit = self._quota_value(region)
        except CloudError as exc:
            if exc.retryable:
                raise
            return f"quota '{STANDARD_QUOTA_NAME}' ({STANDARD_QUOTA_CODE}) in {region}: cannot read it: {exc}"
        running = self._running_types(region)
        vcpus = self._vcpus(region, {instance_type, *running})
        in_use = sum(vcpus[t] for t in running if standard_family(t))
        return VcpuQuota(region, limit, in_use).problem(surge * vcpus[instance_type])

    def _quota_value(self, region: str) -> int:
        """The applied value of the standard quota (the AWS default if none was ever applied)."""
        quotas = self._quotas(region)
        try:
            found = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=STANDARD_QUOTA_CODE)
        except ClientError as exc:
            if error_code(exc) != "NoSuchResourceException":
                raise classify(exc) from exc
            try:
                found = quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=STANDARD_QUOTA_CODE)
            except ClientError as again:
                raise classify(again) from again
        return int(float(found["Quota"]["Value"]))

    def _running_types(self, region: str) -> list[str]:
        """The instance type of every pending or running On-Demand instance of the region (all services)."""
        pages = (
            self._ec2(region)
            .get_paginator("describe_instances")
            .paginate(Filters=[{"Name": "instance-state-name", "Values": _RUNNING}])
        )
        return [
            str(i["InstanceType"])
            for page in pages
            for r in page["Reservations"]
            for i in r["Instances"]
            if not i.get("InstanceLifecycle")  # spot and capacity blocks have quotas of their own
        ]

    def _vcpus(self, region: str, types: Iterable[str]) -> dict[str, int]:
        """Default vCPUs per instance type."""
        wanted = sorted(set(types))
        out: dict[str, int] = {}
        for start in range(0, len(wanted), 100):  # DescribeInstanceTypes takes up to 100 names
            found = self._ec2(region).describe_instance_types(InstanceTypes=wanted[start : start + 100])
            for info in found["InstanceTypes"]:
                out[str(info["InstanceType"])] = int(info["VCpuInfo"]["DefaultVCpus"])
        return out
