"""Typed topology and policy models; pure pydantic/stdlib so Temporal workflows can import them."""

from __future__ import annotations

import base64
import binascii
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from config.alarms import AlarmPolicy
from config.aws import AwsRegionConfig
from config.base import CONFIG
from config.change import ChangeWindow, zone
from config.dr import DrPolicy
from config.durations import Duration
from config.failover import FailoverPolicy
from config.gcp import GcpRegionConfig
from config.notify import Hooks, Notification
from config.practice import PracticePolicy
from config.readiness import ReadinessPolicy
from config.strategies import (
    AnalysisPolicy,
    BlueGreenPolicy,
    CanaryPolicy,
    Strategy,
)
from config.traffic import GlobalTraffic

__all__ = [
    "SIM_KEY_PREFIX",
    "WAVE_ORDER",
    "ApprovalPolicy",
    "Approver",
    "FailoverPolicy",
    "GlobalTraffic",
    "HealthPolicy",
    "Policies",
    "Provider",
    "RegionConfig",
    "RollbackPolicy",
    "RollingPolicy",
    "ServiceConfig",
    "Tier",
    "Topology",
    "WaveConfig",
    "WaveName",
    "backup_key_problem",
    "wave_rank",
]

Provider = Literal["sim", "aws", "gcp"]
Tier = Literal["primary", "edge"]
WaveName = Literal["validate", "core", "edge"]
RollbackPolicy = Literal["rollback_all", "rollback_wave", "halt"]
OnNoData = Literal["wait", "fail"]
UnavailableRegion = Literal["wait", "skip", "rollback"]

WAVE_ORDER: tuple[WaveName, ...] = ("validate", "core", "edge")
"""Waves always run in this order; a topology may omit validate (and edge) but not core."""


def wave_rank(wave: str) -> int:
    """Where `wave` stands in WAVE_ORDER (any other name, e.g. "-", after them all).

    The sort key of topology order: regions by wave, and inside a wave in the order of the
    topology's `regions` list (a stable sort keeps it).
    """
    return WAVE_ORDER.index(wave) if wave in WAVE_ORDER else len(WAVE_ORDER)


Jurisdiction = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
"""Two-letter legal jurisdiction, e.g. US, EU, UK."""

_GROUP_NAME = r"^[A-Z][A-Z0-9_-]{0,31}$"


class ServiceConfig(BaseModel):
    """One service rolled out across the topology."""

    model_config = CONFIG

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,62}$",
        description="Service name: lowercase letters, digits and dashes, starting with a letter.",
    )
    initial_release: str = Field(
        default="1.0.0",
        pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$",
        description="Release every region runs before the first rollout.",
    )
    data_residency: bool = Field(
        default=True,
        description="Data must stay in its jurisdiction group (limits backup and failover targets).",
    )


#: The sim's default backup key of a region is this prefix plus the region's name.
SIM_KEY_PREFIX = "sim-kms/"
_KMS_KEY_ARN = r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/[A-Za-z0-9-]+"
_CLOUD_KMS_KEY = r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"


def backup_key_problem(provider: str, region: str, key: str | None) -> str | None:
    """Why `key` cannot encrypt snapshots of `region` on `provider` (None: it can, or there is none).

    EBS takes only a KMS key of the snapshot's own region, and globalops compares the key a
    provider reports with the configured one, so AWS wants the key ARN (an alias or a bare id
    would be reported back as an ARN) and GCP the crypto key's name (without a version).
    """
    if key is None:
        return None
    if provider == "aws":
        match = re.fullmatch(_KMS_KEY_ARN, key)
        if match is None:
            return f"{key!r} is not a KMS key ARN (arn:aws:kms:{region}:<account>:key/<key id>)"
        if match["region"] != region:
            return (
                f"the KMS key is in {match['region']}; EBS encrypts {region}'s snapshots only with a key"
                f" of {region}"
            )
    if provider == "gcp" and re.fullmatch(_CLOUD_KMS_KEY, key) is None:
        return f"{key!r} is not a Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)"
    return None


class RegionConfig(BaseModel):
    """One cloud region the services run in."""

    model_config = CONFIG

    name: str = Field(pattern=r"^[a-z0-9-]+$", description="Cloud region name, e.g. us-east-1.")
    cloud: Literal["aws", "gcp"] = Field(description="Which cloud the region name belongs to.")
    provider: Provider = Field(
        default="sim",
        description="The adapter that acts on the region (sim = local simulator).",
    )
    tier: Tier = Field(description="primary regions carry the core wave; edge regions follow.")
    jurisdiction: str = Field(
        pattern=r"^[A-Z]{2}$",
        description="Two-letter legal jurisdiction, e.g. US, EU, UK.",
    )
    backup_region: str | None = Field(
        default=None, description="Region that takes over when this one fails over."
    )
    task_queue: str | None = Field(
        default=None,
        min_length=1,
        description="Temporal task queue of the worker for this region (None = topology default).",
    )
    instances: int = Field(default=4, ge=1, le=1000, description="Instances running the service.")
    max_instances: int | None = Field(
        default=None,
        ge=1,
        le=3000,
        description="Most instances the region may scale to when it takes failover traffic"
        " (None = 3 x instances; must be >= instances).",
    )
    latency_ms: float = Field(
        default=50,
        ge=0,
        description="Typical client latency, used to choose failover targets.",
    )
    strategy: Strategy | None = Field(
        default=None,
        description="Deploy strategy for this region (None = the rollout's or the policies' strategy).",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone the region's change windows are read in, e.g. Europe/Berlin.",
    )
    aws: AwsRegionConfig | None = Field(
        default=None, description="AWS resource names and endpoint (provider: aws)."
    )
    gcp: GcpRegionConfig | None = Field(
        default=None, description="GCP project, zones, resource names and endpoint (provider: gcp)."
    )
    backup_key: str | None = Field(
        default=None,
        min_length=1,
        description="Customer key that encrypts the region's snapshots and the copies stored in it:"
        " a KMS key ARN of this region (aws), a Cloud KMS key"
        " 'projects/P/locations/L/keyRings/R/cryptoKeys/K' (gcp), any id (sim; default"
        " 'sim-kms/<region>').",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}': use an IANA name such as Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _backup_key_fits_provider(self) -> RegionConfig:
        problem = backup_key_problem(self.provider, self.name, self.backup_key)
        if problem:
            raise ValueError(f"backup_key: {problem}")
        return self

    @property
    def snapshot_key(self) -> str | None:
        """The key that encrypts this region's snapshots: backup_key; a sim region has 'sim-kms/<name>'
        by default; None: the region has none (backups that require encryption fail closed)."""
        if self.backup_key is None and self.provider == "sim":
            return f"{SIM_KEY_PREFIX}{self.name}"
        return self.backup_key

    @property
    def capacity_limit(self) -> int:
        """Most instances the region may run: max_instances, or 3 x instances when unset."""
        return self.max_instances if self.max_instances is not None else 3 * self.instances


class WaveConfig(BaseModel):
    """A group of regions deployed together, after the previous wave has baked."""

    model_config = CONFIG

    name: WaveName = Field(description="Wave name; waves run in the order validate, core, edge.")
    regions: list[str] = Field(
        default_factory=list,
        description="Regions of the wave (must be empty for validate: it preflights every region).",
    )
    pilot: str | None = Field(
        default=None,
        description="A region of this wave deployed alone first, then baked.",
    )
    concurrency: int = Field(default=1, ge=1, le=100, description="Regions deployed at once after the pilot.")


class Topology(BaseModel):
    """Services, regions and the waves that order a rollout across them."""

    model_config = CONFIG

    services: list[ServiceConfig] = Field(min_length=1, description="Services to roll out.")
    default_task_queue: str = Field(
        default="globalops",
        min_length=1,
        description="Task queue for regions that do not name their own.",
    )
    regions: list[RegionConfig] = Field(min_length=1, description="Every region of the fleet.")
    waves: list[WaveConfig] = Field(description="Waves in order validate, core, edge.")
    jurisdiction_groups: dict[Annotated[str, Field(pattern=_GROUP_NAME)], list[Jurisdiction]] = Field(
        default_factory=dict,
        description="Named groups of jurisdictions that may share data, e.g. {EUROPE: [EU, UK]};"
        " a jurisdiction in no group is a group of its own.",
    )
    traffic: GlobalTraffic | None = Field(
        default=None,
        description="Global traffic layer (route53, cloud_dns or sim): one weighted record per region, so"
        " failover can move traffic between clouds; none = each region's own provider (docs/multi-cloud.md).",
    )

    def region(self, name: str) -> RegionConfig:
        """The region called `name`; KeyError if the topology has none."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"unknown region {name!r} (known: {', '.join(self.region_names())})")

    def region_names(self) -> list[str]:
        """Region names in file order."""
        return [region.name for region in self.regions]

    def ordered_region_names(self) -> list[str]:
        """Region names in topology order, the order every list of regions is shown in: by wave
        (core, then edge), and inside a wave in file order (as a rollout's progress lists them)."""
        waves = {name: wave.name for wave in self.waves for name in wave.regions}
        return sorted(self.region_names(), key=lambda name: wave_rank(waves.get(name, "-")))

    def service(self, name: str) -> ServiceConfig | None:
        """The service called `name`, or None."""
        return next((service for service in self.services if service.name == name), None)

    def task_queue_for(self, region_name: str) -> str:
        """Task queue of the worker that acts on `region_name`."""
        return self.region(region_name).task_queue or self.default_task_queue

    def group_of(self, jurisdiction: str) -> str:
        """The data-residency group of `jurisdiction`: its named group, or the jurisdiction itself."""
        for group, members in self.jurisdiction_groups.items():
            if jurisdiction in members:
                return group
        return jurisdiction

    def wave_of(self, region_name: str) -> WaveName:
        """Name of the wave that deploys `region_name`; KeyError if in none."""
        for wave in self.waves:
            if region_name in wave.regions:
                return wave.name
        raise KeyError(f"region {region_name!r} is in no wave")

    @model_validator(mode="after")
    def _cross_check(self) -> Topology:
        """Checks across fields; each message starts with the path of the offending field."""
        names = self.region_names()
        known = f"(known: {', '.join(names)})"
        _no_duplicates("services", [service.name for service in self.services], "service")
        _no_duplicates("regions", names, "region")

        for i, region in enumerate(self.regions):
            backup = region.backup_region
            if backup is None:
                continue
            if backup == region.name:
                raise ValueError(
                    f"regions[{i}].backup_region: {backup!r} is the region itself;"
                    " a backup must be another region"
                )
            if backup not in names:
                raise ValueError(
                    f"regions[{i}].backup_region: {backup!r} is not a region of this topology {known}"
                )

        for i, region in enumerate(self.regions):
            if region.max_instances is not None and region.max_instances < region.instances:
                raise ValueError(
                    f"regions[{i}].max_instances: {region.max_instances} is below instances"
                    f" {region.instances}; the capacity limit must be >= instances"
                )

        self._check_jurisdiction_groups()

        self._check_wave_order()

        owner: dict[str, WaveName] = {}
        for w, wave in enumerate(self.waves):
            if wave.name == "validate" and wave.regions:
                raise ValueError(
                    f"waves[{w}].regions: the validate wave preflights every region and must not list regions"
                )
            for r, name in enumerate(wave.regions):
                where = f"waves[{w}].regions[{r}]"
                if name not in names:
                    raise ValueError(f"{where}: {name!r} is not a region of this topology {known}")
                if name in owner:
                    raise ValueError(f"{where}: {name!r} is already in wave {owner[name]!r}")
                owner[name] = wave.name
            if wave.pilot is not None and wave.pilot not in wave.regions:
                listed = ", ".join(wave.regions) or "none"
                raise ValueError(
                    f"waves[{w}].pilot: {wave.pilot!r} is not a region of wave {wave.name!r}"
                    f" (its regions: {listed})"
                )

        for i, name in enumerate(names):
            if name not in owner:
                raise ValueError(
                    f"regions[{i}]: {name!r} is in no wave; add it to the regions of a core or edge wave"
                )
        return self

    def _check_jurisdiction_groups(self) -> None:
        """Each jurisdiction in at most one group; a group named like a jurisdiction must contain it."""
        owner: dict[str, str] = {}
        for group, members in self.jurisdiction_groups.items():
            where = f"jurisdiction_groups.{group}"
            if not members:
                raise ValueError(f"{where}: a group needs at least one jurisdiction")
            if re.fullmatch(r"[A-Z]{2}", group) and group not in members:
                raise ValueError(
                    f"{where}: a group named like the jurisdiction {group!r} must list it"
                    f" (or {group} data would share a group with {', '.join(members)})"
                )
            for j, member in enumerate(members):
                if member in owner:
                    other = owner[member]
                    detail = "listed twice" if other == group else f"already in group {other!r}"
                    raise ValueError(
                        f"{where}[{j}]: jurisdiction {member!r} is {detail};"
                        " a jurisdiction belongs to at most one group"
                    )
                owner[member] = group

    def _check_wave_order(self) -> None:
        """Each wave at most once, in the order validate, core, edge, with core present."""
        order = " -> ".join(WAVE_ORDER)
        seen: dict[WaveName, int] = {}
        for w, wave in enumerate(self.waves):
            if wave.name in seen:
                raise ValueError(
                    f"waves[{w}].name: wave {wave.name!r} appears twice (also waves[{seen[wave.name]}])"
                )
            for earlier in seen:
                if WAVE_ORDER.index(earlier) > WAVE_ORDER.index(wave.name):
                    raise ValueError(
                        f"waves[{w}].name: wave {wave.name!r} must come before {earlier!r};"
                        f" waves run in the order {order}"
                    )
            seen[wave.name] = w
        if "core" not in seen:
            raise ValueError(f"waves: a 'core' wave is required; waves run in the order {order}")


def _no_duplicates(path: str, names: list[str], kind: str) -> None:
    """Raise for the second occurrence of a name, pointing at both places."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise ValueError(f"{path}[{i}].name: duplicate {kind} {name!r} (also {path}[{first[name]}])")
        first[name] = i


class HealthPolicy(BaseModel):
    """Thresholds a region must meet for a health gate to pass."""

    model_config = CONFIG

    max_p99_latency_ms: float = Field(
        default=200,
        gt=0,
        le=60000,
        description="Highest acceptable p99 latency in milliseconds.",
    )
    max_error_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Highest acceptable share of failed requests (0-1).",
    )
    max_cpu: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="Highest acceptable CPU utilisation (0-1].",
    )
    samples: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Consecutive passing samples a health gate needs.",
    )
    probe_interval: Duration = Field(
        default=10.0, gt=0, description="Seconds between health samples (must be > 0)."
    )
    min_healthy_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="Share of instances that must be healthy (0-1].",
    )
    on_no_data: OnNoData = Field(
        default="wait",
        description=(
            "A gate or analysis run that finds no metrics (or no requests) never passes: `wait` holds the "
            "region for a decision (promote continues, abort rolls back), `fail` fails the gate at once."
        ),
    )
    no_data_deadline: Duration = Field(
        default=3600.0,
        gt=0,
        description="How long a region waits for a decision about missing metrics before its gate fails.",
    )


class RollingPolicy(BaseModel):
    """How instances inside one region are replaced."""

    model_config = CONFIG

    batch_size: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="Share of a region's instances replaced per batch (at least one instance).",
    )


def _public_key(value: str) -> str:
    """An Ed25519 public key: base64 of its 32 raw bytes (what `globalops keys create` prints)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64: paste the public_key line `globalops keys create` printed") from None
    if len(raw) != 32:
        raise ValueError(
            f"an Ed25519 public key is 32 bytes, this is {len(raw)}:"
            " paste the public_key line `globalops keys create` printed"
        )
    return value


class Approver(BaseModel):
    """Someone allowed to approve, and the public half of the key their approvals are signed with."""

    model_config = CONFIG

    name: str = Field(min_length=1, description="The approver's name, as given to `--by`.")
    public_key: str = Field(
        description="Base64 of the raw 32-byte Ed25519 public key (globalops keys create)."
    )

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        return _public_key(value)


class ApprovalPolicy(BaseModel):
    """Human approvals during a rollout."""

    model_config = CONFIG

    between_waves: bool = Field(
        default=False,
        description="Wait for an explicit approve before each wave after the first.",
    )
    timeout: Duration = Field(
        default=86400.0,
        description="How long to wait for approve before aborting the rollout.",
    )
    four_eyes: bool = Field(
        default=False,
        description="Refuse an approval by the person who started the rollout (its requested_by).",
    )
    approvers: list[Approver] = Field(
        default_factory=list,
        description="Who may sign approvals: a name and an Ed25519 public key each (docs/rollouts.md).",
    )
    require_signature: bool = Field(
        default=False,
        description="Accept only approvals signed by one of `approvers` (globalops rollout approve --key).",
    )

    @model_validator(mode="after")
    def _signers(self) -> ApprovalPolicy:
        names = [a.name for a in self.approvers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"approvers: {', '.join(twice)} listed twice")
        if self.require_signature and not self.approvers:
            raise ValueError("require_signature: needs at least one entry in approvals.approvers")
        return self

    def approver(self, name: str) -> Approver | None:
        """The approver of that name (None: not one of `approvers`)."""
        return next((a for a in self.approvers if a.name == name), None)


def _default_bake() -> dict[WaveName, float]:
    return {"validate": 0.0, "core": 7200.0, "edge": 3600.0}


class DeployPolicies(BaseModel):
    """What one region's deploy runs by: a region child carries only these, never the whole policies."""

    model_config = CONFIG

    health: HealthPolicy = Field(default_factory=HealthPolicy, description="Health gate thresholds.")
    region_bake: Duration = Field(
        default=300.0,
        description="Bake inside each region after its last batch, before the final verify.",
    )
    rolling: RollingPolicy = Field(default_factory=RollingPolicy, description="Batching inside a region.")
    strategy: Strategy = Field(
        default="rolling",
        description="Deploy strategy in each region unless the region or the rollout names another.",
    )
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy, description="Canary steps and bakes.")
    blue_green: BlueGreenPolicy = Field(default_factory=BlueGreenPolicy, description="Blue-green settings.")
    analysis: AnalysisPolicy = Field(
        default_factory=AnalysisPolicy, description="Metrics analysis of canary and blue-green deploys."
    )
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy, description="Human approvals.")
    hooks: Hooks = Field(
        default_factory=Hooks, description="Webhook gates: pre_rollout, pre_region, post_batch, post_region."
    )
    alarms: AlarmPolicy = Field(
        default_factory=AlarmPolicy,
        description="Alarms (CloudWatch, Prometheus, sim) that stop a rollout when they fire.",
    )

    notifications: list[Notification] = Field(
        default_factory=list,
        description="Apprise sinks and the events each receives (docs/change-control.md).",
    )
    call_timeout: Duration = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "Longest one attempt of a cloud call may run before Temporal retries it; also how long "
            "a call lost with a crashed worker waits to be retried elsewhere."
        ),
    )
    heartbeat_timeout: Duration = Field(
        default=10.0,
        gt=0,
        le=600,
        description=(
            "Long cloud calls (instances healthy, snapshot completed, DNS in sync) heartbeat while they "
            "wait; a call whose worker stops heartbeating this long is retried on another worker."
        ),
    )

    @model_validator(mode="after")
    def _alarms_prometheus_url(self) -> DeployPolicies:
        if self.alarms.prometheus and not self.alarms_prometheus_url():
            raise ValueError(
                "alarms.prometheus_url: required when alarms.prometheus lists alerts"
                " (or set analysis.prometheus_url)"
            )
        return self

    def alarms_prometheus_url(self) -> str | None:
        """Where the Prometheus alerts are read: alarms.prometheus_url, else analysis.prometheus_url."""
        return self.alarms.prometheus_url or self.analysis.prometheus_url


class Policies(DeployPolicies):
    """How cautiously a rollout proceeds: health gates, bake times, batches, rollback."""

    model_config = CONFIG

    bake: dict[WaveName, Duration] = Field(
        default_factory=_default_bake,
        description="Bake time after each wave, by wave name (missing waves bake 0).",
    )
    pilot_bake: Duration = Field(default=3600.0, description="Bake after the pilot region.")
    rollback_policy: RollbackPolicy = Field(
        default="rollback_all",
        description="On failure: roll back every touched region, only the failing wave, or halt.",
    )
    failover: FailoverPolicy = Field(
        default_factory=FailoverPolicy, description="Failover triggers, targets and failback steps."
    )
    dr: DrPolicy = Field(
        default_factory=DrPolicy, description="Backups, recovery targets (RTO/RPO) and drills."
    )
    readiness: ReadinessPolicy = Field(
        default_factory=ReadinessPolicy,
        description="Standing readiness: evaluation interval, and how recent a practice and a drill must be.",
    )
    practice: PracticePolicy = Field(
        default_factory=PracticePolicy,
        description="Weekly failover practice: duration, schedule, outcome alarms (docs/failover.md).",
    )
    unavailable_region: UnavailableRegion = Field(
        default="wait",
        description=(
            "A region found unreachable just before it is changed is held, not rolled back around: `wait` "
            "for it to recover (or for `rollout skip-region`), `skip` it at once (the rollout ends "
            "`partial`), or `rollback` as if it had failed."
        ),
    )
    unavailable_recheck: Duration = Field(
        default=60.0,
        gt=0,
        description="While a region is held as unreachable, how often its reachability is checked again.",
    )
    change_windows: list[ChangeWindow] = Field(
        default_factory=list,
        description=(
            "Blocked windows in each region's local time (topology time_zone): a region whose window is "
            "closed waits (status waiting) while the others go on."
        ),
    )

    @field_validator("bake", mode="before")
    @classmethod
    def _known_waves(cls, value: Any) -> Any:
        """Name the allowed waves instead of pydantic's generic literal-key message."""
        if isinstance(value, dict):
            for key in value:
                if key not in WAVE_ORDER:
                    raise ValueError(f"unknown wave {key!r}; allowed waves: {', '.join(WAVE_ORDER)}")
        return value

    def for_deploy(self) -> DeployPolicies:
        """The part of these policies one region's deploy runs by (what its child workflow carries)."""
        fields = DeployPolicies.model_fields
        return DeployPolicies.model_validate({name: getattr(self, name) for name in fields})

    def bake_for(self, wave: str) -> float:
        """Bake seconds after `wave` (0 when the policies do not name it)."""
        return next((seconds for name, seconds in self.bake.items() if name == wave), 0.0)
