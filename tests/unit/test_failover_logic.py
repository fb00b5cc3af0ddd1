"""Pure failover logic: target choice, safety, weights, triggers and timings (no server, no clock)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.failover import FailoverPolicy
from config.loader import load_topology
from config.models import Topology
from contracts.failover import (
    Candidate,
    ProbeResult,
    Rejection,
    TargetChoice,
)
from workflows.logic.failover import (
    against_targets,
    choose_target,
    failback_weights,
    healthy_probe,
    measure,
    reach_problem,
    safe_to_shift,
    shifted_weights,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SHARE = 1 / 16


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology()


def fleet(topology: Topology, **overrides: dict[str, Any]) -> dict[str, Candidate]:
    """Every region of the default topology as a healthy candidate with 1/16 of the traffic."""
    out = {}
    for region in topology.regions:
        fields: dict[str, Any] = {
            "region": region.name,
            "jurisdiction": region.jurisdiction,
            "healthy": True,
            "traffic": SHARE,
            "instances": region.instances,
            "max_instances": region.capacity_limit,
            "latency_ms": region.latency_ms,
            "replica_lag_s": 1.0,
        }
        fields.update(overrides.get(region.name, {}))
        out[region.name] = Candidate(**fields)
    return out


def choose(topology: Topology, failed: str, cands: dict[str, Candidate], **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "residency": True,
        "group_of": topology.group_of,
        "moved_traffic": cands[failed].traffic,
        "rpo_target_s": 300.0,
    }
    args.update(kwargs)
    return choose_target(cands[failed], list(cands.values()), **args)


# --------------------------------------------------------------------------- target choice


def test_eu_outage_picks_an_eu_region_never_us_or_uk(topology: Topology) -> None:
    cands = fleet(topology)
    choice = choose(topology, "eu-west-1", cands)
    # eu-central-1 (25 ms) beats europe-west1 (30 ms); both are EU
    assert choice.target == "eu-central-1"
    assert choice.needed_instances == 8  # its own 1/16 plus the moved 1/16 at 4 instances per 1/16
    reasons = {r.region: r.reason for r in choice.rejected}
    assert "eu-west-1" not in choice.considered and "eu-west-1" not in reasons
    assert reasons["us-east-1"] == "jurisdiction US is outside group EU (data residency)"
    assert reasons["eu-west-2"] == "jurisdiction UK is outside group EU (data residency)"
    assert set(reasons) == set(topology.region_names()) - {"eu-west-1", "eu-central-1", "europe-west1"}


def test_latency_ties_are_broken_by_name(topology: Topology) -> None:
    cands = fleet(topology, **{"europe-west1": {"latency_ms": 25}})
    assert choose(topology, "eu-west-1", cands).target == "eu-central-1"
    cands = fleet(topology, **{"europe-west1": {"latency_ms": 24}})
    assert choose(topology, "eu-west-1", cands).target == "europe-west1"


def test_uk_outage_has_no_target_unless_a_group_allows_it(topology: Topology) -> None:
    cands = fleet(topology)
    choice = choose(topology, "eu-west-2", cands)
    assert choice.target is None
    assert len(choice.rejected) == 15  # every other region, each with why
    assert all("outside group UK" in r.reason for r in choice.rejected)

    grouped = topology.model_copy(update={"jurisdiction_groups": {"EUROPE": ["EU", "UK"]}})
    choice = choose(grouped, "eu-west-2", cands)
    assert choice.target in {"eu-west-1", "eu-central-1"}  # 25 ms; eu-central-1 wins the tie by name
    assert choice.target == "eu-central-1"
    assert "outside group EUROPE" in {r.region: r.reason for r in choice.rejected}["us-east-1"]


def test_residency_off_picks_lowest_latency_anywhere(topology: Topology) -> None:
    cands = fleet(topology)
    choice = choose(topology, "eu-west-1", cands, residency=False)
    assert choice.target == "us-east-1"  # 20 ms, the fastest region of the fleet
    assert choice.rejected == []
    assert len(choice.considered) == 15


def test_unhealthy_rejected(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"healthy": False}})
    choice = choose(topology, "eu-west-1", cands)
    assert choice.target == "europe-west1"
    assert {r.region: r.reason for r in choice.rejected}["eu-central-1"] == "unhealthy"


def test_capacity_headroom(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"max_instances": 7}})
    choice = choose(topology, "eu-west-1", cands)
    assert choice.target == "europe-west1"
    reason = {r.region: r.reason for r in choice.rejected}["eu-central-1"]
    assert reason == "no capacity headroom: needs 8 instances, limit 7"
    # twice the traffic moved: 4 x (1/16 + 2/16) / (1/16) = 12 instances
    choice = choose(topology, "eu-west-1", fleet(topology), moved_traffic=2 * SHARE)
    assert choice.needed_instances == 12


def test_needed_instances_round_up_without_float_noise(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"traffic": 0.3, "instances": 3, "max_instances": 9}})
    # 3 x (0.3 + 0.6) / 0.3 is 9.000000000000002 in floats: still 9, which fits the limit
    choice = choose(topology, "eu-west-1", cands, moved_traffic=0.6)
    assert choice.target == "eu-central-1" and choice.needed_instances == 9
    idle = fleet(topology, **{"eu-central-1": {"traffic": 0.0}})
    assert choose(topology, "eu-west-1", idle).needed_instances == 4


def test_needed_instances_round_a_fraction_up(topology: Topology) -> None:
    # 3 instances at 0.25 of the traffic taking 0.45 more: 3 x 0.7 / 0.25 = 8.4 instances, so 9
    cands = fleet(topology, **{"eu-central-1": {"traffic": 0.25, "instances": 3, "max_instances": 9}})
    choice = choose(topology, "eu-west-1", cands, moved_traffic=0.45)
    assert choice.target == "eu-central-1" and choice.needed_instances == 9
    cands = fleet(topology, **{"eu-central-1": {"traffic": 0.25, "instances": 3, "max_instances": 8}})
    choice = choose(topology, "eu-west-1", cands, moved_traffic=0.45)
    reason = {r.region: r.reason for r in choice.rejected}["eu-central-1"]
    assert reason == "no capacity headroom: needs 9 instances, limit 8"


def test_replica_lag_exactly_at_the_rpo_target_qualifies(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"replica_lag_s": 300.0}})
    choice = choose(topology, "eu-west-1", cands, rpo_target_s=300.0)
    assert choice.target == "eu-central-1"
    assert "eu-central-1" not in {r.region for r in choice.rejected}
    cands = fleet(topology, **{"eu-central-1": {"replica_lag_s": 300.5}})
    assert choose(topology, "eu-west-1", cands, rpo_target_s=300.0).target == "europe-west1"


def test_replica_lag_over_rpo_rejected(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"replica_lag_s": 400}})
    choice = choose(topology, "eu-west-1", cands)
    assert choice.target == "europe-west1"
    assert {r.region: r.reason for r in choice.rejected}[
        "eu-central-1"
    ] == "replica lag 400s > RPO target 300s"
    # unknown lag, or no RPO target, is not held against a region
    unknown = fleet(topology, **{"eu-central-1": {"replica_lag_s": None}})
    assert choose(topology, "eu-west-1", unknown).target == "eu-central-1"
    assert choose(topology, "eu-west-1", cands, rpo_target_s=None).target == "eu-central-1"


def test_first_failing_reason_is_reported(topology: Topology) -> None:
    cands = fleet(topology, **{"us-east-1": {"healthy": False, "replica_lag_s": 999, "max_instances": 4}})
    choice = choose(topology, "eu-west-1", cands)
    assert {r.region: r.reason for r in choice.rejected}["us-east-1"] == "unhealthy"


def test_preferred_must_qualify(topology: Topology) -> None:
    cands = fleet(topology)
    assert choose(topology, "eu-west-1", cands, preferred="europe-west1").target == "europe-west1"
    choice = choose(topology, "eu-west-1", cands, preferred="us-east-1")
    assert choice.target is None  # not silently another region
    assert {r.region: r.reason for r in choice.rejected}["us-east-1"].startswith("jurisdiction US")
    choice = choose(topology, "eu-west-1", cands, preferred="eu-west-1")
    assert choice.target is None
    assert {r.region: r.reason for r in choice.rejected}["eu-west-1"] == "is the failed region itself"
    choice = choose(topology, "eu-west-1", cands, preferred="mars-1")
    assert choice.target is None
    assert choice.rejected[-1] == Rejection(region="mars-1", reason="not a candidate region")


def test_a_preferred_target_reports_like_a_chosen_one(topology: Topology) -> None:
    """The operator's choice carries its capacity need and every other region's verdict too."""
    cands = fleet(topology, **{"europe-west1": {"instances": 3}})  # 3 x 2/16 / 1/16 = 6 instances
    others = [name for name in topology.region_names() if name != "eu-west-1"]
    outside = [
        Rejection(
            region=name,
            reason=f"jurisdiction {topology.region(name).jurisdiction} is outside group EU (data residency)",
        )
        for name in others
        if name not in ("eu-central-1", "europe-west1")
    ]
    choice = choose(topology, "eu-west-1", cands, preferred="europe-west1")
    assert choice == TargetChoice(
        target="europe-west1", needed_instances=6, rejected=outside, considered=others
    )
    # a preferred region that does not qualify: no target, but the same account of the candidates
    choice = choose(topology, "eu-west-1", cands, preferred="us-east-1")
    assert choice == TargetChoice(target=None, needed_instances=0, rejected=outside, considered=others)


def test_every_candidate_listed_in_order_when_none_qualifies(topology: Topology) -> None:
    down = {name: {"healthy": False} for name in ("eu-central-1", "europe-west1")}
    cands = fleet(topology, **down)
    choice = choose(topology, "eu-west-1", cands)
    assert choice.target is None and choice.needed_instances == 0
    expected = [name for name in topology.region_names() if name != "eu-west-1"]
    assert [r.region for r in choice.rejected] == expected
    assert choice.considered == expected
    assert all(r.reason for r in choice.rejected)


def on(provider: str, *names: str) -> dict[str, dict[str, Any]]:
    """Overrides that put `names` on `provider` (the rest of the fleet stays on the sim)."""
    return {name: {"provider": provider} for name in names}


#: What a candidate on GCP is told when an AWS region's traffic has to move.
AWS_TO_GCP = "on gcp: traffic of us-east-1 (aws) can only move within aws (no global traffic layer)"


def test_a_latency_tie_across_providers_goes_to_the_failed_regions_provider(topology: Topology) -> None:
    """us-east-1 on AWS: us-central1 (GCP) ties us-west-2 (AWS) at 25 ms and would win on name."""
    cands = fleet(topology, **on("aws", "us-east-1", "us-west-2"), **on("gcp", "us-central1"))
    choice = choose(topology, "us-east-1", cands)
    assert choice.target == "us-west-2"
    reasons = {r.region: r.reason for r in choice.rejected}
    assert reasons["us-central1"] == AWS_TO_GCP
    assert "us-west-2" not in reasons
    # the same fleet on one provider: the tie goes to us-central1 by name, as before
    same = fleet(topology, **on("aws", "us-east-1", "us-west-2", "us-central1"))
    choice = choose(topology, "us-east-1", same)
    assert choice.target == "us-central1"
    assert "us-central1" not in {r.region for r in choice.rejected}


def test_no_candidate_on_the_failed_regions_provider_means_no_target(topology: Topology) -> None:
    cands = fleet(topology, **on("aws", "us-east-1"), **on("gcp", "us-central1"))
    choice = choose(topology, "us-east-1", cands)
    assert choice.target is None
    reasons = {r.region: r.reason for r in choice.rejected}
    assert reasons["us-central1"] == AWS_TO_GCP
    assert reasons["us-west-2"] == AWS_TO_GCP.replace("on gcp", "on sim")
    # without residency every other region is a candidate, and every one is on another provider
    choice = choose(topology, "us-east-1", cands, residency=False)
    assert choice.target is None and len(choice.rejected) == 15
    assert all("can only move within aws (no global traffic layer)" in r.reason for r in choice.rejected)


def test_a_preferred_region_on_another_provider_gives_no_target(topology: Topology) -> None:
    cands = fleet(topology, **on("aws", "us-east-1", "us-west-2"), **on("gcp", "us-central1"))
    choice = choose(topology, "us-east-1", cands, preferred="us-central1")
    assert choice.target is None and choice.needed_instances == 0  # not silently us-west-2
    assert {r.region: r.reason for r in choice.rejected}["us-central1"] == AWS_TO_GCP
    choice = choose(topology, "us-east-1", cands, preferred="us-west-2")
    assert choice.target == "us-west-2" and choice.needed_instances == 8


def test_the_provider_rule_comes_right_after_residency(topology: Topology) -> None:
    cands = fleet(
        topology,
        **on("aws", "us-east-1"),
        **{
            "us-central1": {"provider": "gcp", "replica_lag_s": 999, "max_instances": 4},
            "us-west-2": {"provider": "gcp", "healthy": False},
            "eu-west-1": {"provider": "gcp"},
        },
    )
    reasons = {r.region: r.reason for r in choose(topology, "us-east-1", cands).rejected}
    assert reasons["us-central1"] == AWS_TO_GCP  # before replica lag and capacity
    assert reasons["us-west-2"] == "unhealthy"  # after health
    assert reasons["eu-west-1"] == "jurisdiction EU is outside group US (data residency)"  # after residency


def test_reach_problem_names_both_providers() -> None:
    assert reach_problem("us-east-1", "aws", "aws") is None
    assert reach_problem("us-east-1", "aws", "gcp") == AWS_TO_GCP
    assert reach_problem("us-central1", "gcp", "sim") == (
        "on sim: traffic of us-central1 (gcp) can only move within gcp (no global traffic layer)"
    )


def test_a_candidate_without_a_provider_is_on_the_sim() -> None:
    """Like a region of the topology without `provider:` (and a Candidate of an older sender)."""
    fields = {"region": "r", "jurisdiction": "US", "healthy": True, "traffic": 0, "instances": 1}
    assert Candidate.model_validate({**fields, "max_instances": 1, "latency_ms": 1}).provider == "sim"


# --------------------------------------------------------------------------- safety and weights


def test_safe_to_shift_counts_what_the_shift_moves() -> None:
    # only the moved weight makes the (healthy) target serve: safe; a shift of nothing would not be
    weights = {"a": 1.0, "b": 0.0}
    assert safe_to_shift(weights, {"a": False, "b": True}, "a", "b") is None
    assert safe_to_shift({"a": 0.0, "b": 0.0, "c": 1.0}, {"a": False, "b": True, "c": False}, "a", "b") == (
        "after the shift no healthy region would serve traffic"
    )


def test_safe_to_shift_treats_a_region_missing_from_the_health_map_as_unhealthy() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert safe_to_shift(weights, {"a": False, "c": True}, "a", "b") == "target b is unhealthy"
    # c serves after the shift but nothing says it is healthy: it does not count
    idle = {"a": 0.0, "b": 0.0, "c": 1.0}
    assert safe_to_shift(idle, {"a": False, "b": True}, "a", "b") == (
        "after the shift no healthy region would serve traffic"
    )


def test_safe_to_shift() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    healthy = {"a": False, "b": True, "c": True}
    assert safe_to_shift(weights, healthy, "a", "b") is None
    assert safe_to_shift(weights, healthy | {"b": False}, "a", "b") == "target b is unhealthy"
    assert "failed region itself" in (safe_to_shift(weights, healthy, "a", "a") or "")
    # the target is healthy but would serve nothing, and nobody else healthy serves
    idle = {"a": 0.0, "b": 0.0, "c": 1.0}
    assert safe_to_shift(idle, {"a": False, "b": True, "c": False}, "a", "b") == (
        "after the shift no healthy region would serve traffic"
    )


def test_shifted_weights_keep_the_sum() -> None:
    weights = {f"r{i}": 1 / 7 for i in range(7)}
    after = shifted_weights(weights, "r0", "r3")
    assert after["r0"] == 0
    assert after["r3"] == pytest.approx(2 / 7)
    assert math.isclose(sum(after.values()), sum(weights.values()), abs_tol=1e-12)
    half = shifted_weights(weights, "r0", "r3", share=0.5)
    assert half["r0"] == pytest.approx(1 / 14) and half["r3"] == pytest.approx(3 / 14)
    assert math.isclose(sum(half.values()), 1.0, abs_tol=1e-12)
    new_target = shifted_weights({"a": 0.6, "b": 0.4}, "a", "z")
    assert new_target == {"a": 0.0, "b": 0.4, "z": pytest.approx(0.6)}
    with pytest.raises(ValueError, match="share"):
        shifted_weights(weights, "r0", "r3", share=1.5)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_shifted_weights_accept_a_share_of_0_and_1(share: float) -> None:
    after = shifted_weights({"a": 0.6, "b": 0.4}, "a", "b", share=share)
    assert after == pytest.approx({"a": 0.6 * (1 - share), "b": 0.4 + 0.6 * share})


@pytest.mark.parametrize("share", [-0.01, 1.01])
def test_shifted_weights_refuse_a_share_outside_0_1(share: float) -> None:
    with pytest.raises(ValueError, match=f"^share must be within 0-1, got {share:g}$"):
        shifted_weights({"a": 0.6, "b": 0.4}, "a", "b", share=share)


def test_shifting_from_a_region_without_weight_moves_nothing() -> None:
    after = shifted_weights({"a": 0.6, "b": 0.4}, "z", "a")
    assert after == {"a": pytest.approx(0.6), "b": 0.4, "z": 0.0}
    assert shifted_weights({"a": 0.6, "b": 0.4}, "z", "a", share=0.5) == after


def test_failback_weights_steps_are_absolute_and_keep_the_sum() -> None:
    weights = {f"r{i}": 1 / 16 for i in range(16)}
    after_failover = shifted_weights(weights, "r0", "r1")
    current = after_failover
    for percent, expected in ((10, 0.1), (50, 0.5), (100, 1.0)):
        current = failback_weights(current, "r0", "r1", 1 / 16, percent)
        assert current["r0"] == pytest.approx(expected / 16)
        assert current["r1"] == pytest.approx((2 - expected) / 16)
        assert math.isclose(sum(current.values()), 1.0, abs_tol=1e-12)
    assert current == pytest.approx(weights)
    # the backup never goes below 0: the region gets what there is
    thin = failback_weights({"r0": 0.0, "r1": 0.02, "r2": 0.98}, "r0", "r1", 0.1, 100)
    assert thin == pytest.approx({"r0": 0.02, "r1": 0.0, "r2": 0.98})
    assert thin["r1"] >= 0


@pytest.mark.parametrize("percent", [0, 100])
def test_failback_accepts_0_and_100_percent(percent: float) -> None:
    after = failback_weights({"r0": 0.0, "r1": 0.5, "r2": 0.5}, "r0", "r1", 0.4, percent)
    assert after == pytest.approx({"r0": 0.4 * percent / 100, "r1": 0.5 - 0.4 * percent / 100, "r2": 0.5})


@pytest.mark.parametrize("percent", [-0.5, 100.5])
def test_failback_refuses_a_percent_outside_0_100(percent: float) -> None:
    with pytest.raises(ValueError, match=f"^percent must be within 0-100, got {percent:g}$"):
        failback_weights({"r0": 0.0, "r1": 1.0}, "r0", "r1", 0.5, percent)


def test_failback_with_regions_missing_from_the_weights() -> None:
    # a region without an entry has no traffic yet: it gets its share from the backup
    assert failback_weights({"r1": 0.7, "r2": 0.3}, "r0", "r1", 0.5, 100) == pytest.approx(
        {"r0": 0.5, "r1": 0.2, "r2": 0.3}
    )
    assert failback_weights({"r1": 0.1, "r2": 0.9}, "r0", "r1", 0.5, 100) == pytest.approx(
        {"r0": 0.1, "r1": 0.0, "r2": 0.9}
    )
    # a backup without an entry has nothing to give back
    assert failback_weights({"r0": 0.1, "r2": 0.9}, "r0", "r1", 0.5, 100) == pytest.approx(
        {"r0": 0.1, "r1": 0.0, "r2": 0.9}
    )


POLICY = FailoverPolicy()  # detect 30 s, decide 10 s, total 60 s, dns_ttl 60 s


def test_measure_and_targets() -> None:
    at = [T0 + timedelta(seconds=s) for s in (0, 25, 27, 30, 45)]
    timings = measure(*at)
    assert timings == {"detect_s": 25, "decide_s": 2, "shift_s": 3, "total_s": 45}
    assert against_targets(timings, POLICY) == {"detect_s": True, "decide_s": True, "total_s": True}
    slow = measure(
        T0,
        T0 + timedelta(seconds=31),
        T0 + timedelta(seconds=42),
        T0 + timedelta(seconds=50),
        T0 + timedelta(seconds=121),
    )
    assert against_targets(slow, POLICY) == {"detect_s": False, "decide_s": False, "total_s": False}
    # total is allowed total_target + dns_ttl = 60 + 60
    edge = {**timings, "total_s": 120.0}
    assert against_targets(edge, POLICY)["total_s"] is True
    assert measure(T0, T0 - timedelta(seconds=1), T0, T0, T0)["detect_s"] == 0


# --------------------------------------------------------------------------- blind regions, unknown lag


def test_a_blind_candidate_is_rejected_before_anything_else(topology: Topology) -> None:
    cands = fleet(topology, **{"eu-central-1": {"blind": True, "healthy": False, "replica_lag_s": 9999.0}})
    choice = choose(topology, "eu-west-1", cands)
    assert choice.target == "europe-west1"
    assert (
        Rejection(region="eu-central-1", reason="blind: no metrics arrived to judge it by") in choice.rejected
    )


def test_unknown_lag_rejects_a_target_only_when_the_failover_needs_it(topology: Topology) -> None:
    cands = fleet(
        topology, **{"eu-central-1": {"replica_lag_s": None}, "europe-west1": {"replica_lag_s": None}}
    )
    auto = choose(topology, "eu-west-1", cands, require_lag=True)
    assert auto.target is None
    reason = "replica lag unknown: an automatic failover needs it within the RPO target"
    assert Rejection(region="eu-central-1", reason=reason) in auto.rejected
    assert Rejection(region="europe-west1", reason=reason) in auto.rejected
    manual = choose(topology, "eu-west-1", cands)  # an operator decided: unknown lag is not held against it
    assert manual.target == "eu-central-1" and manual.rejected[0].reason.startswith("jurisdiction")
    no_rpo = choose(topology, "eu-west-1", cands, require_lag=True, rpo_target_s=None)  # nothing to promise
    assert no_rpo.target == "eu-central-1"
    known = choose(topology, "eu-west-1", fleet(topology), require_lag=True)  # a known lag within the target
    assert known.target == "eu-central-1"


def _probe(**changes: Any) -> ProbeResult:
    values: dict[str, Any] = {"region": "r1", "ok": True, "error_rate": 0.01, "latency_p99_ms": 80.0}
    values.update(changes)
    return ProbeResult(**values)


def test_a_healthy_probe_is_up_not_blind_and_known_to_be_under_the_limit() -> None:
    assert healthy_probe(_probe(), 0.01)  # exactly at the limit
    assert not healthy_probe(_probe(error_rate=0.0100001), 0.01)
    assert not healthy_probe(_probe(ok=False), 0.01)
    assert not healthy_probe(_probe(blind=True), 0.01)
    assert not healthy_probe(_probe(error_rate=None), 0.01)  # unknown is never healthy
    assert healthy_probe(_probe(error_rate=0.0), 0.0)
