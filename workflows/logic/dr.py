"""Pure decisions of backup and recovery: where copies go, what to prune, which snapshot, RTO/RPO, and
whether a restore verified."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.dr import FreezeWindow
    from config.models import Topology
    from contracts.storage import Snapshot, SnapshotVerification
    from contracts.validation import ValidationAnswer


def residency_applies(topology: Topology, service: str) -> bool:
    """True if the service's data must stay in its jurisdiction group."""
    config = topology.service(service)
    return bool(config and config.data_residency)


def same_group(topology: Topology, a: str, b: str) -> bool:
    """True if regions `a` and `b` are in the same data-residency group."""
    return topology.group_of(topology.region(a).jurisdiction) == topology.group_of(
        topology.region(b).jurisdiction
    )


def target_problem(topology: Topology, service: str, source: str, target: str) -> str | None:
    """Why `target` may not receive `source`'s data, or None if it may: known regions, not the
    source itself, in its jurisdiction group under data residency, on its provider."""
    names = topology.region_names()
    for name in (source, target):
        if name not in names:
            return f"unknown region {name!r} (known: {', '.join(names)})"
    if source == target:
        return f"target region {target} is the source region itself"
    if residency_applies(topology, service) and not same_group(topology, source, target):
        src = topology.group_of(topology.region(source).jurisdiction)
        dst = topology.group_of(topology.region(target).jurisdiction)
        return (
            f"{target} is in jurisdiction group {dst}, {source} in {src}: "
            f"{service}'s data residency keeps its data in {src}"
        )
    return provider_problem(topology, source, target)


def provider_problem(topology: Topology, source: str, target: str) -> str | None:
    """Why `source`'s snapshots cannot be restored in `target`: another provider (None: the same).

    A snapshot lives in its provider's storage (an EBS snapshot cannot be restored on Compute
    Engine, nor the reverse), so copies and recoveries stay within one provider.
    """
    src, dst = topology.region(source).provider, topology.region(target).provider
    if src != dst:
        return f"{target} is on {dst}, {source} on {src}: a snapshot on {src} cannot be restored on {dst}"
    return None


def copy_destination(topology: Topology, service: str, region: str) -> tuple[str | None, str]:
    """Where `region`'s snapshots are copied, and why: its backup region if residency allows,
    else the lowest-latency region of its group, else nowhere (the reason says so)."""
    config = topology.region(region)
    backup = config.backup_region
    if backup and target_problem(topology, service, region, backup) is None:
        return backup, f"backup region {backup}"
    allowed = [
        r
        for r in topology.regions
        if r.name != region and target_problem(topology, service, region, r.name) is None
    ]
    if allowed:
        best = min(allowed, key=lambda r: (r.latency_ms, r.name))
        why = "no backup region"
        if backup:
            why = f"backup region {backup} is outside its jurisdiction group"
            if provider_problem(topology, region, backup):
                why = f"backup region {backup} is on {topology.region(backup).provider}"
        return best.name, f"{why}; nearest allowed region {best.name}"
    group = topology.group_of(config.jurisdiction)
    return None, f"no other region in jurisdiction group {group}: the snapshot stays in {region} only"


def recovery_target(topology: Topology, service: str, source: str) -> str | None:
    """The region a drill recovers `source` into: where its snapshots are copied."""
    return copy_destination(topology, service, source)[0]


def to_prune(snapshots: Iterable[Snapshot], now: datetime, retention_s: float) -> list[Snapshot]:
    """Snapshots older than the retention, never the newest of each source region (oldest first)."""
    every = list(snapshots)
    newest: dict[str, Snapshot] = {}
    for snap in every:
        best = newest.get(snap.source_region)
        if best is None or snap.taken_at > best.taken_at:
            newest[snap.source_region] = snap
    keep = {s.id for s in newest.values()}
    old = [s for s in every if s.id not in keep and (now - s.taken_at).total_seconds() > retention_s]
    return sorted(old, key=lambda s: s.taken_at)


def choose_snapshot(snapshots: Iterable[Snapshot], source: str, wanted: str) -> Snapshot | str:
    """The newest snapshot of `source` (wanted='latest') or the one named; else why there is none."""
    mine = [s for s in snapshots if s.source_region == source]
    if wanted == "latest":
        if not mine:
            return f"no snapshot of {source} found (run `globalops backup run` first)"
        return max(mine, key=lambda s: s.taken_at)
    found = next((s for s in mine if s.id == wanted), None)
    if found is None:
        have = ", ".join(s.id for s in mine[:5]) or "none"
        return f"snapshot {wanted!r} of {source} not found (newest: {have})"
    return found


def missing_key(topology: Topology, region: str, required: bool) -> str | None:
    """Why `region` cannot store a backup as the policy requires: it has no customer key (None: it has
    one, or encryption is not required)."""
    if not required or topology.region(region).snapshot_key is not None:
        return None
    index = topology.region_names().index(region)
    return (
        f"regions[{index}].backup_key: {region} has no backup key and dr.backup.require_encryption is on:"
        f" name a customer key of {region}, or nothing of it is stored"
    )


def backup_key_problem(
    topology: Topology, service: str, regions: Iterable[str], required: bool
) -> str | None:
    """The first region of a backup of `regions` whose snapshot or copy would have no key (None: none)."""
    for name in regions:
        dest = copy_destination(topology, service, name)[0]
        for region in (name, dest) if dest else (name,):
            problem = missing_key(topology, region, required)
            if problem:
                return problem
    return None


def stored_unencrypted(snapshot: Snapshot, copy: Snapshot | None, dest_key: str | None) -> str | None:
    """Why a backup broke the encryption policy, from what the provider reports (None: it did not).

    The copy is what a recovery uses: it must carry its region's key `dest_key` (an unencrypted
    source is re-encrypted on copy). Without a copy, the snapshot itself must be encrypted.
    """
    if copy is None:
        if snapshot.encrypted:
            return None
        return (
            f"snapshot {snapshot.id} in {snapshot.region} is stored unencrypted and has no copy to re-encrypt"
        )
    if not copy.encrypted:
        return f"copy {copy.id} in {copy.region} is stored unencrypted"
    if copy.kms_key != dest_key:
        used = copy.kms_key or "no customer key"
        return f"copy {copy.id} in {copy.region} is encrypted with {used}, not its region's key {dest_key}"
    return None


def unencrypted_refusal(snapshot: Snapshot, required: bool, allowed: bool) -> str | None:
    """Why a recovery must not use `snapshot`: it is unencrypted while the policy requires
    encryption and this run did not allow it (None: it may be used)."""
    if snapshot.encrypted or not required or allowed:
        return None
    return (
        f"snapshot {snapshot.id} in {snapshot.region} is not encrypted and dr.backup.require_encryption"
        " is on (to use it anyway, for one run: --allow-unencrypted)"
    )


def rpo_s(failed_at: datetime, snapshot: Snapshot) -> float:
    """Data lost, in seconds: from the snapshot's point in time to the failure (never negative)."""
    return max(0.0, (failed_at - snapshot.taken_at).total_seconds())


def freeze_at(moment: datetime, windows: Iterable[FreezeWindow]) -> FreezeWindow | None:
    """The freeze window covering `moment`, if any."""
    return next((w for w in windows if w.covers(moment)), None)


def drill_regions(
    topology: Topology, requested: list[str], policy_regions: list[str], service: str | None = None
) -> list[str]:
    """Regions a drill rehearses: the request's, else the policy's, else every primary region that
    has somewhere to recover into (a region alone in its jurisdiction group has not: by default
    it is left out rather than failing every drill; named explicitly, it fails and says why)."""
    if requested:
        return list(requested)
    if policy_regions:
        return list(policy_regions)
    primaries = [r.name for r in topology.regions if r.tier == "primary"]
    if service is None:
        return primaries
    return [name for name in primaries if recovery_target(topology, service, name) is not None]


def met(rto: float | None, rpo: float | None, rto_target: float, rpo_target: float) -> bool:
    """Both measured and both within target."""
    return rto is not None and rpo is not None and rto <= rto_target and rpo <= rpo_target


def integrity_problem(found: SnapshotVerification) -> str | None:
    """Why a snapshot's data did not verify (None: it did, or the provider cannot read it back)."""
    if not found.checked or found.ok:
        return None
    return found.reason or f"snapshot {found.snapshot_id} did not verify"


def validation_problem(answer: ValidationAnswer, snapshot_watermark: int) -> str | None:
    """Why the validation hook's answer fails the restore (None: it passes).

    It passes only with a 2xx answer holding a watermark at least the snapshot's: the restored
    service serves all the data the snapshot holds. Anything else fails closed.
    """
    if not 200 <= answer.status < 300:
        return f"HTTP {answer.status}" + (f": {answer.detail}" if answer.detail else "")
    if answer.watermark is None:
        return f"no watermark in the answer ({answer.detail or 'none given'})"
    if answer.watermark < snapshot_watermark:
        return (
            f"the restored data's watermark {answer.watermark} is older than the snapshot's"
            f" {snapshot_watermark}"
        )
    return None
