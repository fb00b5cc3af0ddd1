"""The simulated cloud keeps its promises: idempotent keyed writes, faults, shared state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from activities.clouds.sim import SimCloud
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
    Throttled,
    Unavailable,
)

REGIONS = [f"r{i:02d}" for i in range(8)]


@pytest.fixture
def cloud(tmp_path: Path) -> SimCloud:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed("checkout", [(r, 4) for r in REGIONS], "1.0.0")
    return sim


def test_default_path_is_in_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    assert SimCloud().db_path == tmp_path / "sim.db"
    assert (tmp_path / "sim.db").exists()


def test_seed_is_idempotent(cloud: SimCloud) -> None:
    ids = cloud.instance_ids("checkout", "r00")
    cloud.seed("checkout", [(r, 4) for r in REGIONS], "1.0.0")
    cloud.seed("checkout", [("r00", 9)], "9.9.9")
    assert cloud.instance_ids("checkout", "r00") == ids
    assert cloud.inventory()["total_instances"] == 32
    state = cloud.region_state("checkout", "r00")
    assert state.release == "1.0.0"
    assert state.releases == {"1.0.0": 4}
    assert state.instances == state.healthy == 4
    assert state.traffic == pytest.approx(1 / 8)
    assert all(i.startswith("i-") and len(i) == 14 for i in ids)


def test_unknown_region_is_not_found(cloud: SimCloud) -> None:
    with pytest.raises(NotFound, match="never seeded in region 'nowhere'"):
        cloud.region_state("checkout", "nowhere")
    with pytest.raises(NotFound) as unseeded:
        cloud.preflight("payments", "r00", "2.0.0")
    assert str(unseeded.value) == (
        "sim: service 'payments' was never seeded in region 'r00': seed the sim from your topology"
        " with `globalops sim seed --topology FILE`"
    )
    with pytest.raises(NotFound):
        cloud.ensure_release("checkout", "nowhere", "2.0.0", 1, "k")


def test_preflight_ok(cloud: SimCloud) -> None:
    report = cloud.preflight("checkout", "r00", "2.0.0")
    assert report.ok and not report.problems
    assert set(report.checks) == {"region_reachable", "quota_instances", "quota_vcpus", "artifact"}
    assert not cloud.preflight("checkout", "r00", "").checks["artifact"]


def test_preflight_fails_a_short_quota_naming_it(cloud: SimCloud) -> None:
    in_use = sum(cloud.region_state("checkout", "r00").releases.values())
    cloud.inject_quota("r00", in_use + 2)
    assert cloud.preflight("checkout", "r00", "2.0.0", surge=2).ok  # exactly fits
    short = cloud.preflight("checkout", "r00", "2.0.0", surge=3)
    assert not short.ok and not short.checks["quota_instances"] and not short.checks["quota_vcpus"]
    assert short.problems == [
        f"quota 'instances' in r00: the rollout needs 3 more (6 vCPUs),"
        f" 2 free of {in_use + 2} ({in_use} in use)"
    ]
    cloud.inject_quota("r00", None)  # back to the default
    assert cloud.preflight("checkout", "r00", "2.0.0", surge=3).ok
    cloud.inject_quota("r00", 0)
    cloud.clear_faults()
    assert cloud.preflight("checkout", "r00", "2.0.0", surge=3).ok


def test_a_metrics_gap_reads_as_unknown_never_zero(cloud: SimCloud) -> None:
    cloud.inject_metrics_gap("r00")
    sample = cloud.health("checkout", "r00")
    assert sample.healthy_instances == sample.instances > 0
    assert (sample.error_rate, sample.latency_p99_ms, sample.cpu, sample.requests) == (None, None, None, None)
    assert sample.missing() == ["error rate", "p99 latency", "cpu", "request count"]
    assert cloud.metrics("checkout", "r00", "stable", 60).error_rate == []
    assert cloud.health("checkout", "r01").missing() == []  # other regions keep reporting
    cloud.clear_metrics_gap("r00")
    assert cloud.health("checkout", "r00").missing() == []


def test_ensure_release_replaces_in_batches(cloud: SimCloud) -> None:
    original = cloud.instance_ids("checkout", "r00")
    first = cloud.ensure_release("checkout", "r00", "2.0.0", 1, "k1")
    assert first.changed == 1
    assert first.state.releases == {"1.0.0": 3, "2.0.0": 1}
    assert first.state.instances == 4
    ids = cloud.instance_ids("checkout", "r00")
    assert ids[:3] == original[1:]  # the oldest instance went first

    second = cloud.ensure_release("checkout", "r00", "2.0.0", 2, "k2")
    assert second.changed == 1
    assert second.state.releases == {"1.0.0": 2, "2.0.0": 2}
    assert second.state.release == "2.0.0"  # a tie goes to the newest release

    third = cloud.ensure_release("checkout", "r00", "2.0.0", 99, "k3")
    assert third.changed == 2
    assert third.state.releases == {"2.0.0": 4}
    assert third.state.instances == 4
    assert cloud.ensure_release("checkout", "r00", "2.0.0", 4, "k4").changed == 0
    assert cloud.inventory()["total_instances"] == 32
    assert cloud.inventory()["instances"]["checkout"]["r01"] == {"1.0.0": 4}


def test_same_key_changes_the_cloud_once(cloud: SimCloud) -> None:
    first = cloud.ensure_release("checkout", "r00", "2.0.0", 2, "rollout-1/r00/batch-1")
    ids = cloud.instance_ids("checkout", "r00")
    again = cloud.ensure_release("checkout", "r00", "2.0.0", 2, "rollout-1/r00/batch-1")
    assert cloud.instance_ids("checkout", "r00") == ids
    assert cloud.ledger_size() == 1
    assert again.changed == first.changed == 2
    assert again.state == first.state

    # A different key continues from where the cloud is.
    nxt = cloud.ensure_release("checkout", "r00", "2.0.0", 4, "rollout-1/r00/batch-2")
    assert nxt.changed == 2
    assert nxt.state.releases == {"2.0.0": 4}
    assert cloud.ledger_size() == 2

    # Replaying the first key reports its own change but the current state.
    replay = cloud.ensure_release("checkout", "r00", "2.0.0", 2, "rollout-1/r00/batch-1")
    assert replay.changed == 2
    assert replay.state.releases == {"2.0.0": 4}


def test_rollback_is_just_another_release(cloud: SimCloud) -> None:
    cloud.ensure_release("checkout", "r00", "2.0.0", 4, "fwd")
    back = cloud.ensure_release("checkout", "r00", "1.0.0", 4, "back")
    assert back.changed == 4
    assert back.state.releases == {"1.0.0": 4}


def test_invalid_requests(cloud: SimCloud) -> None:
    with pytest.raises(InvalidRequest):
        cloud.ensure_release("checkout", "r00", "2.0.0", -1, "k")
    with pytest.raises(InvalidRequest):
        cloud.ensure_release("checkout", "r00", "", 1, "k")
    with pytest.raises(InvalidRequest):
        cloud.inject_release_fault("2.0.0", 1.5)
    with pytest.raises(InvalidRequest):
        cloud.inject_api_fault(-0.1, throttle=False)
    assert cloud.ledger_size() == 0


def test_outage(cloud: SimCloud) -> None:
    cloud.inject_outage("r03")
    report = cloud.preflight("checkout", "r03", "2.0.0")
    assert not report.ok
    assert not report.checks["region_reachable"]
    assert "region outage" in report.problems
    with pytest.raises(RegionUnavailable):
        cloud.ensure_release("checkout", "r03", "2.0.0", 1, "k")
    assert cloud.ledger_size() == 0
    sample = cloud.health("checkout", "r03")
    assert sample.error_rate == 1.0
    assert sample.healthy_instances == 0
    assert sample.requests == 0
    assert cloud.region_state("checkout", "r03").healthy == 0
    assert cloud.preflight("checkout", "r04", "2.0.0").ok

    cloud.clear_faults()
    assert cloud.preflight("checkout", "r03", "2.0.0").ok
    assert cloud.ensure_release("checkout", "r03", "2.0.0", 1, "k").changed == 1


def test_healthy_baseline(cloud: SimCloud) -> None:
    sample = cloud.health("checkout", "r00")
    assert sample.error_rate == pytest.approx(0.002, rel=0.11)
    assert 75 <= sample.latency_p99_ms <= 85
    assert 0.35 <= sample.cpu <= 0.45
    assert sample.requests == 2000
    assert sample.healthy_instances == sample.instances == 4


def test_release_fault_hits_named_regions_and_release_only(cloud: SimCloud) -> None:
    cloud.inject_release_fault("2.0.0", 0.4, latency_ms=200, regions=["r00", "r01"])
    for region in ("r00", "r01", "r02"):
        cloud.ensure_release("checkout", region, "2.0.0", 2, f"k-{region}")

    r00 = cloud.health("checkout", "r00")  # half the instances on the bad release
    assert r00.error_rate == pytest.approx((0.4 + 0.002) / 2, rel=0.11)
    assert (80 + 100) * 0.95 <= r00.latency_p99_ms <= (80 + 100) * 1.05
    assert cloud.health("checkout", "r02").error_rate < 0.01  # same release, not named
    assert cloud.health("checkout", "r05").error_rate < 0.01  # still on 1.0.0

    cloud.ensure_release("checkout", "r01", "2.0.0", 4, "k-r01-all")
    assert cloud.health("checkout", "r01").error_rate == pytest.approx(0.4, rel=0.11)

    cloud.clear_faults()
    assert cloud.health("checkout", "r01").error_rate < 0.01


def test_seed_returns_only_what_it_seeded(cloud: SimCloud) -> None:
    assert cloud.seed("checkout", [("r00", 4), ("r99", 2)], "9.0.0") == ["r99"]
    assert cloud.seed("checkout", [("r00", 4), ("r99", 2)], "9.0.0") == []
    assert cloud.region_state("checkout", "r00").release == "1.0.0"  # already seeded: untouched
    assert cloud.region_state("checkout", "r99").releases == {"9.0.0": 2}


def test_release_fault_without_an_error_rate_keeps_the_baseline(cloud: SimCloud) -> None:
    cloud.inject_release_fault("1.0.0", latency_ms=40, regions=["r00"])
    sample = cloud.health("checkout", "r00")
    assert sample.error_rate == pytest.approx(0.002, rel=0.11)
    assert 120 * 0.95 <= sample.latency_p99_ms <= 120 * 1.05
    assert cloud.release_faults() == [
        {
            "release": "1.0.0",
            "error_rate": 0.002,
            "added_latency_ms": 40.0,
            "regions": ["r00"],
            "under_load": False,
        }
    ]


def test_release_fault_everywhere_is_capped(cloud: SimCloud) -> None:
    cloud.inject_release_fault("1.0.0", 1.0)
    for region in REGIONS:
        assert 0.9 <= cloud.health("checkout", region).error_rate <= 1.0


@pytest.mark.parametrize(("throttle", "error"), [(True, Throttled), (False, Unavailable)])
def test_api_fault(cloud: SimCloud, throttle: bool, error: type[Exception]) -> None:
    ids = cloud.instance_ids("checkout", "r00")
    cloud.inject_api_fault(1.0, throttle=throttle)
    with pytest.raises(error, match=r"sim: injected API error \(rate 1\)"):
        cloud.preflight("checkout", "r00", "2.0.0")
    with pytest.raises(error):
        cloud.region_state("checkout", "r00")
    with pytest.raises(error):
        cloud.health("checkout", "r00")
    with pytest.raises(error):
        cloud.ensure_release("checkout", "r00", "2.0.0", 4, "k")
    assert cloud.instance_ids("checkout", "r00") == ids
    assert cloud.ledger_size() == 0
    assert len(cloud.status("checkout")) == 8  # the operator's view ignores API faults

    cloud.inject_api_fault(0.0, throttle=throttle)
    assert cloud.ensure_release("checkout", "r00", "2.0.0", 4, "k").changed == 4


def test_two_objects_share_one_file(tmp_path: Path) -> None:
    a = SimCloud(tmp_path / "sim.db")
    b = SimCloud(tmp_path / "sim.db")
    a.seed("checkout", [("eu-west-1", 3)], "1.0.0")
    assert b.region_state("checkout", "eu-west-1").instances == 3
    b.ensure_release("checkout", "eu-west-1", "2.0.0", 3, "k")
    assert a.region_state("checkout", "eu-west-1").releases == {"2.0.0": 3}
    a.inject_outage("eu-west-1")
    assert not b.preflight("checkout", "eu-west-1", "2.0.0").ok
    assert b.ledger_size() == 1


def test_reset_wipes_everything(cloud: SimCloud) -> None:
    cloud.ensure_release("checkout", "r00", "2.0.0", 1, "k")
    cloud.inject_outage("r00")
    cloud.reset()
    assert cloud.inventory() == {
        "instances": {},
        "groups": {},
        "canary_weights": {},
        "traffic": {},
        "total_instances": 0,
        "ledger": 0,
        "snapshots": {},
        "resources": {},
        "total_resources": 0,
    }
    assert cloud.status("checkout") == []
    cloud.seed("checkout", [("r00", 2)], "1.0.0")
    assert cloud.preflight("checkout", "r00", "1.0.0").ok
    assert cloud.region_state("checkout", "r00").traffic == 1.0


def test_status_rows(cloud: SimCloud) -> None:
    rows = cloud.status("checkout")
    assert [r["region"] for r in rows] == sorted(REGIONS)
    assert rows[0].keys() == {
        "region",
        "release",
        "releases",
        "healthy",
        "instances",
        "traffic",
        "error_rate",
        "latency_ms",
        "stable_releases",
        "groups",
        "canary_release",
        "canary_weight",
        "canary_instances",
    }
    assert rows[0]["canary_release"] is None
    assert rows[0]["canary_weight"] == 0.0
    assert rows[0]["canary_instances"] == 0
    assert sum(r["traffic"] for r in rows) == pytest.approx(1.0)
    assert cloud.status("unknown-service") == []


def test_concurrent_keyed_deploys(cloud: SimCloud) -> None:
    barrier = threading.Barrier(len(REGIONS))

    def deploy(region: str) -> None:
        barrier.wait()
        for batch, count in enumerate((1, 2, 4), start=1):
            key = f"{region}/b{batch}"
            cloud.ensure_release("checkout", region, "2.0.0", count, key)
            cloud.ensure_release("checkout", region, "2.0.0", count, key)
            cloud.health("checkout", region)

    with ThreadPoolExecutor(max_workers=len(REGIONS)) as pool:
        for future in [pool.submit(deploy, r) for r in REGIONS]:
            future.result(timeout=60)  # re-raises any error of the thread
    assert cloud.ledger_size() == 3 * len(REGIONS)
    inventory = cloud.inventory()
    assert inventory["total_instances"] == 32
    assert all(inventory["instances"]["checkout"][r] == {"2.0.0": 4} for r in REGIONS)
