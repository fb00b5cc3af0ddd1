"""The sim's global traffic split, replica lag and region recovery behave like a real cloud's."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.clouds.sim import SimCloud
from activities.clouds.sim_groups import PREVIEW_REQUESTS
from contracts.cloud import TrafficState
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
    Throttled,
)

SVC = "checkout"
REGIONS = ["r00", "r01", "r02", "r03"]


@pytest.fixture
def cloud(tmp_path: Path) -> SimCloud:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed(SVC, [(r, 2) for r in REGIONS], "1.0.0")
    sim.seed("payments", [("r00", 1), ("r01", 1)], "1.0.0")
    return sim


def test_traffic_is_seeded_equal_per_service(cloud: SimCloud) -> None:
    assert cloud.traffic(SVC) == TrafficState(service=SVC, weights={r: 0.25 for r in REGIONS})
    assert cloud.traffic("payments").weights == {"r00": 0.5, "r01": 0.5}
    with pytest.raises(NotFound, match="nope"):
        cloud.traffic("nope")


def test_regions_seeded_later_start_at_zero(cloud: SimCloud) -> None:
    cloud.set_traffic(SVC, {"r00": 0.4, "r01": 0.1}, "k")
    cloud.seed(SVC, [("r04", 2)], "1.0.0")
    weights = cloud.traffic(SVC).weights
    assert weights == {"r00": 0.4, "r01": 0.1, "r02": 0.25, "r03": 0.25, "r04": 0.0}
    assert sum(weights.values()) == pytest.approx(1.0)


def test_traffic_read_is_behind_the_api_fault(cloud: SimCloud) -> None:
    cloud.inject_api_fault(1.0, throttle=True)
    with pytest.raises(Throttled):
        cloud.traffic(SVC)
    with pytest.raises(Throttled):
        cloud.set_traffic(SVC, {"r00": 0.25}, "k")
    assert cloud.ledger_size() == 0


def test_set_traffic_moves_named_regions_only(cloud: SimCloud) -> None:
    before = cloud.inventory()
    state = cloud.set_traffic(SVC, {"r00": 0.0, "r01": 0.5}, "shift")
    expected = {"r00": 0.0, "r01": 0.5, "r02": 0.25, "r03": 0.25}
    assert state == TrafficState(service=SVC, weights=expected)
    assert cloud.traffic(SVC).weights == expected
    assert cloud.traffic("payments").weights == {"r00": 0.5, "r01": 0.5}
    after = cloud.inventory()
    assert after["traffic"][SVC] == expected
    assert after["traffic"]["payments"] == before["traffic"]["payments"]
    assert after["instances"] == before["instances"]
    assert after["ledger"] == before["ledger"] + 1
    assert cloud.region_state(SVC, "r01").traffic == 0.5
    assert {row["region"]: row["traffic"] for row in cloud.status(SVC)} == expected


@pytest.mark.parametrize(
    ("weights", "error", "needle"),
    [
        ({"r00": 1.5, "r01": -0.5}, InvalidRequest, "within 0..1"),
        ({"r00": -0.1, "r01": 0.6}, InvalidRequest, "within 0..1"),
        ({"r00": float("nan")}, InvalidRequest, "within 0..1"),
        ({"r00": 0.5}, InvalidRequest, "weights must sum to 1, got 1.25"),
        ({"r00": 0.0}, InvalidRequest, "weights must sum to 1, got 0.75"),
        ({"r00": 0.0, "r09": 0.25}, NotFound, "r09"),
    ],
)
def test_refused_set_traffic_changes_nothing(
    cloud: SimCloud, weights: dict[str, float], error: type[Exception], needle: str
) -> None:
    before = cloud.inventory()
    with pytest.raises(error, match=needle):
        cloud.set_traffic(SVC, weights, "k")
    assert cloud.inventory() == before
    # the key was not spent: a valid call with it still applies
    cloud.set_traffic(SVC, {"r00": 0.0, "r01": 0.5}, "k")
    assert cloud.traffic(SVC).weights["r01"] == 0.5


def test_set_traffic_on_unknown_service_is_not_found(cloud: SimCloud) -> None:
    with pytest.raises(NotFound, match="nope"):
        cloud.set_traffic("nope", {"r00": 1.0}, "k")


def test_sum_rule_tolerates_rounding(cloud: SimCloud) -> None:
    third = 1 / 3
    state = cloud.set_traffic(SVC, {"r00": third, "r01": third, "r02": third, "r03": 0.0}, "k")
    assert sum(state.weights.values()) == pytest.approx(1.0, abs=1e-6)
    cloud.set_traffic(SVC, {"r00": 0.3333335, "r01": 0.3333335, "r02": 0.333333}, "k2")
    with pytest.raises(InvalidRequest, match="sum to 1"):
        cloud.set_traffic(SVC, {"r00": 0.33334}, "k3")


def test_repeated_key_changes_once(cloud: SimCloud) -> None:
    first = cloud.set_traffic(SVC, {"r00": 0.0, "r01": 0.5}, "shift")
    cloud.set_traffic(SVC, {"r01": 0.25, "r02": 0.5}, "other")
    ledger = cloud.ledger_size()
    replay = cloud.set_traffic(SVC, {"r00": 0.0, "r01": 0.5}, "shift")
    assert replay == cloud.traffic(SVC) != first  # the current split, not the old one re-applied
    assert replay.weights == {"r00": 0.0, "r01": 0.25, "r02": 0.5, "r03": 0.25}
    assert cloud.ledger_size() == ledger


def test_traffic_key_is_tied_to_its_op_and_service(cloud: SimCloud) -> None:
    cloud.ensure_release(SVC, "r00", "2.0.0", 1, "deploy")
    with pytest.raises(InvalidRequest, match="ensure_release"):
        cloud.set_traffic(SVC, {"r00": 0.25}, "deploy")
    cloud.set_traffic(SVC, {"r00": 0.25}, "shift")
    with pytest.raises(InvalidRequest, match="set_traffic"):
        cloud.set_canary_weight(SVC, "r00", 0.0, "shift")
    with pytest.raises(InvalidRequest, match="checkout"):
        cloud.set_traffic("payments", {"r00": 0.5}, "shift")


def test_traffic_may_go_to_a_region_in_outage(cloud: SimCloud) -> None:
    cloud.inject_outage("r00")
    state = cloud.set_traffic(SVC, {"r00": 0.5, "r01": 0.0}, "k")
    assert state.weights["r00"] == 0.5


def test_replica_lag_default_fault_and_clear(cloud: SimCloud) -> None:
    assert cloud.replica_lag(SVC, "r00") == 1.0
    cloud.inject_replica_lag("r00", 42.5)
    assert cloud.replica_lag(SVC, "r00") == 42.5
    assert cloud.replica_lag("payments", "r00") == 42.5  # the lag is the region's
    assert cloud.replica_lag(SVC, "r01") == 1.0
    cloud.inject_replica_lag("r00", 0.0)
    assert cloud.replica_lag(SVC, "r00") == 0.0
    cloud.inject_replica_lag("r00", 9.0)
    cloud.clear_faults()
    assert cloud.replica_lag(SVC, "r00") == 1.0


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_replica_lag_fault_must_be_a_duration(cloud: SimCloud, seconds: float) -> None:
    with pytest.raises(InvalidRequest):
        cloud.inject_replica_lag("r00", seconds)


def test_replica_lag_errors(cloud: SimCloud) -> None:
    with pytest.raises(NotFound):
        cloud.replica_lag(SVC, "r09")
    cloud.inject_outage("r00")
    with pytest.raises(RegionUnavailable, match="r00"):
        cloud.replica_lag(SVC, "r00")
    cloud.inject_api_fault(1.0, throttle=True)
    with pytest.raises(Throttled):
        cloud.replica_lag(SVC, "r01")


def test_clear_outage_keeps_other_faults(cloud: SimCloud) -> None:
    cloud.inject_outage("r00")
    cloud.inject_outage("r01")
    cloud.inject_replica_lag("r00", 30.0)
    cloud.inject_release_fault("1.0.0", 0.4, regions=["r00"])
    cloud.set_traffic(SVC, {"r00": 0.0, "r02": 0.5}, "evacuate")
    assert not cloud.preflight(SVC, "r00", "1.0.0").ok

    cloud.clear_outage("r00")
    assert cloud.preflight(SVC, "r00", "1.0.0").ok
    assert cloud.replica_lag(SVC, "r00") == 30.0
    assert cloud.health(SVC, "r00").error_rate == pytest.approx(0.4, rel=0.11)
    assert cloud.traffic(SVC).weights["r00"] == 0.0  # recovery does not route traffic back
    assert not cloud.preflight(SVC, "r01", "1.0.0").ok  # other outages stay
    cloud.clear_outage("r09")  # an unknown region is a no-op


def test_health_follows_the_traffic_weight(cloud: SimCloud) -> None:
    before = cloud.health(SVC, "r01").requests
    cloud.set_traffic(SVC, {"r00": 0.0, "r01": 0.5}, "k")
    idle = cloud.health(SVC, "r00")
    assert idle.requests == PREVIEW_REQUESTS  # no live traffic: only synthetic checks
    assert idle.healthy_instances == idle.instances == 2
    assert idle.error_rate < 0.01
    assert cloud.health(SVC, "r01").requests == 2 * before
    assert cloud.metrics(SVC, "r00", "stable", 60).error_rate  # still measurable
    row = next(r for r in cloud.status(SVC) if r["region"] == "r00")
    assert (row["traffic"], row["healthy"]) == (0.0, 2)


def test_all_traffic_on_one_region(cloud: SimCloud) -> None:
    state = cloud.set_traffic(SVC, {"r00": 1.0, "r01": 0.0, "r02": 0.0, "r03": 0.0}, "k")
    assert state.weights == {"r00": 1.0, "r01": 0.0, "r02": 0.0, "r03": 0.0}
    assert all(cloud.health(SVC, r).error_rate < 0.01 for r in REGIONS)
