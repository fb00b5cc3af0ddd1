"""Each mutating GcpCloud method called twice with one key leaves one resource (counted by the server)."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.clouds.gcp import GcpCloud
from tests.helpers.gcp_server import ComputeTestServer

S, US, EU = "checkout", "us-central1", "europe-west1"


def created(server: ComputeTestServer) -> dict[str, int]:
    return dict(server.state.created)


def test_every_mutating_call_twice_with_one_key_changes_once(
    gcp: GcpCloud, gcp_server: ComputeTestServer
) -> None:
    live = gcp_server.state.count

    first = gcp.ensure_release(S, US, "2.0.0", 2, "k-ensure")
    before = created(gcp_server)
    again = gcp.ensure_release(S, US, "2.0.0", 2, "k-ensure")
    assert first.changed == 2 and again.changed == 0 and created(gcp_server) == before
    assert again.state.releases == {"1.0.0": 2, "2.0.0": 2}

    gcp.scale_group(S, US, "canary", "3.0.0", 2, "k-canary")
    before = created(gcp_server)
    gcp.scale_group(S, US, "canary", "3.0.0", 2, "k-canary")
    assert created(gcp_server) == before and live("instanceGroupManagers") == 4

    gcp.set_canary_weight(S, US, 0.25, "k-weight")
    gcp.set_canary_weight(S, US, 0.25, "k-weight")
    assert gcp.region_state(S, US).canary_weight == 0.25

    gcp.promote_canary(S, US, "k-promote")
    before = created(gcp_server)
    state = gcp.promote_canary(S, US, "k-promote")
    assert state.releases == {"3.0.0": 2} and live("instanceGroupManagers") == 3
    gcp.restore(S, US, "1.0.0", 4, "k-restore")
    after_restore = created(gcp_server)
    assert gcp.restore(S, US, "1.0.0", 4, "k-restore").releases == {"1.0.0": 4}
    assert created(gcp_server) == after_restore and before["instances"] <= after_restore["instances"]

    gcp.set_traffic(S, {US: 0.0, EU: 2 / 3}, "k-traffic")
    gcp.set_traffic(S, {US: 1 / 3, EU: 1 / 3}, "k-traffic-back")
    assert (
        gcp.set_traffic(S, {US: 0.0, EU: 2 / 3}, "k-traffic").weights[US] == 1 / 3
    )  # the replay acts no more

    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    snap = gcp.snapshot_volume(S, US, at, "k-snap")
    assert gcp.snapshot_volume(S, US, at, "k-snap") == snap and live("snapshots") == 1
    assert snap.taken_at == at

    copy = gcp.copy_snapshot(S, snap.id, US, EU, "k-copy")
    assert gcp.copy_snapshot(S, snap.id, US, EU, "k-copy") == copy and live("snapshots") == 2
    assert copy.copy_of == snap.id and copy.checksum == snap.checksum and copy.region == EU
    assert gcp.list_snapshots(S, EU) == [copy] and gcp.list_snapshots(S, US) == [snap]

    vol = gcp.restore_volume(S, EU, copy.id, "drill-x", "k-vol")
    assert gcp.restore_volume(S, EU, copy.id, "drill-x", "k-vol") == vol
    assert live("disks", 'labels.gops-kind = "pvolume"') == 1
    check = gcp.check_volume(S, EU, vol.id)
    assert (check.checksum, check.watermark) == (snap.checksum, snap.watermark)

    drill = gcp.launch_instances(S, EU, "1.0.0", 2, vol.id, "drill-x", "k-launch")
    assert gcp.launch_instances(S, EU, "1.0.0", 2, vol.id, "drill-x", "k-launch") == drill
    assert live("instances", 'labels.gops-env = "pdrill-x"') == 2
    prod = gcp.launch_instances(S, EU, "1.0.0", 1, vol.id, "prod", "k-prod")
    assert gcp.launch_instances(S, EU, "1.0.0", 1, vol.id, "prod", "k-prod") == prod
    assert gcp.region_state(S, EU).instances == 5  # the prod instance joined the stable MIG

    resources = gcp.list_resources(S)
    assert [r.kind for r in resources] == ["instance", "instance", "instance", "volume"]
    for res in resources:
        assert gcp.delete_resource(S, res.region, res.id)
        assert not gcp.delete_resource(S, res.region, res.id)
    assert gcp.list_resources(S) == [] and gcp.region_state(S, EU).instances == 4
    assert gcp.delete_snapshot(S, EU, copy.id) and not gcp.delete_snapshot(S, EU, copy.id)
