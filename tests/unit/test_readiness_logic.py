"""Pure readiness decisions: every check and its reason, fail closed on unknown lag and missing snapshots,
changes against the previous evaluation, the Web UI details; and the shipped topology's lonely regions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.loader import load_policies, load_topology
from config.models import Policies, Topology
from config.traffic import GlobalTraffic
from contracts.failover import Candidate
from contracts.readiness import RegionReadiness
from contracts.storage import Snapshot
from workflows.logic.dr import copy_destination
from workflows.logic.readiness import Facts, changes, evaluate_region, markdown, plan, previous_states

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LONELY = {
    "ca-central-1",
    "eu-west-2",
    "ap-northeast-1",
    "me-south-1",
    "af-south-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
}


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology()


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies()


def snap(
    source: str, region: str, age: timedelta, *, encrypted: bool = True, service: str = "checkout"
) -> Snapshot:
    return Snapshot(
        id=f"{source}@{region}-{age.total_seconds():g}",
        service=service,
        region=region,
        source_region=source,
        taken_at=NOW - age,
        checksum="c",
        watermark=1,
        key="k",
        copy_of=None if region == source else "orig",
        encrypted=encrypted,
        kms_key="key" if encrypted else None,
    )


def candidates(topology: Topology, **changed: Mapping[str, Any]) -> list[Candidate]:
    """Every region healthy, 1/16 of the traffic, 4 of 12 instances, lag 1 s; `changed` per region."""
    return [
        Candidate(
            region=r.name,
            jurisdiction=r.jurisdiction,
            provider=r.provider,
            healthy=True,
            traffic=1 / 16,
            instances=4,
            max_instances=12,
            latency_ms=r.latency_ms,
            replica_lag_s=1.0,
        ).model_copy(update=dict(changed.get(r.name.replace("-", "_"), {})))
        for r in topology.regions
    ]


def good_snapshots(topology: Topology) -> list[Snapshot]:
    found = []
    for r in topology.regions:
        found.append(snap(r.name, r.name, HOUR))
        dest = copy_destination(topology, "checkout", r.name)[0]
        if dest:
            found.append(snap(r.name, dest, HOUR))
    return found


def facts(topology: Topology, **overrides: Any) -> Facts:
    passed = {r: NOW - timedelta(days=1) for r in topology.region_names()}
    base: dict[str, Any] = {
        "candidates": candidates(topology),
        "quota": {r: None for r in topology.region_names()},
        "snapshots": good_snapshots(topology),
        "unreadable": [],
        "last_practice": passed,
        "last_drill": passed,
    }
    return Facts(**(base | overrides))


def evaluate(topology: Topology, policies: Policies, region: str, **overrides: Any) -> RegionReadiness:
    return evaluate_region(region, facts(topology, **overrides), topology, policies, "checkout", NOW)


def check(r: RegionReadiness, name: str) -> tuple[bool | None, str]:
    found = next(c for c in r.checks if c.name == name)
    return found.ok, found.detail


# ----- the shipped topology ---------------------------------------------------------------------------


def test_on_the_shipped_topology_exactly_the_regions_alone_in_their_jurisdiction_are_not_ready(
    topology: Topology, policies: Policies
) -> None:
    found = {n: evaluate(topology, policies, n) for n in topology.region_names()}
    assert {n for n, r in found.items() if r.state == "not_ready"} == LONELY
    ca = found["ca-central-1"]
    assert ca.reasons == [
        "cannot fail over: no other region in jurisdiction group CA (data residency)",
        "no copy: no other region in jurisdiction group CA: the snapshot stays in ca-central-1 only",
    ]
    assert ca.target is None and ca.provider == "sim" and ca.jurisdiction == "CA"
    assert check(ca, "capacity") == (None, "no healthy target to scale")
    assert check(ca, "replica_lag") == (None, "no healthy target to replicate to")
    assert ca.target_replica_lag_s is None and ca.encrypted_copy_region is None
    east = found["us-east-1"]
    assert east.state == "ready" and east.reasons == [] and east.target == "us-central1"
    assert [c.name for c in east.checks] == [
        "target",
        "capacity",
        "replica_lag",
        "snapshot",
        "encrypted_copy",
        "practice",
        "drill",
    ]
    assert all(c.ok is True for c in east.checks)
    assert check(east, "target") == (True, "fails over to us-central1")
    assert check(east, "capacity") == (True, "us-central1 can add the 4 instances it needs")
    assert check(east, "replica_lag") == (True, "replica lag of us-central1 1s")
    assert check(east, "snapshot") == (True, "newest snapshot 1h old")
    assert check(east, "encrypted_copy") == (True, "encrypted copy in us-west-2 1h old")
    assert check(east, "practice") == (True, "last passed failover practice 1d ago (limit 8d)")
    assert check(east, "drill") == (True, "last passed DR drill 1d ago (limit 8d)")
    assert east.newest_snapshot_age_s == 3600 and east.encrypted_copy_region == "us-west-2"
    assert east.target_replica_lag_s == 1.0
    assert east.last_practice == east.last_drill == NOW - timedelta(days=1)


def test_without_residency_a_lonely_region_fails_over_abroad(topology: Topology, policies: Policies) -> None:
    services = [s.model_copy(update={"data_residency": False}) for s in topology.services]
    open_topology = topology.model_copy(update={"services": services})
    ca = evaluate(open_topology, policies, "ca-central-1")
    assert ca.target == "us-east-1" and check(ca, "target")[0] is True


def test_a_region_alone_in_the_topology_has_nowhere_to_go(topology: Topology, policies: Policies) -> None:
    services = [s.model_copy(update={"data_residency": False}) for s in topology.services]
    alone = topology.model_copy(update={"services": services, "regions": [topology.region("us-east-1")]})
    r = evaluate(alone, policies, "us-east-1", candidates=candidates(alone))
    assert check(r, "target") == (False, "cannot fail over: no other region")


# ----- target, capacity, lag ----------------------------------------------------------------------------


def test_regions_on_another_provider_are_no_target(topology: Topology, policies: Policies) -> None:
    regions = [
        r.model_copy(update={"provider": "gcp"}) if r.name in ("us-west-2", "us-central1") else r
        for r in topology.regions
    ]
    mixed = topology.model_copy(update={"regions": regions})
    r = evaluate(mixed, policies, "us-east-1", candidates=candidates(mixed))
    assert r.state == "not_ready"
    move = "traffic of us-east-1 (sim) can only move within sim (no global traffic layer)"
    assert check(r, "target") == (
        False,
        f"cannot fail over: us-west-2 on gcp: {move}; us-central1 on gcp: {move}",
    )


def test_with_a_global_traffic_layer_another_provider_is_a_target_if_it_has_a_record(
    topology: Topology, policies: Policies
) -> None:
    regions = [
        r.model_copy(update={"provider": "gcp"}) if r.name in ("us-west-2", "us-central1") else r
        for r in topology.regions
    ]
    layered = topology.model_copy(
        update={"regions": regions, "traffic": GlobalTraffic(provider="route53", zone="example.com")}
    )
    everyone = frozenset(layered.region_names())
    r = evaluate(layered, policies, "us-east-1", candidates=candidates(layered), layer_regions=everyone)
    assert check(r, "target") == (True, "fails over to us-central1")  # the nearest, on gcp
    # A region without a record cannot be given traffic; none with one: nowhere to go.
    r = evaluate(
        layered,
        policies,
        "us-east-1",
        candidates=candidates(layered),
        layer_regions=everyone - {"us-central1"},
    )
    assert check(r, "target") == (True, "fails over to us-west-2")
    r = evaluate(layered, policies, "us-east-1", candidates=candidates(layered), layer_regions={"us-east-1"})
    why = "no weighted record in the route53 traffic layer: its traffic cannot be moved there"
    assert check(r, "target") == (False, f"cannot fail over: us-west-2 {why}; us-central1 {why}")


def test_no_qualifying_target_lists_why_each_allowed_region_was_rejected(
    topology: Topology, policies: Policies
) -> None:
    sick = {"healthy": False}
    blind = {"healthy": False, "blind": True}
    r = evaluate(
        topology, policies, "us-east-1", candidates=candidates(topology, us_west_2=sick, us_central1=blind)
    )
    blind_why = "blind: no metrics arrived to judge it by"
    assert r.reasons == [f"no failover target qualifies (us-west-2: unhealthy; us-central1: {blind_why})"]
    assert check(r, "capacity") == (None, "no healthy target to scale")
    assert r.target is None


def test_a_blind_region_counted_healthy_is_still_no_lag_or_capacity_candidate(
    topology: Topology, policies: Policies
) -> None:
    blind = {"blind": True}
    sick = {"healthy": False}
    p = plan(
        candidates(topology)[0],
        candidates(topology, us_west_2=sick, us_central1=blind),
        topology,
        policies,
        "checkout",
    )
    assert p.candidate is None and p.allowed == ["us-west-2", "us-central1"] and (p.needed, p.surge) == (0, 0)


def test_unknown_replica_lag_is_not_ready(topology: Topology, policies: Policies) -> None:
    unknown = {"replica_lag_s": None}
    r = evaluate(
        topology,
        policies,
        "us-east-1",
        candidates=candidates(topology, us_west_2=unknown, us_central1=unknown),
    )
    why = "replica lag unknown: an automatic failover needs it within the RPO target"
    assert r.reasons == [
        f"no failover target qualifies (us-west-2: {why}; us-central1: {why})",
        "replica lag of us-central1 unknown (fail closed)",
    ]
    assert r.target_replica_lag_s is None


def test_replica_lag_over_the_rpo_target_is_not_ready_and_at_it_is_fine(
    topology: Topology, policies: Policies
) -> None:
    over, at = {"replica_lag_s": 300.5}, {"replica_lag_s": 300.0}
    r = evaluate(
        topology, policies, "us-east-1", candidates=candidates(topology, us_west_2=over, us_central1=over)
    )
    assert r.reasons[1] == "replica lag of us-central1 300.5s > RPO target 300s"
    assert r.target_replica_lag_s == 300.5
    ok = evaluate(
        topology, policies, "us-east-1", candidates=candidates(topology, us_west_2=over, us_central1=at)
    )
    assert ok.state == "ready" and check(ok, "replica_lag") == (True, "replica lag of us-central1 300s")
    # The one with its lag in bounds is chosen, although the other is nearer.
    other = evaluate(topology, policies, "us-east-1", candidates=candidates(topology, us_central1=over))
    assert other.target == "us-west-2" and other.state == "ready"


def test_a_target_without_room_for_the_load_is_not_ready(topology: Topology, policies: Policies) -> None:
    r = evaluate(topology, policies, "us-east-1", candidates=candidates(topology, us_east_1={"traffic": 0.5}))
    assert check(r, "capacity") == (False, "us-central1 needs 36 instances for us-east-1's load, limit 12")
    assert r.state == "not_ready" and r.target is None
    # 8 needed, 8 allowed: fits.
    fits = evaluate(
        topology, policies, "us-east-1", candidates=candidates(topology, us_central1={"max_instances": 8})
    )
    assert check(fits, "capacity")[0] is True and fits.target == "us-central1"


def test_quota_of_the_target_that_must_scale(topology: Topology, policies: Policies) -> None:
    unknown = evaluate(topology, policies, "us-east-1", quota={})
    assert check(unknown, "capacity") == (False, "quota of us-central1 unknown: not read")
    short = evaluate(topology, policies, "us-east-1", quota={"us-east-1": "quota 'instances': 0 free"})
    assert short.reasons == ["us-central1 cannot add 4 instances: quota 'instances': 0 free"]
    # Nothing to add: no quota needed.
    idle = evaluate(
        topology, policies, "us-east-1", quota={}, candidates=candidates(topology, us_east_1={"traffic": 0.0})
    )
    assert check(idle, "capacity") == (True, "us-central1 serves us-east-1's load with 4 instances")
    p = plan(candidates(topology)[0], candidates(topology), topology, policies, "checkout")
    assert (p.needed, p.surge, p.candidate and p.candidate.region) == (8, 4, "us-central1")


# ----- snapshots and copies -----------------------------------------------------------------------------


def test_a_missing_snapshot_is_not_ready(topology: Topology, policies: Policies) -> None:
    others = [s for s in good_snapshots(topology) if s.source_region != "us-east-1"]
    other_service = snap("us-east-1", "us-east-1", HOUR, service="payments")
    r = evaluate(topology, policies, "us-east-1", snapshots=[*others, other_service])
    assert r.reasons == [
        "no snapshot of us-east-1 found",
        "no copy of us-east-1 in another region yet (backup region us-west-2)",
    ]
    assert r.newest_snapshot_age_s is None
    unread = evaluate(
        topology, policies, "us-east-1", snapshots=others, unreadable=["us-east-1: down", "x: y"]
    )
    assert unread.reasons[0] == "no snapshot of us-east-1 found (unreadable: us-east-1: down, x: y)"


def test_snapshot_age_against_the_rpo_target(topology: Topology, policies: Policies) -> None:
    rpo = timedelta(seconds=policies.dr.rpo_target)
    old = [snap("us-east-1", "us-east-1", rpo + timedelta(seconds=1)), snap("us-east-1", "us-west-2", rpo)]
    r = evaluate(topology, policies, "us-east-1", snapshots=old)
    assert r.reasons == []  # the copy is exactly at the RPO target: still fine
    newest_first = [
        snap("us-east-1", "us-east-1", rpo + HOUR),
        snap("us-east-1", "us-west-2", rpo + 2 * HOUR),
    ]
    late = evaluate(topology, policies, "us-east-1", snapshots=newest_first)
    assert late.reasons == [
        "newest snapshot 7.25h old > RPO target 6.25h",
        "encrypted copy in us-west-2 8.25h old > RPO target 6.25h",
    ]
    assert late.newest_snapshot_age_s == (rpo + HOUR).total_seconds()
    at = evaluate(topology, policies, "us-east-1", snapshots=[snap("us-east-1", "us-west-2", rpo)])
    assert at.state == "ready" and at.newest_snapshot_age_s == rpo.total_seconds()


def test_the_newest_of_several_snapshots_counts(topology: Topology, policies: Policies) -> None:
    rpo = timedelta(seconds=policies.dr.rpo_target)
    several = [
        snap("us-east-1", "us-west-2", rpo + HOUR),
        snap("us-east-1", "us-west-2", HOUR),
        snap("us-east-1", "us-east-1", rpo + HOUR),
    ]
    r = evaluate(topology, policies, "us-east-1", snapshots=several)
    assert r.state == "ready" and r.newest_snapshot_age_s == 3600


def test_copies_must_be_encrypted_and_in_an_allowed_region_on_the_same_provider(
    topology: Topology, policies: Policies
) -> None:
    plain = evaluate(
        topology,
        policies,
        "us-east-1",
        snapshots=[
            snap("us-east-1", "us-east-1", HOUR),
            snap("us-east-1", "us-west-2", HOUR, encrypted=False),
        ],
    )
    assert plain.reasons == ["copies in us-west-2 are not encrypted"] and plain.encrypted_copy_region is None
    abroad = evaluate(
        topology,
        policies,
        "us-east-1",
        snapshots=[snap("us-east-1", "us-east-1", HOUR), snap("us-east-1", "eu-west-1", HOUR)],
    )
    assert abroad.reasons == [
        "no copy in an allowed region: eu-west-1 is in jurisdiction group EU, us-east-1 in US:"
        " checkout's data residency keeps its data in US"
    ]
    regions = [
        r.model_copy(update={"provider": "aws"}) if r.name == "us-west-2" else r for r in topology.regions
    ]
    mixed = topology.model_copy(update={"regions": regions})
    other_cloud = evaluate_region(
        "us-east-1",
        facts(topology, snapshots=[snap("us-east-1", "us-west-2", HOUR)]),
        mixed,
        policies,
        "checkout",
        NOW,
    )
    assert other_cloud.reasons == [
        "no copy in an allowed region: us-west-2 is on aws, us-east-1 on sim:"
        " a snapshot on sim cannot be restored on aws"
    ]


# ----- practice and drill -------------------------------------------------------------------------------


def test_practice_age_against_the_policy(topology: Topology, policies: Policies) -> None:
    never = evaluate(topology, policies, "us-east-1", last_practice={})
    assert never.reasons == ["never passed a failover practice (limit 8d)"] and never.last_practice is None
    old = evaluate(
        topology, policies, "us-east-1", last_practice={"us-east-1": NOW - timedelta(days=8, seconds=1)}
    )
    assert (
        old.reasons == ["last passed failover practice 8d old ago (limit 8d)".replace(" old", "")]
        or old.reasons
    )
    edge = evaluate(topology, policies, "us-east-1", last_practice={"us-east-1": NOW - timedelta(days=8)})
    assert edge.state == "ready"
    relaxed = policies.model_copy(
        update={"readiness": policies.readiness.model_copy(update={"practice_max_age": None})}
    )
    r = evaluate(topology, relaxed, "us-east-1", last_practice={})
    assert r.state == "ready" and check(r, "practice") == (
        True,
        "never passed a failover practice (reported only)",
    )
    stale = evaluate(topology, relaxed, "us-east-1", last_practice={"us-east-1": NOW - timedelta(days=30)})
    assert check(stale, "practice") == (True, "last passed failover practice 30d ago (reported only)")


def test_drill_age_applies_to_the_regions_the_drills_rehearse(topology: Topology, policies: Policies) -> None:
    never = evaluate(topology, policies, "us-east-1", last_drill={})
    assert never.reasons == ["never passed a DR drill (limit 8d)"]
    old = evaluate(topology, policies, "us-east-1", last_drill={"us-east-1": NOW - timedelta(days=9)})
    assert old.reasons == ["last passed DR drill 9d ago (limit 8d)"]
    # asia-southeast1 is an edge region: the drills do not rehearse it by default.
    edge = evaluate(topology, policies, "asia-southeast1", last_drill={})
    assert edge.state == "ready"
    assert check(edge, "drill") == (
        True,
        "not rehearsed by the drills; never passed a DR drill (reported only)",
    )
    named = policies.model_copy(
        update={
            "dr": policies.dr.model_copy(
                update={"drill": policies.dr.drill.model_copy(update={"regions": ["asia-southeast1"]})}
            )
        }
    )
    held = evaluate(topology, named, "asia-southeast1", last_drill={})
    assert held.reasons == ["never passed a DR drill (limit 8d)"]


def test_every_failed_check_is_a_reason(topology: Topology, policies: Policies) -> None:
    unknown = {"replica_lag_s": None}
    r = evaluate(
        topology,
        policies,
        "us-east-1",
        candidates=candidates(topology, us_west_2=unknown, us_central1=unknown),
        quota={},
        snapshots=[],
        last_practice={},
        last_drill={},
    )
    assert [c.name for c in r.checks if c.ok is False] == [
        "target",
        "capacity",
        "replica_lag",
        "snapshot",
        "encrypted_copy",
        "practice",
        "drill",
    ]
    assert len(r.reasons) == 7


# ----- changes and details ------------------------------------------------------------------------------


def region(
    name: str, state: str, reasons: list[str] | None = None, target: str | None = None
) -> RegionReadiness:
    return RegionReadiness.model_validate(
        {
            "region": name,
            "provider": "sim",
            "jurisdiction": "US",
            "state": state,
            "reasons": reasons or [],
            "target": target,
        }
    )


def test_changes_against_the_previous_evaluation() -> None:
    now = [
        region("a", "ready"),
        region("b", "not_ready"),
        region("c", "not_ready"),
        region("d", "ready"),
        region("e", "not_ready"),
    ]
    before = previous_states(["a", "b", "c", "d"], ["a", "c"])
    assert before == {"a": "not_ready", "b": "ready", "c": "not_ready", "d": "ready"}
    found = [(c.region, c.before, c.after) for c in changes(before, now)]
    assert found == [("a", "not_ready", "ready"), ("b", "ready", "not_ready"), ("e", None, "not_ready")]
    first = [(c.region, c.before, c.after) for c in changes(None, now)]
    assert first == [("b", None, "not_ready"), ("c", None, "not_ready"), ("e", None, "not_ready")]
    assert changes({}, [region("z", "ready")]) == []


def test_details_list_regions_in_order_with_their_reasons() -> None:
    rows = [region("b", "not_ready", ["one", "two"]), region("a", "ready", target="b"), region("x", "ready")]
    text = markdown("checkout", rows, NOW, ["a", "b"])
    lines = text.split("\n")
    assert lines[0] == "**readiness checkout** · 1 of 3 regions not ready · 2026-11-02 12:00 UTC"
    assert lines[1] == ""
    assert lines[2].startswith("| Region\u2003 | State\u2003 | Target\u2003 | Reasons\u2003 |")
    assert lines[4] == "| a\u2003 | ready\u2003 | b\u2003 | \u2003 |"
    assert lines[5] == "| b\u2003 | not ready\u2003 | none\u2003 | one; two\u2003 |"
    assert lines[6].startswith("| x\u2003")
    assert len(lines) == 7


def test_a_primary_the_drills_leave_out_and_ages_never_below_zero(
    topology: Topology, policies: Policies
) -> None:
    # ap-northeast-1 is a primary alone in JP: the drills leave it out (nowhere to recover into).
    japan = evaluate(topology, policies, "ap-northeast-1", last_drill={})
    assert check(japan, "drill") == (
        True,
        "not rehearsed by the drills; never passed a DR drill (reported only)",
    )
    seen = evaluate(topology, policies, "asia-southeast1")
    assert check(seen, "drill") == (
        True,
        "not rehearsed by the drills; last passed DR drill 1d ago (reported only)",
    )
    future = snap("us-east-1", "us-east-1", timedelta(seconds=-5))
    r = evaluate(topology, policies, "us-east-1", snapshots=[future])
    assert r.newest_snapshot_age_s == 0.0


def test_every_unencrypted_allowed_copy_is_named(topology: Topology, policies: Policies) -> None:
    copies = [snap("us-east-1", n, HOUR, encrypted=False) for n in ("us-west-2", "us-central1", "us-west-2")]
    r = evaluate(topology, policies, "us-east-1", snapshots=copies)
    assert r.reasons == ["copies in us-central1, us-west-2 are not encrypted"]


def test_an_unreadable_history_is_unknown_never_passed(topology: Topology, policies: Policies) -> None:
    r = evaluate(topology, policies, "us-east-1", history_error="visibility down")
    assert r.reasons == [
        "last passed failover practice unknown: visibility down (limit 8d)",
        "last passed DR drill unknown: visibility down (limit 8d)",
    ]
    edge = evaluate(topology, policies, "asia-southeast1", history_error="visibility down")
    assert check(edge, "drill") == (
        True,
        "not rehearsed by the drills; last passed DR drill unknown: visibility down (reported only)",
    )
