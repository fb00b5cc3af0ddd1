"""The AWS adapter: CloudPort on Auto Scaling, ALB, Route 53, CloudWatch, Service Quotas and EBS (boto3).

Per region it reads `region.aws` (names templated by service, see config/aws.py):

* releases: one launch-template version per release (VersionDescription "globalops release R",
  instance tag `globalops:release`); groups are reshaped in place (see aws_groups.py), new
  instances serving before old ones go;
* canary / blue-green: a second Auto Scaling group `<service>-canary` behind its own target
  group; the ALB listener's forward action weighs stable against canary (0..100);
* traffic: Route 53 weighted records per region, each change waited for until INSYNC (aws_traffic.py);
* health, metrics and replica lag: what AWS publishes (ALB, EC2, RDS metrics in CloudWatch); a
  number that did not arrive is None, never 0 (aws_signals.py);
* preflight: MaxSize and the EC2 vCPU quota against the instances the rollout adds (aws_preflight.py);
* storage: EBS snapshots and volumes, waited for until completed (see aws_storage.py).

Every mutating call is convergent: it reads the current state and moves toward the state the
call asks for, so a repeated key (a Temporal retry) finds the work done and changes nothing.
Errors leave every public method classified (activities/botocore_errors.py). Waits poll with
heartbeats and give up retryably after `wait_timeout_s` (aws_waits.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from activities.botocore_errors import mapped
from activities.clouds.aws_clients import TAG_PROMOTE, AwsClients, EventHook, tags_of, token
from activities.clouds.aws_groups import GroupNames, Groups, majority
from activities.clouds.aws_preflight import AwsPreflight
from activities.clouds.aws_signals import AwsSignals, check_group
from activities.clouds.aws_storage import AwsStorage
from activities.clouds.aws_traffic import Dns, Listener, ListenerRef
from activities.clouds.aws_waits import Waiter
from config.aws import AwsRegionConfig
from config.models import Topology
from contracts.cloud import (
    DeployResult,
    Group,
    RegionState,
    TrafficState,
)
from contracts.errors import (
    InvalidRequest,
    NotFound,
)


class AwsCloud(AwsSignals, AwsPreflight, AwsStorage):
    """CloudPort for the regions of a topology whose provider is `aws`."""

    def __init__(
        self,
        topology: Topology,
        event_hooks: Sequence[EventHook] = (),
        max_attempts: int | None = None,
    ) -> None:
        """`event_hooks` are (event, handler) pairs registered on the boto3 session (fault injection)."""
        self._topology = topology
        self._configs = {r.name: r.aws or AwsRegionConfig() for r in topology.regions if r.provider == "aws"}
        first = next(iter(self._configs.values()), AwsRegionConfig())
        self._home = next(iter(self._configs), "us-east-1")
        self._clients = AwsClients(
            {name: cfg.endpoint_url for name, cfg in self._configs.items()},
            max_attempts=max_attempts or first.max_attempts,
            event_hooks=event_hooks,
            default_endpoint=first.endpoint_url,
        )
        self._listeners: dict[tuple[str, str], ListenerRef] = {}
        self._zone_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- CloudPort: deploys -----------------------------------------------------------------

    @mapped
    def region_state(self, service: str, region: str) -> RegionState:
        """Releases of both groups (instance tags), InService count, canary weight and traffic share."""
        self._check(service, region)
        return self._state(service, region)

    @mapped
    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """At least `count` stable instances on `release`, the group's size kept (convergent)."""
        _check_count(count, release)
        self._check(service, region)
        changed = self._groups(service, region).ensure(release, count)  # within MaxSize
        return DeployResult(key=key, changed=changed, state=self._state(service, region))

    @mapped
    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Exactly `count` instances of `group` on `release`; an emptied canary gets no traffic."""
        group = check_group(group)
        _check_count(count, release)
        self._check(service, region)
        if group == "canary" and count == 0:
            self._listener(service, region).set_canary_share(0.0)
        # A canary / green group stays within its MaxSize; the stable group is only scaled by failover
        # and failback, which may raise it (the capacity is what they are for).
        changed = self._groups(service, region, grow_max=group == "stable").reshape(group, release, count)
        return DeployResult(key=key, changed=changed, state=self._state(service, region))

    @mapped
    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """Set the listener's canary share (0..1, in whole percent); refused with no canary instance."""
        if not 0.0 <= weight <= 1.0:
            raise InvalidRequest(f"AWS: canary weight must be within 0..1, got {weight}")
        self._check(service, region)
        if weight > 0 and not self._groups(service, region).members("canary"):
            raise InvalidRequest("AWS: no canary instances to send traffic to")
        self._listener(service, region).set_canary_share(weight)
        return self._state(service, region)

    @mapped
    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """Stable takes the canary's release and size, traffic back to stable, canary emptied.

        The plan (release and size) is recorded on the stable group under the key's hash before
        anything changes, so a retry after a crash finishes the same plan instead of failing on
        an already emptied canary group.
        """
        self._check(service, region)
        groups = self._groups(service, region)
        stable = groups.describe("stable")
        mark = token(key)[:16]
        plan = tags_of(stable).get(TAG_PROMOTE, "")
        if plan.startswith(mark + " "):
            _, release, size = plan.split(" ")
            count = int(size)
        else:
            canary = groups.members("canary")
            release_or_none = majority(canary)
            if release_or_none is None:
                raise InvalidRequest("AWS: no canary instances to promote")
            release, count = release_or_none, len(canary)
            groups.tag_stable(TAG_PROMOTE, f"{mark} {release} {count}")
        groups.reshape("stable", release, count)
        self._listener(service, region).set_canary_share(0.0)
        groups.reshape("canary", release, 0)
        return self._state(service, region)

    @mapped
    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Weight 0, canary emptied, exactly `count` stable instances on `release` (convergent)."""
        _check_count(count, release)
        self._check(service, region)
        groups = self._groups(service, region, grow_max=True)  # an undo must get through
        self._listener(service, region).set_canary_share(0.0)
        groups.reshape("canary", release, 0)
        groups.reshape("stable", release, count)
        return self._state(service, region)

    # --- CloudPort: global traffic ------------------------------------------------------------

    @mapped
    def traffic(self, service: str) -> TrafficState:
        """Each region's share of the service's Route 53 weighted records, summing to 1."""
        self._check_service(service)
        return TrafficState(service=service, weights=self._dns(service).shares())

    @mapped
    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """UPSERT the changed weighted records in one change batch; unchanged weights send nothing."""
        self._check_service(service)
        merged = self._dns(service).set_shares(weights, comment=f"globalops {token(key)}")
        return TrafficState(service=service, weights=merged)

    # --- internals ----------------------------------------------------------------------------

    def _ec2(self, region: str) -> Any:
        return self._clients.client("ec2", region)

    def _ebs(self, region: str) -> Any:
        return self._clients.client("ebs", region)

    def _cw(self, region: str) -> Any:
        return self._clients.client("cloudwatch", region)

    def _quotas(self, region: str) -> Any:
        return self._clients.client("service-quotas", region)

    def _waiter(self, region: str) -> Waiter:
        cfg = self._configs.get(region, AwsRegionConfig())
        return Waiter(cfg.wait_timeout_s, cfg.poll_interval_s)

    def _aws_regions(self) -> list[str]:
        return list(self._configs)

    def _check_service(self, service: str) -> None:
        if self._topology.service(service) is None:
            raise NotFound(f"AWS: service '{service}' is not in the topology")

    def _check(self, service: str, region: str) -> None:
        self._check_service(service)
        if region not in self._configs:
            raise InvalidRequest(f"AWS: region '{region}' is not an aws region of the topology")

    def _groups(self, service: str, region: str, grow_max: bool = False) -> Groups:
        """The region's groups; changes wait for new instances to serve, and stay within MaxSize
        unless `grow_max`."""
        cfg = self._configs[region]
        names = GroupNames(
            service=service,
            launch_template=cfg.named(cfg.launch_template, service),
            stable=cfg.named(cfg.stable_group, service),
            canary=cfg.named(cfg.canary_group, service),
        )

        def target_health(group: Group, ids: list[str]) -> dict[str, str]:
            return self._listener(service, region).target_health(group, ids)

        return Groups(
            self._ec2(region),
            self._clients.client("autoscaling", region),
            names,
            waiter=self._waiter(region),
            target_health=target_health,
            grow_max=grow_max,
        )

    def _subnet(self, groups: Groups) -> str | None:
        subnets = str(groups.describe("stable").get("VPCZoneIdentifier") or "")
        return subnets.split(",")[0] or None

    def _listener(self, service: str, region: str) -> Listener:
        elb = self._clients.client("elbv2", region)
        with self._lock:
            ref = self._listeners.get((service, region))
        if ref is None:
            cfg = self._configs[region]
            ref = Listener.locate(
                elb,
                cfg.named(cfg.load_balancer, service),
                cfg.listener_port,
                cfg.named(cfg.stable_target_group, service),
                cfg.named(cfg.canary_target_group, service),
            )
            with self._lock:
                self._listeners[(service, region)] = ref
        return Listener(elb, ref)

    def _dns(self, service: str) -> Dns:
        cfg = self._configs.get(self._home, AwsRegionConfig())
        r53 = self._clients.client("route53", self._home)
        zone, record = cfg.named(cfg.hosted_zone, service), cfg.named(cfg.record_name, service)
        return Dns(r53, zone, record, self._zone_ids, waiter=self._waiter(self._home))

    def _state(self, service: str, region: str) -> RegionState:
        groups = self._groups(service, region)
        stable, canary = groups.members("stable"), groups.members("canary")
        try:
            share = self._dns(service).shares().get(region, 0.0)
        except NotFound:
            share = 0.0
        return RegionState(
            region=region,
            service=service,
            release=majority(stable),
            releases=dict(Counter(m.release or "unknown" for m in (*stable, *canary))),
            instances=len(stable),
            healthy=sum(1 for m in (*stable, *canary) if m.in_service),
            traffic=share,
            canary_instances=len(canary),
            canary_release=majority(canary),
            canary_weight=self._listener(service, region).canary_share(),
        )


def _check_count(count: int, release: str) -> None:
    if count < 0:
        raise InvalidRequest(f"AWS: count must be >= 0, got {count}")
    if not release:
        raise InvalidRequest("AWS: release artifact '' does not exist")
