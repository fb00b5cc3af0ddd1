"""Traffic on AWS: the ALB listener's stable/canary weights and Route 53's weighted records per region.

Route 53 weights are integers 0..255, so the exact shares the caller asked for are kept beside
them in weighted TXT records `_shares.<record>` (same SetIdentifier = region, value
`"share=<float>"`). `traffic()` returns those shares while they still match the integer weights
(recomputed from them); if someone edited the weights by hand, it returns weight / total instead.
A share > 0 never maps to weight 0 (that would drain the region): it gets at least 1.

A change is done when Route 53 reports it INSYNC (GetChange): `set_shares` waits for that,
heartbeating meanwhile (aws_waits.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from activities.clouds.aws_waits import Done, Pending, Waiter
from contracts.errors import (
    InvalidRequest,
    NotFound,
)

#: ALB forward weights are integers; the canary's share is kept in percent of this total.
LISTENER_SCALE = 100
#: Route 53 weights are integers 0..255.
ROUTE53_MAX_WEIGHT = 255
SUM_TOLERANCE = 1e-6
SHARE_TTL = 60


def route53_weight(share: float) -> int:
    """The Route 53 weight of a share (0..1): rounded to 0..255, at least 1 when share > 0."""
    weight = round(share * ROUTE53_MAX_WEIGHT)
    return max(1, weight) if share > 0 else 0


def check_shares(requested: Mapping[str, float]) -> None:
    """InvalidRequest unless every share is a number within 0..1."""
    for region, share in requested.items():
        if not (isinstance(share, int | float) and 0.0 <= share <= 1.0):
            raise InvalidRequest(f"AWS: traffic weight of '{region}' must be within 0..1, got {share}")


@dataclass(frozen=True)
class ListenerRef:
    """The weighted listener of one service in one region, by ARN, and its load balancer's ARN."""

    listener_arn: str
    stable_arn: str
    canary_arn: str
    load_balancer_arn: str


class Listener:
    """Reads and sets the canary share of an ALB listener's forward action."""

    def __init__(self, elb: Any, ref: ListenerRef) -> None:
        self._elb = elb
        self._ref = ref

    @staticmethod
    def locate(elb: Any, load_balancer: str, port: int, stable_tg: str, canary_tg: str) -> ListenerRef:
        """Find the ARNs of the listener on `port` and of the two target groups."""
        lbs = elb.describe_load_balancers(Names=[load_balancer])["LoadBalancers"]
        listeners = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
        listener = next((x for x in listeners if int(x.get("Port", 0)) == port), None)
        if listener is None:
            raise NotFound(f"AWS: load balancer '{load_balancer}' has no listener on port {port}")
        groups = elb.describe_target_groups(Names=[stable_tg, canary_tg])["TargetGroups"]
        arns = {str(g["TargetGroupName"]): str(g["TargetGroupArn"]) for g in groups}
        return ListenerRef(
            str(listener["ListenerArn"]), arns[stable_tg], arns[canary_tg], str(lbs[0]["LoadBalancerArn"])
        )

    @property
    def ref(self) -> ListenerRef:
        """The ARNs of the listener, its target groups and its load balancer."""
        return self._ref

    def target_group_arn(self, group: str) -> str:
        """The ARN of the stable or canary target group."""
        return self._ref.canary_arn if group == "canary" else self._ref.stable_arn

    def target_health(self, group: str, instance_ids: list[str]) -> dict[str, str]:
        """instance id -> target health state ("healthy", "initial", "unhealthy", ...) in the group's
        target group; an instance the target group does not know is "unused"."""
        found = self._elb.describe_target_health(
            TargetGroupArn=self.target_group_arn(group), Targets=[{"Id": i} for i in instance_ids]
        )["TargetHealthDescriptions"]
        return {str(d["Target"]["Id"]): str(d.get("TargetHealth", {}).get("State", "")) for d in found}

    def weights(self) -> tuple[int, int]:
        """(stable, canary) forward weights of the listener's default action."""
        listener = self._elb.describe_listeners(ListenerArns=[self._ref.listener_arn])["Listeners"][0]
        stable = canary = 0
        for action in listener.get("DefaultActions", []):
            if action.get("Type") != "forward":
                continue
            groups = action.get("ForwardConfig", {}).get("TargetGroups")
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
            for tg in groups or []:
                if tg["TargetGroupArn"] == self._ref.stable_arn:
                    stable = int(tg.get("Weight", 1))
                elif tg["TargetGroupArn"] == self._ref.canary_arn:
                    canary = int(tg.get("Weight", 1))
        return stable, canary

    def canary_share(self) -> float:
        """The canary's share of the region's traffic per the listener, 0..1."""
        stable, canary = self.weights()
        return canary / (stable + canary) if stable + canary else 0.0

    def set_canary_share(self, share: float) -> None:
        """Forward `share` of the traffic to the canary target group (no call if already so)."""
        canary = round(share * LISTENER_SCALE)
        wanted = (LISTENER_SCALE - canary, canary)
        if self.weights() == wanted:
            return
        self._elb.modify_listener(
            ListenerArn=self._ref.listener_arn,
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": self._ref.stable_arn, "Weight": wanted[0]},
                            {"TargetGroupArn": self._ref.canary_arn, "Weight": wanted[1]},
                        ]
                    },
                }
            ],
        )


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Dns:
    """The weighted records of one service in one hosted zone."""

    def __init__(
        self,
        r53: Any,
        zone: str,
        record: str,
        zone_ids: dict[str, str] | None = None,
        waiter: Waiter | None = None,
        ttl: int | None = None,
    ) -> None:
        """`zone_ids` caches zone name -> id across calls (the adapter keeps one per instance); with a
        `waiter`, a change is waited for until Route 53 reports it INSYNC; with a `ttl` (the global
        traffic layer's), every record it writes gets that TTL, and a record with another is rewritten."""
        self._r53 = r53
        self._ttl = ttl
        self._waiter = waiter
        self._zone = _fqdn(zone)
        self._zone_ids = zone_ids if zone_ids is not None else {}
        self.name = _fqdn(f"{record}.{self._zone}")
        self.share_name = "_shares." + self.name

    def zone_id(self) -> str:
        """The hosted zone's id, looked up by name once."""
        cached = self._zone_ids.get(self._zone)
        if cached is not None:
            return cached
        found = self._r53.list_hosted_zones_by_name(DNSName=self._zone, MaxItems="1")["HostedZones"]
        if not found or _fqdn(found[0]["Name"]) != self._zone:
            raise NotFound(f"AWS: Route 53 hosted zone '{self._zone}' does not exist")
        zone_id = str(found[0]["Id"]).split("/")[-1]
        self._zone_ids[self._zone] = zone_id  # a dict item store: atomic under the GIL
        return zone_id

    def records(self) -> list[dict[str, Any]]:
        """Every weighted record set at the service's names (serving and share records).

        Route 53 lists names in reversed-label order, so the service's name and the names under
        it (the share records) come together: the listing stops at the first name past them.
        """
        request: dict[str, Any] = {"HostedZoneId": self.zone_id(), "StartRecordName": self.name}
        out: list[dict[str, Any]] = []
        names = {self.name, self.share_name}
        while True:
            page = self._r53.list_resource_record_sets(**request)
            for rs in page.get("ResourceRecordSets", []):
                name = _fqdn(rs["Name"])
                if name != self.name and not name.endswith("." + self.name):
                    return out
                if name in names and rs.get("SetIdentifier"):
                    out.append(rs)
            if not page.get("IsTruncated"):
                return out
            request["StartRecordName"] = page["NextRecordName"]
            request["StartRecordType"] = page["NextRecordType"]
            if "NextRecordIdentifier" in page:
                request["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    def read(self) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float], dict[str, float | None]]:
        """(serving record sets per region, Route 53 weights, stored exact shares) of the service."""
        serving: dict[str, list[dict[str, Any]]] = {}
        stored: dict[str, float | None] = {}
        for rs in self.records():
            region = str(rs["SetIdentifier"])
            if _fqdn(rs["Name"]) == self.share_name and rs["Type"] == "TXT":
                stored[region] = _parse_share(rs)
            elif _fqdn(rs["Name"]) == self.name:
                serving.setdefault(region, []).append(rs)
        weights = {r: float(sets[0].get("Weight", 0)) for r, sets in serving.items()}
        return serving, weights, {r: stored.get(r) for r in serving}

    def shares(self) -> dict[str, float]:
        """Each region's share of the service's traffic, summing to 1 (see the module docstring)."""
        _, weights, stored = self.read()
        if not weights:
            raise NotFound(f"AWS: no weighted records '{self.name}' in zone '{self._zone}'")
        exact = {r: s for r, s in stored.items() if s is not None}
        if len(exact) == len(weights) and all(route53_weight(exact[r]) == weights[r] for r in weights):
            total = math.fsum(exact.values())
            if abs(total - 1.0) <= SUM_TOLERANCE:
                return exact
        total = math.fsum(weights.values())
        if total == 0:  # Route 53 answers every record equally when all weights are 0
            return {r: 1.0 / len(weights) for r in weights}
        return {r: w / total for r, w in weights.items()}

    def set_shares(self, requested: Mapping[str, float], comment: str) -> dict[str, float]:
        """Set the named regions' shares (others keep theirs); nothing is sent if nothing changes."""
        check_shares(requested)
        serving, weights, stored = self.read()
        unknown = sorted(r for r in requested if r not in serving)
        if unknown:
            raise NotFound(f"AWS: no weighted record of region(s) {', '.join(unknown)} at '{self.name}'")
        current = self.shares()
        merged = {**current, **{r: float(s) for r, s in requested.items()}}
        total = math.fsum(merged.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise InvalidRequest(f"AWS: weights must sum to 1, got {total:.6g}")
        changes: list[dict[str, Any]] = []
        for region, share in merged.items():
            weight = route53_weight(share)
            stale_ttl = self._ttl is not None and any(
                "TTL" in rs and int(rs["TTL"]) != self._ttl for rs in serving[region]
            )
            if weights[region] != weight or stored[region] != share or stale_ttl:
                changes += [_upsert(rs, weight, self._ttl) for rs in serving[region]]
                ttl = SHARE_TTL if self._ttl is None else self._ttl
                share_rs = _share_record(self.share_name, region, share, ttl)
                changes.append(_upsert(share_rs, weight))
        if changes:
            sent = self._r53.change_resource_record_sets(
                HostedZoneId=self.zone_id(), ChangeBatch={"Comment": comment[:256], "Changes": changes}
            )
            self.wait_in_sync(str(sent["ChangeInfo"]["Id"]), str(sent["ChangeInfo"].get("Status", "")))
        return merged

    def wait_in_sync(self, change_id: str, status: str = "") -> None:
        """Wait until Route 53 has applied the change on all its name servers (status INSYNC)."""
        if self._waiter is None or status == "INSYNC":
            return

        def check() -> Done[None] | Pending:
            now = str(self._r53.get_change(Id=change_id)["ChangeInfo"]["Status"])
            return Done(None) if now == "INSYNC" else Pending(f"change {change_id} {now}")

        self._waiter.until(f"Route 53 change {change_id} of {self.name} INSYNC", check)


def _upsert(record_set: Mapping[str, Any], weight: int, ttl: int | None = None) -> dict[str, Any]:
    """An UPSERT of the record set with a new weight (and TTL; an alias record has none of its own)."""
    changed: dict[str, Any] = {**record_set, "Weight": weight}
    if ttl is not None and "AliasTarget" not in record_set:
        changed["TTL"] = ttl
    return {"Action": "UPSERT", "ResourceRecordSet": changed}


def _share_record(name: str, region: str, share: float, ttl: int = SHARE_TTL) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "TXT",
        "SetIdentifier": region,
        "Weight": route53_weight(share),
        "TTL": ttl,
        "ResourceRecords": [{"Value": f'"share={share!r}"'}],
    }


def _parse_share(record_set: Mapping[str, Any]) -> float | None:
    for rr in record_set.get("ResourceRecords", []):
        value = str(rr.get("Value", "")).strip('"')
        if value.startswith("share="):
            try:
                share = float(value.removeprefix("share="))
            except ValueError:
                return None
            return share if 0.0 <= share <= 1.0 else None
    return None
