"""Pure readiness decisions: for each region, can it fail over and be recovered today, and why not.

The target rules are the failover's own (`choose_target`, `reach_problem`, `needed_instances` in
workflows/logic/failover.py) and the copy rules the recovery's (`target_problem`, `copy_destination`
in workflows/logic/dr.py), so readiness gives the reasons a failover or a recovery would give. No I/O,
no clock: the workflow gathers the facts and passes `now`. Unknown is never fine (fail closed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.durations import format_duration
    from config.models import Policies, Provider, Topology
    from contracts.failover import Candidate, TargetChoice
    from contracts.readiness import (
        Check,
        CheckName,
        ReadinessState,
        RegionReadiness,
        StateChange,
    )
    from contracts.storage import Snapshot

from workflows.logic.dr import copy_destination, drill_regions, residency_applies, target_problem
from workflows.logic.failover import choose_target, needed_instances, reach_problem
from workflows.logic.markdown import state, table

__all__ = [
    "Facts",
    "Plan",
    "changes",
    "evaluate_region",
    "markdown",
    "plan",
    "previous_states",
]


@dataclass(frozen=True)
class Plan:
    """Where a region's traffic would go: the failover's choice, and the region it checks lag and
    capacity of (the choice, else the nearest allowed healthy region: what the failover would pick
    if its lag and capacity qualified)."""

    choice: TargetChoice
    allowed: list[str]
    candidate: Candidate | None
    needed: int
    surge: int


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def plan(
    failed: Candidate,
    candidates: Sequence[Candidate],
    topology: Topology,
    policies: Policies,
    service: str,
    layer_regions: Collection[str] = (),
) -> Plan:
    """The failover's target choice for `failed` (automatic: replica lag must be known) and what it needs.

    With the topology's global traffic layer, a target is reachable when it has a record in it
    (`layer_regions`: the regions the layer answered weights for); without one, on the same provider.
    """
    layer = topology.traffic.provider if topology.traffic else None
    residency = residency_applies(topology, service)
    others = [c for c in candidates if c.region != failed.region]
    group = topology.group_of(failed.jurisdiction)
    allowed = [
        c
        for c in others
        if (not residency or topology.group_of(c.jurisdiction) == group)
        and _unreachable(failed, c.region, c.provider, layer, layer_regions) is None
    ]
    moved = failed.traffic
    choice = choose_target(
        failed,
        others,
        residency=residency,
        group_of=topology.group_of,
        moved_traffic=moved,
        rpo_target_s=policies.failover.rpo_target,
        require_lag=True,
        layer=layer,
        layer_regions=layer_regions,
    )
    healthy = [c for c in allowed if c.healthy and not c.blind]
    chosen = next((c for c in allowed if c.region == choice.target), None)
    candidate = chosen or min(healthy, key=lambda c: (c.latency_ms, c.region), default=None)
    if candidate is None:
        return Plan(choice, [c.region for c in allowed], None, 0, 0)
    needed = needed_instances(candidate, moved)
    return Plan(choice, [c.region for c in allowed], candidate, needed, max(0, needed - candidate.instances))


def _unreachable(
    failed: Candidate, target: str, provider: Provider, layer: str | None, layer_regions: Collection[str]
) -> str | None:
    return reach_problem(
        failed.region, failed.provider, provider, target=target, layer=layer, layer_regions=layer_regions
    )


def _target(
    failed: Candidate, p: Plan, topology: Topology, service: str, layer_regions: Collection[str]
) -> Check:
    if p.choice.target is not None:
        return Check(name="target", ok=True, detail=f"fails over to {p.choice.target}")
    if not p.allowed:
        residency = residency_applies(topology, service)
        group = topology.group_of(failed.jurisdiction)
        members = [
            r
            for r in topology.regions
            if r.name != failed.region and (not residency or topology.group_of(r.jurisdiction) == group)
        ]
        layer = topology.traffic.provider if topology.traffic else None
        if not members:
            where = f" in jurisdiction group {group} (data residency)" if residency else ""
            return Check(name="target", ok=False, detail=f"cannot fail over: no other region{where}")
        why = "; ".join(
            f"{r.name} {_unreachable(failed, r.name, r.provider, layer, layer_regions)}" for r in members
        )
        return Check(name="target", ok=False, detail=f"cannot fail over: {why}")
    why = "; ".join(f"{r.region}: {r.reason}" for r in p.choice.rejected if r.region in p.allowed)
    return Check(name="target", ok=False, detail=f"no failover target qualifies ({why})")


def _capacity(p: Plan, quota: Mapping[str, str | None], failed: str) -> Check:
    c = p.candidate
    if c is None:
        return Check(name="capacity", ok=None, detail="no healthy target to scale")
    if p.needed > c.max_instances:
        return Check(
            name="capacity",
            ok=False,
            detail=f"{c.region} needs {p.needed} instances for {failed}'s load, limit {c.max_instances}",
        )
    if p.surge == 0:
        return Check(
            name="capacity", ok=True, detail=f"{c.region} serves {failed}'s load with {c.instances} instances"
        )
    if failed not in quota:
        return Check(name="capacity", ok=False, detail=f"quota of {c.region} unknown: not read")
    problem = quota[failed]
    if problem is not None:
        return Check(
            name="capacity", ok=False, detail=f"{c.region} cannot add {p.surge} instances: {problem}"
        )
    return Check(name="capacity", ok=True, detail=f"{c.region} can add the {p.surge} instances it needs")


def _lag(p: Plan, rpo: float) -> Check:
    c = p.candidate
    if c is None:
        return Check(name="replica_lag", ok=None, detail="no healthy target to replicate to")
    if c.replica_lag_s is None:
        return Check(name="replica_lag", ok=False, detail=f"replica lag of {c.region} unknown (fail closed)")
    if c.replica_lag_s > rpo:
        return Check(
            name="replica_lag",
            ok=False,
            detail=f"replica lag of {c.region} {c.replica_lag_s:g}s > RPO target {rpo:g}s",
        )
    return Check(name="replica_lag", ok=True, detail=f"replica lag of {c.region} {c.replica_lag_s:g}s")


def _snapshot(
    region: str, mine: list[Snapshot], unreadable: Sequence[str], now: datetime, rpo: float
) -> Check:
    if not mine:
        unread = f" (unreadable: {', '.join(unreadable)})" if unreadable else ""
        return Check(name="snapshot", ok=False, detail=f"no snapshot of {region} found{unread}")
    newest = max(mine, key=lambda s: s.taken_at)
    age = _age(now, newest.taken_at)
    shown = f"newest snapshot {format_duration(age)} old"
    if age > rpo:
        return Check(name="snapshot", ok=False, detail=f"{shown} > RPO target {format_duration(rpo)}")
    return Check(name="snapshot", ok=True, detail=shown)


def _copy(
    region: str, mine: list[Snapshot], topology: Topology, service: str, now: datetime, rpo: float
) -> tuple[Check, str | None]:
    copies = [s for s in mine if s.region != region]
    allowed = [s for s in copies if target_problem(topology, service, region, s.region) is None]
    encrypted = [s for s in allowed if s.encrypted]
    if encrypted:
        newest = max(encrypted, key=lambda s: s.taken_at)
        age = _age(now, newest.taken_at)
        shown = f"encrypted copy in {newest.region} {format_duration(age)} old"
        if age > rpo:
            return Check(
                name="encrypted_copy", ok=False, detail=f"{shown} > RPO target {format_duration(rpo)}"
            ), newest.region
        return Check(name="encrypted_copy", ok=True, detail=shown), newest.region
    if allowed:
        where = ", ".join(sorted({s.region for s in allowed}))
        return Check(name="encrypted_copy", ok=False, detail=f"copies in {where} are not encrypted"), None
    if copies:
        problem = target_problem(topology, service, region, copies[0].region)
        return Check(name="encrypted_copy", ok=False, detail=f"no copy in an allowed region: {problem}"), None
    destination, why = copy_destination(topology, service, region)
    if destination is None:
        return Check(name="encrypted_copy", ok=False, detail=f"no copy: {why}"), None
    return Check(
        name="encrypted_copy", ok=False, detail=f"no copy of {region} in another region yet ({why})"
    ), None


def _passed(
    name: CheckName, what: str, last: datetime | None, now: datetime, max_age: float | None, error: str | None
) -> Check:
    """When `what` last passed, against `max_age` (None: reported, never a reason); `error`: the history
    could not be read, so when is unknown (a reason wherever the age is held to a limit)."""
    limit = "reported only" if max_age is None else f"limit {format_duration(max_age)}"
    if error is not None:
        return Check(name=name, ok=max_age is None, detail=f"last passed {what} unknown: {error} ({limit})")
    if last is None:
        return Check(name=name, ok=max_age is None, detail=f"never passed a {what} ({limit})")
    age = _age(now, last)
    return Check(
        name=name,
        ok=max_age is None or age <= max_age,
        detail=f"last passed {what} {format_duration(age)} ago ({limit})",
    )


def _drill(
    region: str, facts: Facts, now: datetime, topology: Topology, policies: Policies, service: str
) -> Check:
    """Held to drill_max_age only if the drills rehearse the region (policies.dr.drill.regions)."""
    last, error = facts.last_drill.get(region), facts.history_error
    if region in drill_regions(topology, [], policies.dr.drill.regions, service):
        return _passed("drill", "DR drill", last, now, policies.readiness.drill_max_age, error)
    seen = _passed("drill", "DR drill", last, now, None, error)
    return Check(name="drill", ok=True, detail=f"not rehearsed by the drills; {seen.detail}")


@dataclass(frozen=True)
class Facts:
    """What the workflow read for one service: every region as a failover candidate, the quota answers
    for the targets that must scale (failed region -> problem, None = fits), every snapshot found, the
    regions whose snapshots could not be listed, and when each region last passed a practice and a drill
    (`history_error`: why that could not be read), and the regions with a record in the topology's
    global traffic layer (`layer_regions`; empty without a layer, or when the layer could not be read)."""

    candidates: Sequence[Candidate]
    quota: Mapping[str, str | None]
    snapshots: Sequence[Snapshot]
    unreadable: Sequence[str]
    last_practice: Mapping[str, datetime]
    last_drill: Mapping[str, datetime]
    history_error: str | None = None
    layer_regions: frozenset[str] = frozenset()


def evaluate_region(
    region: str, facts: Facts, topology: Topology, policies: Policies, service: str, now: datetime
) -> RegionReadiness:
    """Every check of one region; not ready when any check failed, with every failed check a reason."""
    config = topology.region(region)
    failed = next(c for c in facts.candidates if c.region == region)
    p = plan(failed, facts.candidates, topology, policies, service, facts.layer_regions)
    rpo = policies.dr.rpo_target
    mine = [s for s in facts.snapshots if s.source_region == region and s.service == service]
    copy, copy_region = _copy(region, mine, topology, service, now, rpo)
    checks = [
        _target(failed, p, topology, service, facts.layer_regions),
        _capacity(p, facts.quota, region),
        _lag(p, policies.failover.rpo_target),
        _snapshot(region, mine, facts.unreadable, now, rpo),
        copy,
        _passed(
            "practice",
            "failover practice",
            facts.last_practice.get(region),
            now,
            policies.readiness.practice_max_age,
            facts.history_error,
        ),
        _drill(region, facts, now, topology, policies, service),
    ]
    reasons = [c.detail for c in checks if c.ok is False]
    newest = max((s.taken_at for s in mine), default=None)
    return RegionReadiness(
        region=region,
        provider=config.provider,
        jurisdiction=config.jurisdiction,
        state="not_ready" if reasons else "ready",
        reasons=reasons,
        checks=checks,
        target=p.choice.target,
        newest_snapshot_age_s=None if newest is None else _age(now, newest),
        encrypted_copy_region=copy_region,
        target_replica_lag_s=p.candidate.replica_lag_s if p.candidate else None,
        last_practice=facts.last_practice.get(region),
        last_drill=facts.last_drill.get(region),
    )


def changes(
    previous: Mapping[str, ReadinessState] | None, current: Sequence[RegionReadiness]
) -> list[StateChange]:
    """Regions whose state differs from the previous evaluation. With none before (or a region new since),
    a not-ready region is a change (from unknown) and a ready one is not: ready is what is expected."""
    found = []
    for r in current:
        before = previous.get(r.region) if previous is not None else None
        if before != r.state and (before is not None or r.state == "not_ready"):
            found.append(StateChange(region=r.region, before=before, after=r.state))
    return found


def previous_states(regions: Sequence[str], not_ready: Sequence[str]) -> dict[str, ReadinessState]:
    """The states of a previous evaluation from its search attributes (its regions and its not-ready ones)."""
    return {r: ("not_ready" if r in not_ready else "ready") for r in regions}


def markdown(
    service: str, regions: Sequence[RegionReadiness], evaluated_at: datetime, order: Sequence[str]
) -> str:
    """The Web UI details: a header line, then one row per region in `order` with its reasons."""
    rank = {name: i for i, name in enumerate(order)}
    rows = [
        [r.region, state(r.state), r.target or "none", "; ".join(r.reasons)]
        for r in sorted(regions, key=lambda r: rank.get(r.region, len(rank)))
    ]
    bad = sum(1 for r in regions if r.state == "not_ready")
    when = f"{evaluated_at:%Y-%m-%d %H:%M} UTC"
    head = f"**readiness {service}** · {bad} of {len(regions)} regions not ready · {when}"
    return "\n".join([head, "", *table(["Region", "State", "Target", "Reasons"], rows)])
