"""The sim's storage port: snapshots, copies and recovery resources behave like a real cloud's."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.clouds.sim import SimCloud
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
    Throttled,
)
from contracts.storage import PROD

SVC = "checkout"
SRC = "us-east-1"
DST = "us-west-2"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_snapshot_is_stamped_with_the_callers_clock(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "snap-1")
    assert snap.id.startswith("snap-") and len(snap.id) == len("snap-") + 12
    assert (snap.service, snap.region, snap.source_region, snap.copy_of, snap.key) == (
        SVC,
        SRC,
        SRC,
        None,
        "snap-1",
    )
    assert snap.taken_at == T0
    assert snap.watermark == int(T0.timestamp() * 1000)
    assert snap.checksum == hashlib.sha256(f"{SVC}/{SRC}/{snap.watermark}".encode()).hexdigest()
    later = sim.snapshot_volume(SVC, SRC, T0 + timedelta(days=40), "snap-2")
    assert later.watermark - snap.watermark == 40 * 86_400_000
    assert later.checksum != snap.checksum


def test_snapshot_once_per_key_even_after_delete(sim: SimCloud) -> None:
    first = sim.snapshot_volume(SVC, SRC, T0, "k")
    assert sim.snapshot_volume(SVC, SRC, T0 + timedelta(hours=1), "k") == first
    assert [s.id for s in sim.list_snapshots(SVC, SRC)] == [first.id]
    assert sim.delete_snapshot(SVC, SRC, first.id)
    assert sim.snapshot_volume(SVC, SRC, T0, "k") == first
    assert sim.list_snapshots(SVC, SRC) == []
    assert sim.ledger_size() == 1
    with pytest.raises(InvalidRequest, match="already used"):
        sim.snapshot_volume(SVC, DST, T0, "k")


def test_list_is_newest_first_then_latest_made(sim: SimCloud) -> None:
    old = sim.snapshot_volume(SVC, SRC, T0, "a")
    new = sim.snapshot_volume(SVC, SRC, T0 + timedelta(days=1), "b")
    tie = sim.snapshot_volume(SVC, SRC, T0, "c")
    mid = sim.snapshot_volume(SVC, SRC, T0 + timedelta(microseconds=500), "d")
    assert [s.id for s in sim.list_snapshots(SVC, SRC)] == [new.id, mid.id, tie.id, old.id]
    assert sim.list_snapshots(SVC, DST) == []


def test_copy_is_found_by_key_not_made_twice(sim: SimCloud) -> None:
    original = sim.snapshot_volume(SVC, SRC, T0, "snap")
    copy = sim.copy_snapshot(SVC, original.id, SRC, DST, "copy")
    assert copy.id != original.id
    assert (copy.region, copy.source_region, copy.copy_of, copy.key) == (DST, SRC, original.id, "copy")
    assert (copy.taken_at, copy.checksum, copy.watermark) == (
        original.taken_at,
        original.checksum,
        original.watermark,
    )
    assert sim.copy_snapshot(SVC, original.id, SRC, DST, "copy") == copy
    assert sim.list_snapshots(SVC, DST) == [copy]
    assert sim.ledger_size() == 1  # only the snapshot: copies rely on their tag, not the ledger

    # the retry still finds the copy after the original is gone
    sim.delete_snapshot(SVC, SRC, original.id)
    assert sim.copy_snapshot(SVC, original.id, SRC, DST, "copy") == copy
    assert len(sim.list_snapshots(SVC, DST)) == 1


def test_copy_of_a_copy_points_at_the_original(sim: SimCloud) -> None:
    original = sim.snapshot_volume(SVC, SRC, T0, "snap")
    first = sim.copy_snapshot(SVC, original.id, SRC, DST, "copy-1")
    second = sim.copy_snapshot(SVC, first.id, DST, "eu-west-1", "copy-2")
    assert (second.region, second.source_region, second.copy_of) == ("eu-west-1", SRC, original.id)
    assert sim.copy_snapshot(SVC, first.id, DST, "eu-west-1", "copy-2") == second


def test_copy_refusals(sim: SimCloud) -> None:
    original = sim.snapshot_volume(SVC, SRC, T0, "snap")
    with pytest.raises(NotFound, match=f"snapshot '{original.id}'.*'{DST}'"):
        sim.copy_snapshot(SVC, original.id, DST, "eu-west-1", "copy")
    with pytest.raises(NotFound, match="snap-nope"):
        sim.copy_snapshot(SVC, "snap-nope", SRC, DST, "copy")
    sim.snapshot_volume(SVC, DST, T0, "dst-snap")
    with pytest.raises(InvalidRequest, match="dst-snap"):
        sim.copy_snapshot(SVC, original.id, SRC, DST, "dst-snap")  # the key tags an original there
    assert len(sim.list_snapshots(SVC, DST)) == 1


def test_outages(sim: SimCloud) -> None:
    original = sim.snapshot_volume(SVC, SRC, T0, "snap")
    copy = sim.copy_snapshot(SVC, original.id, SRC, DST, "copy")
    volume = sim.restore_volume(SVC, SRC, original.id, "drill-1", "vol")
    sim.inject_outage(SRC)
    with pytest.raises(RegionUnavailable):
        sim.snapshot_volume(SVC, SRC, T0, "snap-2")
    with pytest.raises(RegionUnavailable):
        sim.list_snapshots(SVC, SRC)
    with pytest.raises(RegionUnavailable):
        sim.delete_snapshot(SVC, SRC, original.id)
    with pytest.raises(RegionUnavailable):
        sim.restore_volume(SVC, SRC, original.id, "drill-1", "vol-2")
    with pytest.raises(RegionUnavailable):
        sim.check_volume(SVC, SRC, volume.id)
    with pytest.raises(RegionUnavailable):
        sim.copy_snapshot(SVC, original.id, SRC, "eu-west-1", "copy-2")  # the source is unreadable
    with pytest.raises(RegionUnavailable):
        sim.copy_snapshot(SVC, copy.id, DST, SRC, "back")
    # recovery works from the copies in the target region; cleanup works everywhere
    assert sim.list_snapshots(SVC, DST) == [copy]
    assert sim.copy_snapshot(SVC, original.id, SRC, DST, "copy") == copy  # found, nothing read
    restored = sim.restore_volume(SVC, DST, copy.id, PROD, "dr-vol")
    assert sim.check_volume(SVC, DST, restored.id).checksum == original.checksum
    assert [r.id for r in sim.list_resources(SVC)] == [volume.id, restored.id]
    assert sim.delete_resource(SVC, SRC, volume.id)
    assert sim.snapshots(SVC) == [original, copy]  # by region name; the view ignores outages


def test_restore_once_per_key_and_checks(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "snap")
    volume = sim.restore_volume(SVC, SRC, snap.id, "drill-1", "vol")
    assert volume.id.startswith("vol-") and len(volume.id) == len("vol-") + 12
    assert (volume.kind, volume.region, volume.env, volume.snapshot_id) == ("volume", SRC, "drill-1", snap.id)
    assert sim.restore_volume(SVC, SRC, snap.id, "drill-1", "vol") == volume
    assert sim.list_resources(SVC) == [volume]
    check = sim.check_volume(SVC, SRC, volume.id)
    assert (check.volume_id, check.region, check.checksum, check.watermark) == (
        volume.id,
        SRC,
        snap.checksum,
        snap.watermark,
    )
    with pytest.raises(NotFound, match=snap.id):
        sim.restore_volume(SVC, DST, snap.id, "drill-1", "vol-2")  # not stored there
    with pytest.raises(NotFound, match="vol-nope"):
        sim.check_volume(SVC, SRC, "vol-nope")
    with pytest.raises(InvalidRequest):
        sim.restore_volume(SVC, SRC, snap.id, "", "vol-3")
    with pytest.raises(InvalidRequest, match="already used"):
        sim.launch_instances(SVC, SRC, "1.0.0", 1, volume.id, "drill-1", "vol")


def test_corrupt_fault_spoils_restores_until_cleared(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "snap")
    sim.inject_dr_fault(SRC)
    bad = sim.restore_volume(SVC, SRC, snap.id, "drill-1", "bad")
    assert sim.check_volume(SVC, SRC, bad.id).checksum == "corrupt-" + snap.checksum
    copy = sim.copy_snapshot(SVC, snap.id, SRC, DST, "copy")
    elsewhere = sim.restore_volume(SVC, DST, copy.id, "drill-1", "elsewhere")
    assert sim.check_volume(SVC, DST, elsewhere.id).checksum == snap.checksum
    sim.clear_faults()
    good = sim.restore_volume(SVC, SRC, snap.id, "drill-1", "good")
    assert sim.check_volume(SVC, SRC, good.id).checksum == snap.checksum
    assert sim.check_volume(SVC, SRC, bad.id).checksum.startswith("corrupt-")  # already restored


def _volume(sim: SimCloud, region: str = SRC) -> str:
    snap = sim.snapshot_volume(SVC, region, T0, f"snap-{region}")
    return sim.restore_volume(SVC, region, snap.id, PROD, f"vol-{region}").id


def test_prod_instances_serve_and_drill_ones_do_not(sim: SimCloud) -> None:
    volume = _volume(sim)
    before = sim.region_state(SVC, SRC)
    drill = sim.launch_instances(SVC, SRC, "1.0.0", 2, volume, "drill-1", "drill")
    assert len(drill) == 2 and all(r.kind == "instance" and r.env == "drill-1" for r in drill)
    assert all(r.id.startswith("i-") and len(r.id) == 14 for r in drill)
    assert sim.region_state(SVC, SRC) == before
    assert sim.inventory()["total_instances"] == 64

    prod = sim.launch_instances(SVC, SRC, "1.0.1", 3, volume, PROD, "prod")
    state = sim.region_state(SVC, SRC)
    assert (state.instances, state.releases) == (7, {"1.0.0": 4, "1.0.1": 3})
    assert set(sim.instance_ids(SVC, SRC, "stable")) >= {r.id for r in prod}
    assert sim.health(SVC, SRC).healthy_instances == 7

    assert sim.launch_instances(SVC, SRC, "1.0.1", 3, volume, PROD, "prod") == prod
    assert sim.region_state(SVC, SRC).instances == 7
    assert [r.id for r in sim.list_resources(SVC, PROD)] == [volume, *(r.id for r in prod)]
    assert sim.list_resources(SVC, "drill-1") == drill

    assert sim.delete_resource(SVC, SRC, prod[0].id)
    assert not sim.delete_resource(SVC, SRC, prod[0].id)
    assert sim.region_state(SVC, SRC).instances == 6
    assert sim.delete_resource(SVC, SRC, drill[0].id)
    assert sim.region_state(SVC, SRC).instances == 6
    assert not sim.delete_resource(SVC, DST, drill[1].id)  # wrong region: nothing deleted
    assert len(sim.list_resources(SVC)) == 4


def test_launch_refusals(sim: SimCloud) -> None:
    volume = _volume(sim)
    with pytest.raises(InvalidRequest):
        sim.launch_instances(SVC, SRC, "1.0.0", 0, volume, PROD, "k")
    with pytest.raises(InvalidRequest):
        sim.launch_instances(SVC, SRC, "", 1, volume, PROD, "k")
    with pytest.raises(NotFound, match=volume):
        sim.launch_instances(SVC, DST, "1.0.0", 1, volume, PROD, "k")
    assert sim.ledger_size() == 2
    assert len(sim.list_resources(SVC)) == 1


def test_delete_snapshot_is_idempotent(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "snap")
    assert sim.delete_snapshot(SVC, DST, snap.id) is False  # stored elsewhere
    assert sim.delete_snapshot(SVC, SRC, snap.id) is True
    assert sim.delete_snapshot(SVC, SRC, snap.id) is False


def test_api_fault_applies_to_storage_calls(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "snap")
    sim.inject_api_fault(1.0, throttle=True)
    calls = [
        lambda: sim.snapshot_volume(SVC, SRC, T0, "snap"),
        lambda: sim.copy_snapshot(SVC, snap.id, SRC, DST, "copy"),
        lambda: sim.list_snapshots(SVC, SRC),
        lambda: sim.delete_snapshot(SVC, SRC, snap.id),
        lambda: sim.restore_volume(SVC, SRC, snap.id, PROD, "vol"),
        lambda: sim.launch_instances(SVC, SRC, "1.0.0", 1, "vol-x", PROD, "i"),
        lambda: sim.check_volume(SVC, SRC, "vol-x"),
        lambda: sim.list_resources(SVC),
        lambda: sim.delete_resource(SVC, SRC, "vol-x"),
    ]
    for call in calls:
        with pytest.raises(Throttled):
            call()
    assert sim.snapshots(SVC) == [snap]  # views ignore the API fault


def test_inventory_counts_and_reset_wipes(sim: SimCloud) -> None:
    snap = sim.snapshot_volume(SVC, SRC, T0, "a")
    sim.snapshot_volume(SVC, SRC, T0 + timedelta(days=1), "b")
    sim.copy_snapshot(SVC, snap.id, SRC, DST, "copy")
    volume = sim.restore_volume(SVC, SRC, snap.id, "drill-1", "vol")
    sim.launch_instances(SVC, SRC, "1.0.0", 2, volume.id, "drill-1", "drill")
    sim.launch_instances(SVC, SRC, "1.0.0", 1, volume.id, PROD, "prod")
    sim.inject_dr_fault(DST)
    inventory = sim.inventory()
    assert inventory["snapshots"] == {SVC: {SRC: 2, DST: 1}}
    assert inventory["resources"] == {"drill-1": 3, PROD: 1}
    assert inventory["total_resources"] == 4
    assert inventory["total_instances"] == 65

    sim.reset()
    inventory = sim.inventory()
    assert (inventory["snapshots"], inventory["resources"], inventory["total_resources"]) == ({}, {}, 0)
    assert inventory["total_instances"] == 0
    assert sim.snapshots(SVC) == [] and sim.resources(SVC) == []
    sim.seed(SVC, [(DST, 1)], "1.0.0")
    copy = sim.snapshot_volume(SVC, DST, T0, "a")  # the ledger was wiped too
    restored = sim.restore_volume(SVC, DST, copy.id, "drill-1", "vol")
    assert sim.check_volume(SVC, DST, restored.id).checksum == copy.checksum  # the fault was wiped


def test_resources_view_filters_by_env(sim: SimCloud) -> None:
    volume = _volume(sim)
    drill = sim.launch_instances(SVC, SRC, "1.0.0", 1, volume, "drill-1", "drill")
    assert [r.id for r in sim.resources(SVC)] == [volume, drill[0].id]
    assert sim.resources(SVC, "drill-1") == drill
    assert sim.resources("payments") == []


# --------------------------------------------------------------------------- encryption


def test_the_sim_records_each_snapshots_key_and_a_copy_takes_its_destinations(sim: SimCloud) -> None:
    sealed = sim.snapshot_volume(SVC, SRC, T0, "enc/snap", kms_key="sim-kms/us-east-1")
    plain = sim.snapshot_volume(SVC, SRC, T0, "enc/plain")
    assert (sealed.encrypted, sealed.kms_key) == (True, "sim-kms/us-east-1")
    assert (plain.encrypted, plain.kms_key) == (False, None)
    recopied = sim.copy_snapshot(SVC, plain.id, SRC, DST, "enc/copy-plain", kms_key="sim-kms/us-west-2")
    kept = sim.copy_snapshot(SVC, sealed.id, SRC, DST, "enc/copy-sealed")
    as_is = sim.copy_snapshot(SVC, plain.id, SRC, DST, "enc/copy-as-is")
    assert (recopied.encrypted, recopied.kms_key) == (True, "sim-kms/us-west-2")  # re-encrypted on copy
    assert (kept.encrypted, kept.kms_key) == (True, "sim-kms/us-east-1")  # no key: as the source
    assert (as_is.encrypted, as_is.kms_key) == (False, None)
    # read back from the store, not from what was asked
    stored = {s.id: (s.encrypted, s.kms_key) for s in sim.list_snapshots(SVC, DST)}
    assert stored == {
        recopied.id: (True, "sim-kms/us-west-2"),
        kept.id: (True, "sim-kms/us-east-1"),
        as_is.id: (False, None),
    }
    assert sim.copy_snapshot(SVC, plain.id, SRC, DST, "enc/copy-plain", kms_key="other") == recopied


def test_a_snapshot_stored_before_encryption_reads_back_unencrypted(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    SimCloud(path).seed(SVC, [(SRC, 2)], "1.0.0")
    conn = sqlite3.connect(path)
    with conn:  # the table as the version before encryption made it, with one snapshot
        conn.execute("ALTER TABLE snapshots DROP COLUMN kms_key")
        conn.execute(
            "INSERT INTO snapshots (id, service, region, source_region, taken_at, checksum, watermark, key)"
            " VALUES ('snap-old', ?, ?, ?, ?, 'c', 1, 'k')",
            (SVC, SRC, SRC, T0.isoformat(timespec="microseconds")),
        )
    conn.close()
    [old] = SimCloud(path).list_snapshots(SVC, SRC)
    assert (old.id, old.encrypted, old.kms_key) == ("snap-old", False, None)
