"""How the sim's stable and canary / green groups change, share traffic and look to health and metrics."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from activities.clouds import sim_store as store
from contracts.cloud import (
    Group,
    HealthSample,
    MetricSeries,
    RegionState,
)
from contracts.errors import InvalidRequest

BASELINE_ERROR_RATE = 0.002
BASELINE_LATENCY_MS = 80.0
OUTAGE_LATENCY_MS = 30_000.0
REQUESTS_PER_REGION = 2000
PREVIEW_REQUESTS = 200  # synthetic test traffic a group gets while it takes no live traffic
METRIC_POINTS = 60  # a metrics window is always cut into this many points (window_s / 60 each)
SOURCE = "sim"  # what a HealthSample of the simulated cloud names as the source of its numbers
GROUPS: tuple[Group, ...] = get_args(Group)


def check_group(group: str) -> Group:
    """`group` as a Group, or InvalidRequest (callers may not be type-checked)."""
    for known in GROUPS:
        if group == known:
            return known
    raise InvalidRequest(f"sim: group must be one of {', '.join(GROUPS)}, got '{group}'")


def majority(instances: Sequence[store.Instance]) -> str | None:
    """The release most of `instances` run (a tie goes to the newest release), None if empty."""
    releases = Counter(i.release for i in instances)
    # instances come oldest first, so each release maps to its newest instance
    newest = {i.release: i.seq for i in instances}
    return max(releases, key=lambda r: (releases[r], newest[r])) if releases else None


def reshape(
    conn: sqlite3.Connection,
    service: str,
    region: str,
    group: Group,
    release: str,
    count: int,
    key: str | None,
) -> int:
    """Make `group` exactly `count` instances on `release`; returns created + deleted + replaced.

    Instances already on `release` are kept (the oldest ones; extras go newest first), the
    oldest others are replaced while the group is short, the rest of the others are deleted
    and any shortfall is created. Removing the canary group also routes its traffic back.
    """
    current = store.instances(conn, service, region, group)
    on = [i for i in current if i.release == release]
    off = [i for i in current if i.release != release]
    kept = on[:count]
    extra = on[count:]
    need = count - len(kept)
    replaced, dropped = off[:need], off[need:]
    created = need - len(replaced)
    store.delete_instances(conn, [i.seq for i in (*extra, *replaced, *dropped)])
    store.add_instances(conn, service, region, release, len(replaced) + created, key, group)
    if group == "canary" and count == 0:
        store.set_canary_weight(conn, service, region, 0.0)
    return created + len(extra) + len(dropped) + len(replaced)


def _canary_share(stable: Sequence[store.Instance], canary: Sequence[store.Instance], weight: float) -> float:
    """The canary group's real share of the region's traffic: an empty group can serve none."""
    if not canary:
        return 0.0
    if not stable:
        return 1.0
    return weight


def shares(conn: sqlite3.Connection, service: str, region: str) -> dict[Group, float]:
    """Each group's share of the region's live traffic (the two add up to 1)."""
    stable = store.instances(conn, service, region, "stable")
    canary = store.instances(conn, service, region, "canary")
    w = _canary_share(stable, canary, store.canary_weight(conn, service, region))
    return {"stable": 1.0 - w, "canary": w}


def impact(
    instances: Sequence[store.Instance],
    faults: Sequence[store.ReleaseFault],
    region: str,
    loaded: bool,
) -> tuple[float, float]:
    """Mean error rate and extra latency of a group's instances (`loaded`: it serves live traffic)."""
    if not instances:
        return 0.0, 0.0
    errors, latencies = 0.0, 0.0
    for inst in instances:
        fault = next((f for f in faults if f.applies(inst.release, region, loaded)), None)
        errors += fault.error_rate if fault else BASELINE_ERROR_RATE
        latencies += fault.latency_ms if fault else 0.0
    return errors / len(instances), latencies / len(instances)


def region_requests(conn: sqlite3.Connection, service: str, region: str) -> int:
    """Requests the region serves per sample: its share of the service's global traffic.

    A region without live traffic (failed over, or not yet serving) still gets synthetic checks.
    """
    weight = store.traffic_weight(conn, service, region)
    n_regions = len(store.seeded_regions(conn, service))
    return int(REQUESTS_PER_REGION * weight * n_regions) or PREVIEW_REQUESTS


def point(error_rate: float, latency_ms: float) -> tuple[float, float]:
    """One noisy data point of a group: its error rate (at most 1) and its p99 latency in ms."""
    return min(1.0, error_rate * random.uniform(0.8, 1.2)), latency_ms * random.uniform(0.93, 1.07)


@dataclass(frozen=True)
class Load:
    """What the instances of one release in one group serve: the sim's truth, without noise."""

    group: Group
    release: str
    instances: int
    requests: float  # per sample, like HealthSample.requests (the exporter reads it as per second)
    error_rate: float
    latency_p99_ms: float


def loads(conn: sqlite3.Connection, service: str, region: str) -> list[Load]:
    """Per group and release, oldest release first: the requests it serves, their errors and p99.

    A group serves its share of the region's requests, split by instances between its releases;
    a group without live traffic gets preview requests (which do not trigger `under_load`
    faults). A region in an outage serves nothing. A metrics gap changes nothing here: the
    service still serves, only its numbers do not arrive (callers decide what to report).
    """
    if store.has_outage(conn, region):
        return []
    faults = store.release_faults(conn)
    requests = region_requests(conn, service, region)
    result: list[Load] = []
    for group, share in shares(conn, service, region).items():
        members = store.instances(conn, service, region, group)
        group_requests = requests * share if share > 0.0 else PREVIEW_REQUESTS
        for release, count in Counter(i.release for i in members).items():
            on = [i for i in members if i.release == release]
            error, latency = impact(on, faults, region, loaded=share > 0.0)
            result.append(
                Load(
                    group=group,
                    release=release,
                    instances=count,
                    requests=group_requests * count / len(members),
                    error_rate=error,
                    latency_p99_ms=BASELINE_LATENCY_MS + latency,
                )
            )
    return result


def state(conn: sqlite3.Connection, service: str, region: str) -> RegionState:
    """What the region runs: the stable group, the canary / green group and its weight."""
    stable = store.instances(conn, service, region, "stable")
    canary = store.instances(conn, service, region, "canary")
    total = len(stable) + len(canary)
    return RegionState(
        region=region,
        service=service,
        release=majority(stable),
        releases=dict(Counter(i.release for i in (*stable, *canary))),
        instances=len(stable),
        healthy=0 if store.has_outage(conn, region) else total,
        traffic=store.traffic_weight(conn, service, region),
        canary_instances=len(canary),
        canary_release=majority(canary),
        canary_weight=store.canary_weight(conn, service, region),
    )


def sample(conn: sqlite3.Connection, service: str, region: str) -> HealthSample:
    """One noisy health sample of the region: each group's faults weighted by its traffic."""
    stable = store.instances(conn, service, region, "stable")
    canary = store.instances(conn, service, region, "canary")
    total = len(stable) + len(canary)
    if store.has_outage(conn, region):
        return HealthSample(
            region=region,
            healthy_instances=0,
            instances=total,
            error_rate=1.0,
            latency_p99_ms=OUTAGE_LATENCY_MS,
            cpu=0.0,
            requests=0,
            source=SOURCE,
        )
    if store.has_metrics_gap(conn, region):  # up and serving, but no numbers arrive: unknown, not 0
        return HealthSample(region=region, healthy_instances=total, instances=total, source=SOURCE)
    faults = store.release_faults(conn)
    w = _canary_share(stable, canary, store.canary_weight(conn, service, region))
    stable_err, stable_lat = impact(stable, faults, region, loaded=w < 1.0)
    canary_err, canary_lat = impact(canary, faults, region, loaded=w > 0.0)
    error_rate = min(1.0, ((1 - w) * stable_err + w * canary_err) * random.uniform(0.9, 1.1))
    latency = (BASELINE_LATENCY_MS + (1 - w) * stable_lat + w * canary_lat) * random.uniform(0.95, 1.05)
    return HealthSample(
        region=region,
        healthy_instances=total,
        instances=total,
        error_rate=error_rate,
        latency_p99_ms=latency,
        cpu=random.uniform(0.35, 0.45),
        requests=region_requests(conn, service, region),
        source=SOURCE,
    )


def series(conn: sqlite3.Connection, service: str, region: str, group: Group) -> MetricSeries:
    """METRIC_POINTS noisy points of one group's error rate and p99 latency; empty if no instances.

    A group that takes no live traffic still gets preview requests, which do not trigger
    `under_load` faults: a load-dependent bug stays hidden until the weight moves.
    """
    members = store.instances(conn, service, region, group)
    if not members:
        return MetricSeries(region=region, group=group, release=None)
    if store.has_metrics_gap(conn, region):
        return MetricSeries(region=region, group=group, release=majority(members))
    share = shares(conn, service, region)[group]
    error, latency = impact(members, store.release_faults(conn), region, loaded=share > 0.0)
    points = [point(error, BASELINE_LATENCY_MS + latency) for _ in range(METRIC_POINTS)]
    return MetricSeries(
        region=region,
        group=group,
        release=majority(members),
        error_rate=[e for e, _ in points],
        latency_p99_ms=[p99 for _, p99 in points],
        requests=int(REQUESTS_PER_REGION * share) if share > 0.0 else PREVIEW_REQUESTS,
    )
