"""Pure DR decisions: copy destinations under residency, retention, snapshot choice, RPO, freezes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.dr import DrillPolicy, FreezeWindow
from config.durations import parse_duration
from config.loader import load_topology
from config.models import Topology
from contracts.storage import Snapshot, SnapshotVerification
from contracts.validation import ValidationAnswer
from workflows.logic.dr import (
    backup_key_problem,
    choose_snapshot,
    copy_destination,
    drill_regions,
    freeze_at,
    integrity_problem,
    met,
    missing_key,
    provider_problem,
    rpo_s,
    stored_unencrypted,
    target_problem,
    to_prune,
    unencrypted_refusal,
    validation_problem,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def snap(ident: str, source: str, age_days: float, region: str = "eu-central-1") -> Snapshot:
    return Snapshot(
        id=ident,
        service="checkout",
        region=region,
        source_region=source,
        taken_at=T0 - timedelta(days=age_days),
        checksum="c",
        watermark=1,
        key=ident,
    )


@pytest.fixture
def topology() -> Topology:
    return load_topology()


def without_residency(topology: Topology) -> Topology:
    services = [s.model_copy(update={"data_residency": False}) for s in topology.services]
    return topology.model_copy(update={"services": services})


def test_copies_go_to_the_backup_region_when_residency_allows(topology: Topology) -> None:
    dest = copy_destination(topology, "checkout", "eu-west-1")
    assert dest == ("eu-central-1", "backup region eu-central-1")
    assert copy_destination(topology, "checkout", "us-east-1")[0] == "us-west-2"


def test_a_foreign_backup_region_is_not_used_unless_a_group_allows_it(topology: Topology) -> None:
    # me-south-1 (AE) backs up to eu-central-1 (EU): not allowed; AE has no other region
    dest, why = copy_destination(topology, "checkout", "me-south-1")
    assert dest is None and "jurisdiction group AE" in why
    grouped = topology.model_copy(update={"jurisdiction_groups": {"EUROPE": ["EU", "UK"]}})
    dest, why = copy_destination(grouped, "checkout", "eu-west-2")  # UK, backup eu-west-1 (EU)
    assert dest == "eu-west-1" and why == "backup region eu-west-1"


def with_backup(topology: Topology, region: str, backup: str | None) -> Topology:
    regions = [
        r.model_copy(update={"backup_region": backup}) if r.name == region else r for r in topology.regions
    ]
    return topology.model_copy(update={"regions": regions})


def test_a_foreign_backup_falls_back_to_the_lowest_latency_region_of_the_group(topology: Topology) -> None:
    # us-west-2 (US) backing up to eu-west-1 (EU): of the other US regions us-east-1 (20 ms) beats
    # us-central1 (25 ms), which comes first by name; ca-central-1 (CA) is another group
    dest = copy_destination(with_backup(topology, "us-west-2", "eu-west-1"), "checkout", "us-west-2")
    assert dest == (
        "us-east-1",
        "backup region eu-west-1 is outside its jurisdiction group; nearest allowed region us-east-1",
    )


def test_the_fallback_breaks_latency_ties_by_name(topology: Topology) -> None:
    # europe-west1 backing up to us-east-1: eu-west-1 and eu-central-1 are both 25 ms
    dest, why = copy_destination(
        with_backup(topology, "europe-west1", "us-east-1"), "checkout", "europe-west1"
    )
    assert dest == "eu-central-1"
    assert why.endswith("; nearest allowed region eu-central-1")


def test_without_a_backup_region_the_nearest_region_of_the_group(topology: Topology) -> None:
    dest = copy_destination(with_backup(topology, "eu-central-1", None), "checkout", "eu-central-1")
    assert dest == ("eu-west-1", "no backup region; nearest allowed region eu-west-1")
    # without residency the nearest region of all: us-east-1 (20 ms)
    free = without_residency(with_backup(topology, "eu-central-1", None))
    assert copy_destination(free, "checkout", "eu-central-1")[0] == "us-east-1"


def test_no_region_left_in_the_group_says_where_the_snapshot_stays(topology: Topology) -> None:
    assert copy_destination(topology, "checkout", "ap-northeast-1") == (
        None,
        "no other region in jurisdiction group JP: the snapshot stays in ap-northeast-1 only",
    )


def on_providers(topology: Topology, **providers: str) -> Topology:
    """`topology` with the named regions (dashes as underscores) on other providers."""
    names = {name.replace("_", "-"): provider for name, provider in providers.items()}
    regions = [r.model_copy(update={"provider": names.get(r.name, r.provider)}) for r in topology.regions]
    return topology.model_copy(update={"regions": regions})


def test_a_target_on_another_provider_is_refused(topology: Topology) -> None:
    mixed = on_providers(topology, us_east_1="aws", us_central1="aws", eu_west_1="gcp")
    assert target_problem(mixed, "checkout", "us-east-1", "us-west-2") == (
        "us-west-2 is on sim, us-east-1 on aws: a snapshot on aws cannot be restored on sim"
    )
    assert target_problem(mixed, "checkout", "us-east-1", "us-central1") is None  # both on aws
    # residency is checked first; without it the provider still refuses
    assert "data residency" in (target_problem(mixed, "checkout", "us-east-1", "eu-west-1") or "")
    assert target_problem(without_residency(mixed), "checkout", "us-east-1", "eu-west-1") == (
        "eu-west-1 is on gcp, us-east-1 on aws: a snapshot on aws cannot be restored on gcp"
    )
    assert provider_problem(mixed, "us-central1", "us-east-1") is None


def test_copies_stay_on_the_regions_provider(topology: Topology) -> None:
    # us-east-1 on AWS backs up to us-west-2 (sim): the nearest AWS region of its group instead
    mixed = on_providers(topology, us_east_1="aws", us_central1="aws")
    assert copy_destination(mixed, "checkout", "us-east-1") == (
        "us-central1",
        "backup region us-west-2 is on sim; nearest allowed region us-central1",
    )
    assert copy_destination(mixed, "checkout", "us-central1") == ("us-east-1", "backup region us-east-1")
    alone = on_providers(topology, us_east_1="aws")
    assert copy_destination(alone, "checkout", "us-east-1")[0] is None


def test_without_residency_every_backup_region_is_used(topology: Topology) -> None:
    free = without_residency(topology)
    for region in free.regions:
        assert copy_destination(free, "checkout", region.name)[0] == region.backup_region


def test_target_problem_names_both_groups_and_the_rule(topology: Topology) -> None:
    problem = target_problem(topology, "checkout", "eu-west-1", "us-east-1")
    assert problem == (
        "us-east-1 is in jurisdiction group US, eu-west-1 in EU:"
        " checkout's data residency keeps its data in EU"
    )
    assert target_problem(topology, "checkout", "eu-west-1", "eu-central-1") is None
    assert "source region itself" in (target_problem(topology, "checkout", "eu-west-1", "eu-west-1") or "")
    names = ", ".join(topology.region_names())
    assert target_problem(topology, "checkout", "mars-1", "eu-west-1") == (
        f"unknown region 'mars-1' (known: {names})"
    )
    assert target_problem(topology, "checkout", "eu-west-1", "mars-1") == (
        f"unknown region 'mars-1' (known: {names})"
    )
    assert names.startswith("us-east-1, us-west-2, ca-central-1, ")


def test_prune_keeps_30_days_and_always_the_newest_per_source() -> None:
    snaps = [snap("a", "eu-west-1", 31), snap("b", "eu-west-1", 29), snap("c", "eu-west-1", 45)]
    snaps += [snap("d", "eu-central-1", 60), snap("e", "eu-central-1", 90)]  # all old: keep the newest
    pruned = [s.id for s in to_prune(snaps, T0, parse_duration("30d"))]
    assert pruned == ["e", "c", "a"]  # oldest first; b is young, d is its source's newest


def test_prune_keeps_exactly_one_of_two_newest_taken_at_the_same_time() -> None:
    # a tie for the newest: the first listed is kept (the port lists newest first), the other pruned
    snaps = [snap("first", "eu-west-1", 40), snap("second", "eu-west-1", 40), snap("older", "eu-west-1", 50)]
    assert [s.id for s in to_prune(snaps, T0, 30 * 86400.0)] == ["older", "second"]


def test_prune_exactly_at_the_retention_keeps_it() -> None:
    snaps = [snap("edge", "eu-west-1", 30), snap("new", "eu-west-1", 0)]
    assert to_prune(snaps, T0, 30 * 86400.0) == []


def test_choose_snapshot_latest_or_by_id_of_the_right_source() -> None:
    snaps = [snap("old", "eu-west-1", 2), snap("new", "eu-west-1", 1), snap("other", "eu-west-2", 0)]
    latest = choose_snapshot(snaps, "eu-west-1", "latest")
    assert isinstance(latest, Snapshot) and latest.id == "new"
    chosen = choose_snapshot(snaps, "eu-west-1", "old")
    assert isinstance(chosen, Snapshot) and chosen.id == "old"
    assert choose_snapshot(snaps, "eu-west-1", "other") == (
        "snapshot 'other' of eu-west-1 not found (newest: old, new)"
    )
    assert choose_snapshot(snaps, "us-east-1", "latest") == (
        "no snapshot of us-east-1 found (run `globalops backup run` first)"
    )


def test_a_snapshot_not_found_names_at_most_five_of_the_source_or_none() -> None:
    # the five first as listed: the storage port lists snapshots newest first
    snaps = [snap(f"s{i}", "eu-west-1", i) for i in range(7)]
    assert choose_snapshot(snaps, "eu-west-1", "gone") == (
        "snapshot 'gone' of eu-west-1 not found (newest: s0, s1, s2, s3, s4)"
    )
    assert choose_snapshot(snaps, "us-east-1", "gone") == (
        "snapshot 'gone' of us-east-1 not found (newest: none)"
    )


def test_rpo_is_the_age_of_the_data_at_the_failure_and_never_negative() -> None:
    s = snap("s", "eu-west-1", 0)
    assert rpo_s(T0 + timedelta(minutes=20), s) == 1200
    assert rpo_s(T0 - timedelta(minutes=1), s) == 0


def test_met_needs_both_measured_and_within_target() -> None:
    assert met(10, 10, 10, 10)
    assert not met(11, 10, 10, 10) and not met(10, 11, 10, 10) and not met(None, 1, 10, 10)


def test_freeze_windows_cover_their_start_not_their_end() -> None:
    window = FreezeWindow(start=T0, end=T0 + timedelta(days=1), reason="sale")
    assert freeze_at(T0, [window]) == window
    assert freeze_at(T0 + timedelta(days=1), [window]) is None
    with pytest.raises(ValueError, match="must be after start"):
        FreezeWindow(start=T0, end=T0)


def test_drill_regions_request_then_policy_then_every_primary(topology: Topology) -> None:
    assert drill_regions(topology, ["eu-west-1"], ["us-east-1"]) == ["eu-west-1"]
    assert drill_regions(topology, [], ["us-east-1"]) == ["us-east-1"]
    primaries = drill_regions(topology, [], [])
    assert len(primaries) == 8 and all(topology.region(r).tier == "primary" for r in primaries)
    recoverable = drill_regions(topology, [], [], "checkout")
    assert recoverable == [r for r in primaries if r != "ap-northeast-1"]  # JP: nowhere to recover into


def test_drill_cron_must_have_five_fields() -> None:
    assert DrillPolicy().cron == "0 9 * * MON"
    with pytest.raises(ValueError, match="needs 5 fields"):
        DrillPolicy(cron="every monday")


@pytest.mark.parametrize(("text", "seconds"), [("6h15m", 22500.0), ("1m30s", 90.0), ("2d12h", 216000.0)])
def test_compound_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# --- encryption --------------------------------------------------------------------------------


def keyless(topology: Topology, *names: str) -> Topology:
    """Every region on AWS (copies stay on one provider) with a key of its own, but `names` without."""
    regions = [
        r.model_copy(update={"provider": "aws", "backup_key": None if r.name in names else f"key/{r.name}"})
        for r in topology.regions
    ]
    return topology.model_copy(update={"regions": regions})


def sealed(snapshot: Snapshot, kms_key: str | None) -> Snapshot:
    return snapshot.model_copy(update={"encrypted": True, "kms_key": kms_key})


def test_a_region_without_a_key_is_named_with_its_field_only_when_encryption_is_required(
    topology: Topology,
) -> None:
    topo = keyless(topology, "eu-west-1")
    index = topo.region_names().index("eu-west-1")
    assert missing_key(topo, "eu-west-1", True) == (
        f"regions[{index}].backup_key: eu-west-1 has no backup key and dr.backup.require_encryption is on:"
        " name a customer key of eu-west-1, or nothing of it is stored"
    )
    assert missing_key(topo, "eu-west-1", False) is None
    assert missing_key(topo, "eu-central-1", True) is None
    assert missing_key(topology, "eu-west-1", True) is None  # a sim region: sim-kms/eu-west-1
    assert topology.region("eu-west-1").snapshot_key == "sim-kms/eu-west-1"


def test_a_backup_needs_the_key_of_each_region_and_of_its_copy_destination(topology: Topology) -> None:
    # eu-west-1 copies to eu-central-1; eu-west-2 (UK) copies nowhere
    assert backup_key_problem(topology, "checkout", topology.region_names(), True) is None
    dest_keyless = keyless(topology, "eu-central-1")
    problem = backup_key_problem(dest_keyless, "checkout", ["eu-west-2", "eu-west-1"], True)
    assert problem is not None and "eu-central-1 has no backup key" in problem
    assert backup_key_problem(dest_keyless, "checkout", ["eu-west-2"], True) is None
    assert backup_key_problem(dest_keyless, "checkout", ["eu-west-1"], False) is None
    both = keyless(topology, "eu-west-1", "eu-central-1")
    first = backup_key_problem(both, "checkout", ["eu-west-1"], True)
    assert first is not None and "eu-west-1 has no backup key" in first
    # ca-central-1's backup region us-east-1 is outside its group: under residency no copy goes there
    assert backup_key_problem(keyless(topology, "us-east-1"), "checkout", ["ca-central-1"], True) is None
    alone = keyless(topology, "eu-west-2")
    lonely = backup_key_problem(alone, "checkout", ["eu-west-2"], True)
    assert lonely is not None and "eu-west-2 has no backup key" in lonely


def test_the_copy_must_carry_its_regions_key_and_may_re_encrypt_an_unencrypted_source() -> None:
    plain = snap("s", "eu-west-1", 0, region="eu-west-1")
    copy = snap("c", "eu-west-1", 0)
    assert stored_unencrypted(plain, sealed(copy, "k-central"), "k-central") is None
    assert stored_unencrypted(sealed(plain, "k-west"), sealed(copy, "k-central"), "k-central") is None
    assert stored_unencrypted(plain, copy, "k-central") == "copy c in eu-central-1 is stored unencrypted"
    assert stored_unencrypted(plain, sealed(copy, "k-west"), "k-central") == (
        "copy c in eu-central-1 is encrypted with k-west, not its region's key k-central"
    )
    assert stored_unencrypted(plain, sealed(copy, None), "k-central") == (
        "copy c in eu-central-1 is encrypted with no customer key, not its region's key k-central"
    )


def test_without_a_copy_the_snapshot_itself_must_be_encrypted() -> None:
    plain = snap("s", "eu-west-2", 0, region="eu-west-2")
    assert stored_unencrypted(sealed(plain, "k-uk"), None, None) is None
    assert stored_unencrypted(sealed(plain, None), None, None) is None  # encrypted, key not named
    assert stored_unencrypted(plain, None, None) == (
        "snapshot s in eu-west-2 is stored unencrypted and has no copy to re-encrypt"
    )


def test_recovery_refuses_an_unencrypted_snapshot_unless_not_required_or_allowed_for_the_run() -> None:
    plain = snap("c", "eu-west-1", 0)
    assert unencrypted_refusal(plain, required=True, allowed=False) == (
        "snapshot c in eu-central-1 is not encrypted and dr.backup.require_encryption is on"
        " (to use it anyway, for one run: --allow-unencrypted)"
    )
    assert unencrypted_refusal(plain, required=False, allowed=False) is None
    assert unencrypted_refusal(plain, required=True, allowed=True) is None
    assert unencrypted_refusal(sealed(plain, "k"), required=True, allowed=False) is None
    assert unencrypted_refusal(sealed(plain, None), required=True, allowed=False) is None


def test_integrity_fails_only_when_the_data_was_read_and_did_not_verify() -> None:
    def found(checked: bool, ok: bool, reason: str | None = None) -> SnapshotVerification:
        return SnapshotVerification(snapshot_id="snap-1", region="r", checked=checked, ok=ok, reason=reason)

    assert integrity_problem(found(True, True)) is None
    assert integrity_problem(found(False, False, "no API")) is None  # not readable: the other checks decide
    assert integrity_problem(found(True, False, "snapshot snap-1: block 3: missing")) == (
        "snapshot snap-1: block 3: missing"
    )
    assert integrity_problem(found(True, False)) == "snapshot snap-1 did not verify"


@pytest.mark.parametrize(
    ("status", "watermark", "detail", "problem"),
    [
        (200, 100, "", None),  # exactly the snapshot's: all its data is served
        (299, 101, "", None),
        (204, 99, "", "the restored data's watermark 99 is older than the snapshot's 100"),
        (200, None, "the answer is not JSON: ok", "no watermark in the answer (the answer is not JSON: ok)"),
        (200, None, "", "no watermark in the answer (none given)"),
        (199, 100, "", "HTTP 199"),
        (300, 100, "", "HTTP 300"),
        (503, None, "maintenance", "HTTP 503: maintenance"),
    ],
)
def test_validation_passes_only_with_a_2xx_watermark_at_least_the_snapshots(
    status: int, watermark: int | None, detail: str, problem: str | None
) -> None:
    answer = ValidationAnswer(status=status, watermark=watermark, detail=detail)
    assert validation_problem(answer, 100) == problem
