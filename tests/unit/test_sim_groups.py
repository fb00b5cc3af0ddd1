"""The sim's canary / green group: keyed group changes, traffic-weighted health, metrics, migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from activities.clouds.sim import SimCloud
from contracts.cloud import (
    DeployResult,
    RegionState,
)
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
    Throttled,
)

SVC = "checkout"
R = "r00"


@pytest.fixture
def cloud(tmp_path: Path) -> SimCloud:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed(SVC, [(R, 4), ("r01", 4)], "1.0.0")
    return sim


def snapshot(cloud: SimCloud) -> tuple[dict[str, Any], list[str], RegionState]:
    return cloud.inventory(), cloud.instance_ids(SVC, R), cloud.region_state(SVC, R)


# --------------------------------------------------------------------------- scale_group


def test_scale_group_creates_a_canary_beside_stable(cloud: SimCloud) -> None:
    stable_ids = cloud.instance_ids(SVC, R, "stable")
    result = cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "c1")
    assert result.key == "c1"
    assert result.changed == 2
    state = result.state
    assert (state.instances, state.release) == (4, "1.0.0")
    assert (state.canary_instances, state.canary_release, state.canary_weight) == (2, "2.0.0", 0.0)
    assert state.releases == {"1.0.0": 4, "2.0.0": 2}
    assert state.healthy == 6
    assert cloud.instance_ids(SVC, R, "stable") == stable_ids
    inventory = cloud.inventory()
    assert inventory["groups"][SVC][R] == {"stable": {"1.0.0": 4}, "canary": {"2.0.0": 2}}
    assert inventory["instances"][SVC][R] == {"1.0.0": 4, "2.0.0": 2}
    assert inventory["total_instances"] == 10
    assert inventory["groups"][SVC]["r01"] == {"stable": {"1.0.0": 4}}


def test_scale_group_replaces_another_release(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "c1")
    old = cloud.instance_ids(SVC, R, "canary")
    result = cloud.scale_group(SVC, R, "canary", "2.0.1", 2, "c2")
    assert result.changed == 2
    assert result.state.canary_release == "2.0.1"
    assert result.state.releases == {"1.0.0": 4, "2.0.1": 2}
    assert not set(old) & set(cloud.instance_ids(SVC, R, "canary"))


def test_scale_group_shrinks_newest_first_and_zero_removes(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 3, "grow")
    ids = cloud.instance_ids(SVC, R, "canary")
    shrink = cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "shrink")
    assert shrink.changed == 2
    assert cloud.instance_ids(SVC, R, "canary") == ids[:1]
    assert cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "same").changed == 0

    cloud.set_canary_weight(SVC, R, 0.3, "w")
    removed = cloud.scale_group(SVC, R, "canary", "2.0.0", 0, "remove")
    assert removed.changed == 1
    state = removed.state
    assert (state.canary_instances, state.canary_release, state.canary_weight) == (0, None, 0.0)
    assert state.releases == {"1.0.0": 4}
    assert cloud.inventory()["groups"][SVC][R] == {"stable": {"1.0.0": 4}}


def test_scale_group_resizes_a_mixed_stable_group(cloud: SimCloud) -> None:
    cloud.ensure_release(SVC, R, "2.0.0", 2, "half")  # stable: 2 × 1.0.0, 2 × 2.0.0
    on_new = cloud.instance_ids(SVC, R, "stable")[2:]
    result = cloud.scale_group(SVC, R, "stable", "2.0.0", 3, "three")
    assert result.changed == 2  # one 1.0.0 replaced, the other deleted
    assert result.state.releases == {"2.0.0": 3}
    assert result.state.instances == 3
    assert cloud.instance_ids(SVC, R, "stable")[:2] == on_new

    grow = cloud.scale_group(SVC, R, "stable", "2.0.0", 6, "six")
    assert grow.changed == 3
    assert grow.state.releases == {"2.0.0": 6}


def test_ensure_release_leaves_the_canary_alone(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "c1")
    canary = cloud.instance_ids(SVC, R, "canary")
    result = cloud.ensure_release(SVC, R, "2.0.0", 4, "all")
    assert result.changed == 4  # only the stable instances, though 2 already ran 2.0.0
    assert result.state.instances == 4
    assert result.state.canary_instances == 2
    assert cloud.instance_ids(SVC, R, "canary") == canary


def test_scale_group_refusals_record_nothing(cloud: SimCloud) -> None:
    with pytest.raises(InvalidRequest):
        cloud.scale_group(SVC, R, "canary", "2.0.0", -1, "k")
    with pytest.raises(InvalidRequest):
        cloud.scale_group(SVC, R, "canary", "", 1, "k")
    with pytest.raises(InvalidRequest, match="group"):
        cloud.scale_group(SVC, R, "blue", "2.0.0", 1, "k")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        cloud.scale_group(SVC, "nowhere", "canary", "2.0.0", 1, "k")
    cloud.inject_outage(R)
    with pytest.raises(RegionUnavailable):
        cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "k")
    with pytest.raises(RegionUnavailable):
        cloud.set_canary_weight(SVC, R, 0.0, "k")
    with pytest.raises(RegionUnavailable):
        cloud.promote_canary(SVC, R, "k")
    with pytest.raises(RegionUnavailable):
        cloud.restore(SVC, R, "1.0.0", 4, "k")
    assert cloud.ledger_size() == 0
    assert cloud.inventory()["groups"][SVC][R] == {"stable": {"1.0.0": 4}}


# --------------------------------------------------------------------------- once per key


def _mid_canary(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "setup-canary")
    cloud.set_canary_weight(SVC, R, 0.25, "setup-weight")


CALLS: dict[str, Callable[[SimCloud], DeployResult | RegionState]] = {
    "scale_group": lambda c: c.scale_group(SVC, R, "canary", "3.0.0", 3, "K"),
    "set_canary_weight": lambda c: c.set_canary_weight(SVC, R, 0.75, "K"),
    "promote_canary": lambda c: c.promote_canary(SVC, R, "K"),
    "restore": lambda c: c.restore(SVC, R, "1.0.0", 4, "K"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_key_changes_the_cloud_once(cloud: SimCloud, name: str) -> None:
    _mid_canary(cloud)
    before = snapshot(cloud)
    first = CALLS[name](cloud)
    after = snapshot(cloud)
    assert after != before  # the first call changed something
    assert cloud.ledger_size() == 3

    again = CALLS[name](cloud)
    assert snapshot(cloud) == after
    assert cloud.ledger_size() == 3
    assert again == first


def test_replay_reports_the_current_state(cloud: SimCloud) -> None:
    _mid_canary(cloud)
    first = cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "grow")
    cloud.promote_canary(SVC, R, "promote")
    replay = cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "grow")
    assert replay.changed == first.changed == 2
    assert replay.state == cloud.region_state(SVC, R)
    assert replay.state.canary_instances == 0
    promoted = cloud.promote_canary(SVC, R, "promote")  # no canary now, but a replay is fine
    assert promoted == cloud.region_state(SVC, R)


def test_a_key_belongs_to_one_kind_of_call(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "K")
    with pytest.raises(InvalidRequest, match="already used by scale_group"):
        cloud.set_canary_weight(SVC, R, 0.5, "K")
    with pytest.raises(InvalidRequest, match="already used by scale_group"):
        cloud.ensure_release(SVC, R, "2.0.0", 4, "K")
    assert cloud.region_state(SVC, R).canary_weight == 0.0
    assert cloud.ledger_size() == 1


# --------------------------------------------------------------------------- weight, promote, restore


@pytest.mark.parametrize("weight", [-0.1, 1.01, float("nan")])
def test_weight_outside_0_1_is_refused(cloud: SimCloud, weight: float) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c")
    with pytest.raises(InvalidRequest, match=r"within 0\.\.1"):
        cloud.set_canary_weight(SVC, R, weight, "w")
    assert cloud.region_state(SVC, R).canary_weight == 0.0
    assert cloud.ledger_size() == 1


def test_weight_needs_canary_instances(cloud: SimCloud) -> None:
    with pytest.raises(InvalidRequest, match="no canary instances to send traffic to"):
        cloud.set_canary_weight(SVC, R, 0.1, "w")
    assert cloud.ledger_size() == 0
    assert cloud.set_canary_weight(SVC, R, 0.0, "zero").canary_weight == 0.0
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c")
    state = cloud.set_canary_weight(SVC, R, 1.0, "all")
    assert state.canary_weight == 1.0
    assert cloud.region_state("checkout", "r01").canary_weight == 0.0
    assert cloud.inventory()["canary_weights"] == {SVC: {R: 1.0}}


def test_promote_canary_leaves_only_the_new_release(cloud: SimCloud) -> None:
    with pytest.raises(InvalidRequest, match="no canary instances"):
        cloud.promote_canary(SVC, R, "early")
    cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "green")
    green = cloud.instance_ids(SVC, R, "canary")
    cloud.set_canary_weight(SVC, R, 0.5, "half")
    state = cloud.promote_canary(SVC, R, "promote")
    assert state.releases == {"2.0.0": 4}
    assert (state.instances, state.release) == (4, "2.0.0")
    assert (state.canary_instances, state.canary_release, state.canary_weight) == (0, None, 0.0)
    assert cloud.instance_ids(SVC, R, "stable") == green  # relabelled, not recreated
    assert cloud.instance_ids(SVC, R, "canary") == []


def test_restore_from_mid_canary(cloud: SimCloud) -> None:
    original = cloud.instance_ids(SVC, R)
    cloud.ensure_release(SVC, R, "2.0.0", 2, "batch-1")  # 2 stable replaced
    cloud.scale_group(SVC, R, "canary", "2.0.0", 3, "canary")
    cloud.set_canary_weight(SVC, R, 0.25, "weight")
    state = cloud.restore(SVC, R, "1.0.0", 4, "rollback")
    assert state.releases == {"1.0.0": 4}
    assert (state.instances, state.release) == (4, "1.0.0")
    assert (state.canary_instances, state.canary_release, state.canary_weight) == (0, None, 0.0)
    assert cloud.instance_ids(SVC, R)[:2] == original[2:]  # untouched 1.0.0 instances stay
    assert cloud.inventory()["groups"][SVC][R] == {"stable": {"1.0.0": 4}}
    ids = cloud.instance_ids(SVC, R)
    cloud.restore(SVC, R, "1.0.0", 4, "again")  # restoring a restored region is a no-op
    assert cloud.instance_ids(SVC, R) == ids
    with pytest.raises(InvalidRequest):
        cloud.restore(SVC, R, "1.0.0", -1, "bad")


# --------------------------------------------------------------------------- health and metrics


@pytest.mark.parametrize(
    ("weight", "expected"),
    [(0.0, 0.002), (0.05, 0.95 * 0.002 + 0.05 * 0.5), (1.0, 0.5)],
)
def test_health_weights_each_group_by_its_traffic(cloud: SimCloud, weight: float, expected: float) -> None:
    cloud.inject_release_fault("2.0.0", 0.5, latency_ms=200)
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c")
    cloud.set_canary_weight(SVC, R, weight, "w")
    sample = cloud.health(SVC, R)
    assert sample.error_rate == pytest.approx(expected, rel=0.11)
    latency = 80 + weight * 200
    assert latency * 0.95 <= sample.latency_p99_ms <= latency * 1.05
    assert sample.healthy_instances == sample.instances == 5


def test_under_load_fault_hides_from_preview_traffic(cloud: SimCloud) -> None:
    cloud.inject_release_fault("2.0.0", 0.5, latency_ms=300, under_load=True)
    cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "green")

    preview = cloud.metrics(SVC, R, "canary", 300)
    assert preview.requests == 200
    assert max(preview.error_rate) < 0.01
    assert max(preview.latency_p99_ms) < 80 * 1.07 + 1e-9
    assert cloud.health(SVC, R).error_rate < 0.01

    cloud.set_canary_weight(SVC, R, 1.0, "switch")
    live = cloud.metrics(SVC, R, "canary", 300)
    assert live.requests == 2000
    assert mean(live.error_rate) == pytest.approx(0.5, rel=0.1)
    assert min(live.latency_p99_ms) >= 380 * 0.93
    assert cloud.health(SVC, R).error_rate == pytest.approx(0.5, rel=0.11)
    blue = cloud.metrics(SVC, R, "stable", 300)  # blue now only gets preview traffic
    assert blue.requests == 200
    assert max(blue.error_rate) < 0.01


def test_a_plain_fault_shows_in_preview_traffic(cloud: SimCloud) -> None:
    cloud.inject_release_fault("2.0.0", 0.5)
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "green")
    assert mean(cloud.metrics(SVC, R, "canary", 60).error_rate) == pytest.approx(0.5, rel=0.1)
    assert cloud.health(SVC, R).error_rate < 0.01  # but no live traffic reaches it


def test_under_load_fault_on_stable_goes_away_when_traffic_leaves(cloud: SimCloud) -> None:
    cloud.inject_release_fault("1.0.0", 0.4, under_load=True)
    assert cloud.health(SVC, R).error_rate == pytest.approx(0.4, rel=0.11)
    cloud.scale_group(SVC, R, "canary", "2.0.0", 4, "green")
    cloud.set_canary_weight(SVC, R, 1.0, "switch")
    assert cloud.health(SVC, R).error_rate < 0.01
    assert max(cloud.metrics(SVC, R, "stable", 60).error_rate) < 0.01


def test_metrics_shape(cloud: SimCloud) -> None:
    cloud.scale_group(SVC, R, "canary", "2.0.0", 2, "c")
    cloud.set_canary_weight(SVC, R, 0.25, "w")
    canary = cloud.metrics(SVC, R, "canary", 600)
    assert (canary.region, canary.group, canary.release) == (R, "canary", "2.0.0")
    assert len(canary.error_rate) == len(canary.latency_p99_ms) == 60
    assert all(0.002 * 0.8 <= e <= 0.002 * 1.2 for e in canary.error_rate)
    assert all(80 * 0.93 <= v <= 80 * 1.07 for v in canary.latency_p99_ms)
    assert canary.requests == 500
    stable = cloud.metrics(SVC, R, "stable", 600)
    assert (stable.release, stable.requests, len(stable.error_rate)) == ("1.0.0", 1500, 60)

    empty = cloud.metrics(SVC, "r01", "canary", 600)
    assert (empty.release, empty.error_rate, empty.latency_p99_ms, empty.requests) == (None, [], [], 0)


def test_metrics_are_capped_and_refuse_like_other_calls(cloud: SimCloud) -> None:
    cloud.inject_release_fault("1.0.0", 1.0)
    assert max(cloud.metrics(SVC, R, "stable", 60).error_rate) == 1.0
    with pytest.raises(InvalidRequest):
        cloud.metrics(SVC, R, "stable", 0)
    with pytest.raises(InvalidRequest):
        cloud.metrics(SVC, R, "green", 60)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        cloud.metrics(SVC, "nowhere", "stable", 60)
    cloud.inject_outage(R)
    with pytest.raises(RegionUnavailable):
        cloud.metrics(SVC, R, "stable", 60)
    cloud.clear_faults()
    cloud.inject_api_fault(1.0, throttle=True)
    with pytest.raises(Throttled):
        cloud.metrics(SVC, R, "stable", 60)


def test_status_shows_the_canary(cloud: SimCloud) -> None:
    cloud.ensure_release(SVC, R, "1.1.0", 1, "mix")
    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c")
    cloud.set_canary_weight(SVC, R, 0.25, "w")
    row = {r["region"]: r for r in cloud.status(SVC)}[R]
    assert (row["canary_release"], row["canary_weight"], row["canary_instances"]) == ("2.0.0", 0.25, 1)
    assert row["stable_releases"] == {"1.0.0": 3, "1.1.0": 1}
    assert row["releases"] == {"1.0.0": 3, "1.1.0": 1, "2.0.0": 1}
    assert (row["release"], row["instances"], row["healthy"]) == ("1.0.0", 4, 5)


# --------------------------------------------------------------------------- migration

OLD_SCHEMA = (
    "CREATE TABLE regions (name TEXT PRIMARY KEY, outage INTEGER NOT NULL DEFAULT 0)",
    """CREATE TABLE instances (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL, region TEXT NOT NULL, release TEXT NOT NULL,
        created_at TEXT NOT NULL, created_by_key TEXT)""",
    """CREATE TABLE traffic (service TEXT NOT NULL, region TEXT NOT NULL, weight REAL NOT NULL,
        PRIMARY KEY (service, region))""",
    """CREATE TABLE release_faults (release TEXT PRIMARY KEY, error_rate REAL NOT NULL,
        latency_ms REAL NOT NULL, regions TEXT)""",
    """CREATE TABLE api_faults (id INTEGER PRIMARY KEY CHECK (id = 1), error_rate REAL NOT NULL,
        throttle INTEGER NOT NULL)""",
    "CREATE TABLE ledger (key TEXT PRIMARY KEY, result TEXT NOT NULL, created_at TEXT NOT NULL)",
)


def _old_db(path: Path) -> DeployResult:
    """A sim.db as the version before groups left it: 3 instances, a fault, one ledger entry."""
    old_result = DeployResult(
        key="old",
        changed=1,
        state=RegionState(
            region=R, service=SVC, release="1.0.0", releases={}, instances=3, healthy=3, traffic=1
        ),
    )
    conn = sqlite3.connect(path)
    with conn:
        for statement in OLD_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO regions VALUES (?, 0)", (R,))
        conn.execute("INSERT INTO traffic VALUES (?, ?, 1.0)", (SVC, R))
        conn.executemany(
            "INSERT INTO instances (id, service, region, release, created_at) VALUES (?, ?, ?, ?, 'then')",
            [(f"i-old{n}", SVC, R, release) for n, release in enumerate(("1.0.0", "1.0.0", "0.9.0"))],
        )
        conn.execute("INSERT INTO release_faults VALUES ('0.9.0', 0.3, 0, NULL)")
        conn.execute("INSERT INTO ledger VALUES ('old', ?, 'then')", (old_result.model_dump_json(),))
    conn.close()
    return old_result


def test_an_old_sim_db_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    old_result = _old_db(path)
    cloud = SimCloud(path)
    SimCloud(path)  # opening a migrated file again changes nothing
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(instances)")}
    conn.close()
    assert "grp" in columns

    state = cloud.region_state(SVC, R)
    assert (state.instances, state.release, state.canary_instances) == (3, "1.0.0", 0)
    assert cloud.instance_ids(SVC, R, "stable") == ["i-old0", "i-old1", "i-old2"]
    assert cloud.health(SVC, R).error_rate == pytest.approx((0.3 + 2 * 0.002) / 3, rel=0.11)
    replay = cloud.ensure_release(SVC, R, "1.0.0", 3, "old")  # the old ledger entry still counts
    assert replay.changed == old_result.changed
    assert cloud.ledger_size() == 1

    cloud.scale_group(SVC, R, "canary", "2.0.0", 1, "c")
    cloud.set_canary_weight(SVC, R, 0.5, "w")
    assert cloud.region_state(SVC, R).canary_weight == 0.5
    assert cloud.promote_canary(SVC, R, "p").releases == {"2.0.0": 1}
