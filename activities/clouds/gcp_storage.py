"""StoragePort on GCP: disk snapshots with storage locations, restored disks and labelled instances.

GCE snapshots are global objects whose data sits in `storageLocations`; the API has no
"copy snapshot". A copy to another region is a temporary disk restored from the source in the
destination region, snapshotted with the destination as its storage location, then deleted — all
named and request-id'd from the copy's key, and looked up by name before anything is done.
Checksum and watermark are the application's data markers, stamped in labels at snapshot time
and carried by the adapter to copies and restored disks (GCE computes no content checksum).

Encryption: a snapshot is created with the region's Cloud KMS key (`snapshotEncryptionKey.kmsKeyName`,
a CMEK), a copy (and its temporary disk) with the destination's. `encrypted` / `kms_key` are read
back from the snapshot resource: a customer key (CMEK, or a CSEK's sha256) counts, Google's default
encryption does not; GCE reports the key version it used (".../cryptoKeyVersions/N"), dropped here
because rotation changes the version, not the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.cloud import compute_v1

from activities.clouds import gcp_labels as L
from activities.clouds.gcp_api import Place, request_id
from activities.clouds.gcp_groups import Groups
from activities.google_errors import AlreadyExists
from contracts.errors import (
    InvalidRequest,
    NotFound,
)
from contracts.storage import (
    PROD,
    Resource,
    Snapshot,
    SnapshotVerification,
    VolumeCheck,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def watermark(taken_at: datetime) -> int:
    """The data sequence number at `taken_at`: epoch milliseconds (as the sim)."""
    return (_utc(taken_at) - _EPOCH) // timedelta(milliseconds=1)


def checksum(service: str, region: str, mark: int) -> str:
    return hashlib.sha256(f"{service}/{region}/{mark}".encode()).hexdigest()


def _described_key(description: str) -> str:
    try:
        return str(json.loads(description)["key"])
    except (ValueError, KeyError, TypeError):
        return ""


def encryption_of(snap: compute_v1.Snapshot) -> dict[str, bool | str | None]:
    """`encrypted` and `kms_key` (the Cloud KMS key, without its version) as the snapshot reports them."""
    found = snap.snapshot_encryption_key
    name = found.kms_key_name
    return {
        "encrypted": bool(name or found.sha256),
        "kms_key": name.split("/cryptoKeyVersions/")[0] if name else None,
    }


def _encryption(kms_key: str | None) -> compute_v1.CustomerEncryptionKey | None:
    return compute_v1.CustomerEncryptionKey(kms_key_name=kms_key) if kms_key else None


def to_snapshot(snap: compute_v1.Snapshot) -> Snapshot:
    lab = snap.labels
    micros = int(L.decode(lab[L.TAKEN_AT]))
    copy_of = L.decode(lab[L.COPY_OF]) if L.COPY_OF in lab else None
    made = Snapshot(
        id=snap.name,
        service=L.decode(lab[L.SERVICE]),
        region=snap.storage_locations[0] if snap.storage_locations else "",
        source_region=L.decode(lab[L.SOURCE_REGION]),
        taken_at=_EPOCH + timedelta(microseconds=micros),
        checksum=L.decode(lab[L.CHECKSUM]),
        watermark=int(L.decode(lab[L.WATERMARK])),
        copy_of=copy_of,
        key=_described_key(snap.description),
    )
    return made.model_copy(update=encryption_of(snap))


def _resource(kind: str, name: str, region: str, lab: dict[str, str], description: str) -> Resource:
    return Resource(
        id=name,
        kind="volume" if kind == "volume" else "instance",
        service=L.decode(lab[L.SERVICE]),
        region=region,
        env=L.decode(lab[L.ENV]),
        snapshot_id=L.decode(lab[L.SNAPSHOT]) if L.SNAPSHOT in lab else None,
        key=_described_key(description),
    )


def _check_env(env: str) -> None:
    if not env:
        raise InvalidRequest("gcp: env must not be empty (use 'prod' or an isolated one like 'drill-1')")


class GcpStorage:
    """The StoragePort half of GcpCloud (it provides `_place`, `_regions` and `_groups`)."""

    if TYPE_CHECKING:
        _groups: Groups

        def _place(self, service: str, region: str) -> Place: ...

        def _regions(self) -> list[str]: ...

    # --- snapshots -------------------------------------------------------------------------------

    def _get_snapshot(self, p: Place, name: str) -> compute_v1.Snapshot | None:
        try:
            return p.call("read snapshot", p.clients.snapshots.get, project=p.project, snapshot=name)  # type: ignore[no-any-return]
        except NotFound:
            return None

    def _insert_snapshot(self, p: Place, snap: compute_v1.Snapshot, key: str, step: str) -> None:
        try:
            p.run(
                f"snapshot {snap.name}",
                p.clients.snapshots.insert_unary,
                request=compute_v1.InsertSnapshotRequest(
                    project=p.project, snapshot_resource=snap, request_id=request_id(key, step)
                ),
            )
        except AlreadyExists:
            found = self._get_snapshot(p, snap.name)
            if found is None or found.labels.get(L.KEY) != L.key_label(key):
                raise InvalidRequest(
                    f"gcp: snapshot {snap.name} exists but was made by another key"
                ) from None

    def snapshot_volume(
        self, service: str, region: str, taken_at: datetime, key: str, kms_key: str | None = None
    ) -> Snapshot:
        """Snapshot the data disk, stored in the region itself (jurisdiction), encrypted with `kms_key`
        (a Cloud KMS key; None: Google's default encryption); once per key."""
        p = self._place(service, region)
        mark = watermark(taken_at)
        micros = (_utc(taken_at) - _EPOCH) // timedelta(microseconds=1)
        result = Snapshot(
            id=L.name_for("s", key),
            service=service,
            region=region,
            source_region=region,
            taken_at=_EPOCH + timedelta(microseconds=micros),
            checksum=checksum(service, region, mark),
            watermark=mark,
            key=key,
        )
        snap = compute_v1.Snapshot(
            name=result.id,
            source_disk=f"{p.zone_path()}/disks/{p.data_disk}",
            storage_locations=[region],
            description=json.dumps({"key": key}),
            labels={
                L.SERVICE: L.encode(service),
                L.KIND: L.encode("snapshot"),
                L.SOURCE_REGION: L.encode(region),
                L.TAKEN_AT: L.encode(str(micros)),
                L.CHECKSUM: L.encode(result.checksum),
                L.WATERMARK: L.encode(str(mark)),
                L.KEY: L.key_label(key),
            },
            snapshot_encryption_key=_encryption(kms_key),
        )
        self._insert_snapshot(p, snap, key, "snapshot")
        # Built from the inputs (a replay answers the same even if deleted since), but encryption
        # only as the snapshot reports it: gone, it counts as unencrypted.
        made = self._get_snapshot(p, result.id)
        return result if made is None else result.model_copy(update=encryption_of(made))

    def copy_snapshot(
        self,
        service: str,
        snapshot_id: str,
        region: str,
        dest_region: str,
        key: str,
        kms_key: str | None = None,
    ) -> Snapshot:
        """Copy via a temporary disk in `dest_region` (no copy API), both encrypted with `kms_key` (the
        destination's key; an unencrypted source is encrypted so); looked up by key-derived name first."""
        dest = self._place(service, dest_region)
        name = L.name_for("s", key)
        existing = self._get_snapshot(dest, name)
        if existing is not None:
            if L.COPY_OF not in existing.labels or existing.labels.get(L.KEY) != L.key_label(key):
                raise InvalidRequest(f"gcp: key '{key}' already names snapshot {name}, not a copy")
            return to_snapshot(existing)
        src = self._place(service, region)
        source = self._get_snapshot(src, snapshot_id)
        if source is None or region not in source.storage_locations:
            raise NotFound(
                f"gcp: snapshot '{snapshot_id}' of '{service}' does not exist in region '{region}'"
            )
        tmp = L.name_for("t", key)
        self._insert_disk(
            dest,
            tmp,
            source.self_link or f"projects/{src.project}/global/snapshots/{snapshot_id}",
            {L.SERVICE: L.encode(service), L.KIND: L.encode("copy-tmp"), L.KEY: L.key_label(key)},
            key,
            "copy-disk",
            encryption=_encryption(kms_key),
        )
        lab = dict(source.labels)
        lab[L.COPY_OF] = lab.get(L.COPY_OF) or L.encode(source.name)
        lab[L.KEY] = L.key_label(key)
        snap = compute_v1.Snapshot(
            name=name,
            source_disk=f"{dest.zone_path()}/disks/{tmp}",
            storage_locations=[dest_region],
            description=json.dumps({"key": key}),
            labels=lab,
            snapshot_encryption_key=_encryption(kms_key),
        )
        self._insert_snapshot(dest, snap, key, "copy-snapshot")
        self._delete_disk(dest, dest.zone, tmp, key, "copy-cleanup")
        made = self._get_snapshot(dest, name)
        if made is None:
            raise NotFound(f"gcp: copy {name} vanished after it was made")
        return to_snapshot(made)

    def list_snapshots(self, service: str, region: str) -> list[Snapshot]:
        """Snapshots stored in `region` (storage location), newest first."""
        p = self._place(service, region)
        pager = p.call(
            "list snapshots",
            p.clients.snapshots.list,
            request=compute_v1.ListSnapshotsRequest(
                project=p.project, filter=L.label_filter({L.SERVICE: L.encode(service)})
            ),
        )
        found = [to_snapshot(s) for s in pager if region in s.storage_locations and L.TAKEN_AT in s.labels]
        return sorted(found, key=lambda s: s.taken_at, reverse=True)

    def delete_snapshot(self, service: str, region: str, snapshot_id: str) -> bool:
        p = self._place(service, region)
        found = self._get_snapshot(p, snapshot_id)
        if (
            found is None
            or region not in found.storage_locations
            or found.labels.get(L.SERVICE) != L.encode(service)
        ):
            return False
        try:
            p.run(
                f"delete snapshot {snapshot_id}",
                p.clients.snapshots.delete_unary,
                request=compute_v1.DeleteSnapshotRequest(
                    project=p.project,
                    snapshot=snapshot_id,
                    request_id=request_id(f"delete:{found.id}", "snapshot"),
                ),
            )
        except NotFound:
            return False
        return True

    # --- disks -----------------------------------------------------------------------------------

    def _insert_disk(
        self,
        p: Place,
        name: str,
        source: str,
        lab: dict[str, str],
        key: str,
        step: str,
        description: str = "",
        encryption: compute_v1.CustomerEncryptionKey | None = None,
    ) -> None:
        disk = compute_v1.Disk(
            name=name,
            source_snapshot=source,
            labels=lab,
            description=description,
            disk_encryption_key=encryption,
        )
        with contextlib.suppress(AlreadyExists):  # named from the key: made by an earlier attempt
            p.run(
                f"create disk {name}",
                p.clients.disks.insert_unary,
                request=compute_v1.InsertDiskRequest(
                    project=p.project, zone=p.zone, disk_resource=disk, request_id=request_id(key, step)
                ),
            )

    def _delete_disk(self, p: Place, zone: str, name: str, key: str, step: str) -> bool:
        try:
            p.run(
                f"delete disk {name}",
                p.clients.disks.delete_unary,
                request=compute_v1.DeleteDiskRequest(
                    project=p.project, zone=zone, disk=name, request_id=request_id(key, step)
                ),
            )
        except NotFound:
            return False
        return True

    def _get_disk(self, p: Place, name: str) -> compute_v1.Disk | None:
        try:
            return p.call("read disk", p.clients.disks.get, project=p.project, zone=p.zone, disk=name)  # type: ignore[no-any-return]
        except NotFound:
            return None

    def restore_volume(self, service: str, region: str, snapshot_id: str, env: str, key: str) -> Resource:
        """A disk from a snapshot stored in `region`, labelled with env and the data markers; once per key."""
        _check_env(env)
        p = self._place(service, region)
        name = L.name_for("v", key)
        snap = self._get_snapshot(p, snapshot_id)
        if self._get_disk(p, name) is None:
            if snap is None or region not in snap.storage_locations:
                raise NotFound(
                    f"gcp: snapshot '{snapshot_id}' of '{service}' does not exist in region '{region}'"
                )
            lab = {k: v for k, v in snap.labels.items() if k not in (L.KEY, L.COPY_OF, L.KIND)}
            lab.update(
                {
                    L.ENV: L.encode(env),
                    L.KIND: L.encode("volume"),
                    L.KEY: L.key_label(key),
                    L.SNAPSHOT: L.encode(snapshot_id),
                }
            )
            self._insert_disk(p, name, snap.self_link, lab, key, "restore", json.dumps({"key": key}))
        disk = self._get_disk(p, name)
        if disk is None or disk.labels.get(L.KEY) != L.key_label(key):
            raise InvalidRequest(f"gcp: disk {name} is missing or was made by another key")
        return _resource("volume", name, region, dict(disk.labels), disk.description)

    def check_volume(self, service: str, region: str, volume_id: str) -> VolumeCheck:
        p = self._place(service, region)
        disk = self._get_disk(p, volume_id)
        if disk is None or L.CHECKSUM not in disk.labels:
            raise NotFound(f"gcp: volume '{volume_id}' of '{service}' does not exist in region '{region}'")
        return VolumeCheck(
            volume_id=volume_id,
            region=region,
            checksum=L.decode(disk.labels[L.CHECKSUM]),
            watermark=int(L.decode(disk.labels[L.WATERMARK])),
        )

    def verify_snapshot(self, service: str, region: str, snapshot_id: str) -> SnapshotVerification:
        """Not checked: Compute Engine has no API that reads a snapshot's data or block checksums
        (validate restores with the `dr.validation` hook instead)."""
        p = self._place(service, region)
        snap = self._get_snapshot(p, snapshot_id)
        if snap is None or snap.labels.get(L.SERVICE) != L.encode(service):
            raise NotFound(f"gcp: snapshot '{snapshot_id}' of '{service}' does not exist")
        return SnapshotVerification(
            snapshot_id=snapshot_id,
            region=region,
            checked=False,
            reason="Compute Engine offers no read of a snapshot's data: validate restores with dr.validation",
        )

    # --- instances -------------------------------------------------------------------------------

    def launch_instances(
        self, service: str, region: str, release: str, count: int, volume_id: str, env: str, key: str
    ) -> list[Resource]:
        """Prod: named members of the stable MIG (volume preserved read-only); else isolated, standalone."""
        _check_env(env)
        if count < 1:
            raise InvalidRequest(f"gcp: count must be >= 1, got {count}")
        if not release:
            raise InvalidRequest("gcp: release artifact '' does not exist")
        p = self._place(service, region)
        disk = self._get_disk(p, volume_id)
        if disk is None:
            raise NotFound(f"gcp: volume '{volume_id}' of '{service}' does not exist in region '{region}'")
        names = [f"{L.name_for('i', key)}-{n}" for n in range(count)]
        lab = {
            L.SERVICE: L.encode(service),
            L.ENV: L.encode(env),
            L.KIND: L.encode("instance"),
            L.KEY: L.key_label(key),
            L.RELEASE: L.encode(release),
        }
        description = json.dumps({"key": key})
        if env == PROD:
            with contextlib.suppress(AlreadyExists):
                self._groups.add_named(p, names, disk.self_link, key, "launch")
            for n, name in enumerate(names):
                self._label(p, name, lab, key, f"label-{n}")
        else:
            for n, name in enumerate(names):
                self._insert_instance(p, name, release, disk.self_link, lab, description, key, f"launch-{n}")
        return [
            Resource(id=n, kind="instance", service=service, region=region, env=env, key=key) for n in names
        ]

    def _insert_instance(
        self,
        p: Place,
        name: str,
        release: str,
        volume: str,
        lab: dict[str, str],
        description: str,
        key: str,
        step: str,
    ) -> None:
        inst = compute_v1.Instance(
            name=name,
            description=description,
            machine_type=f"zones/{p.zone}/machineTypes/{p.cfg.machine_type}",
            labels=lab,
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="globalops-release", value=release)]),
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    initialize_params=compute_v1.AttachedDiskInitializeParams(
                        source_image=p.cfg.source_image
                    ),
                ),
                compute_v1.AttachedDisk(source=volume, mode="READ_ONLY", auto_delete=False),
            ],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        )
        with contextlib.suppress(AlreadyExists):
            p.run(
                f"create instance {name}",
                p.clients.instances.insert_unary,
                request=compute_v1.InsertInstanceRequest(
                    project=p.project, zone=p.zone, instance_resource=inst, request_id=request_id(key, step)
                ),
            )

    def _find_instance(self, p: Place, name: str) -> tuple[str, compute_v1.Instance] | None:
        for zone in p.zones:
            try:
                return zone, p.call(
                    "read instance", p.clients.instances.get, project=p.project, zone=zone, instance=name
                )
            except NotFound:
                continue
        return None

    def _label(self, p: Place, name: str, lab: dict[str, str], key: str, step: str) -> None:
        found = self._find_instance(p, name)
        if found is None:
            raise NotFound(f"gcp: instance {name} did not appear in {p.region}")
        zone, inst = found
        merged = {**dict(inst.labels), **lab}
        if merged == dict(inst.labels):
            return
        body = compute_v1.InstancesSetLabelsRequest(labels=merged, label_fingerprint=inst.label_fingerprint)
        p.run(
            f"label {name}",
            p.clients.instances.set_labels_unary,
            request=compute_v1.SetLabelsInstanceRequest(
                project=p.project,
                zone=zone,
                instance=name,
                instances_set_labels_request_resource=body,
                request_id=request_id(key, step),
            ),
        )

    # --- listing and cleanup ---------------------------------------------------------------------

    def list_resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Labelled instances, then volumes (instances go first so a cleanup can detach in order)."""
        want = {L.SERVICE: L.encode(service)}
        if env is not None:
            want[L.ENV] = L.encode(env)
        instances: list[Resource] = []
        volumes: list[Resource] = []
        for region in self._regions():
            p = self._place(service, region)
            flt = L.label_filter(want)
            for zone in p.zones:
                for inst in p.call(
                    "list instances",
                    p.clients.instances.list,
                    request=compute_v1.ListInstancesRequest(project=p.project, zone=zone, filter=flt),
                ):
                    if L.ENV in inst.labels:
                        instances.append(
                            _resource("instance", inst.name, region, dict(inst.labels), inst.description)
                        )
                for disk in p.call(
                    "list disks",
                    p.clients.disks.list,
                    request=compute_v1.ListDisksRequest(project=p.project, zone=zone, filter=flt),
                ):
                    if L.ENV in disk.labels:
                        volumes.append(
                            _resource("volume", disk.name, region, dict(disk.labels), disk.description)
                        )
        return instances + volumes

    def delete_resource(self, service: str, region: str, resource_id: str) -> bool:
        """Delete a volume or instance (a stable-group member leaves its group); False if already gone."""
        p = self._place(service, region)
        found = self._find_instance(p, resource_id)
        if found is not None:
            zone, inst = found
            managed = any(i.key == "created-by" for i in inst.metadata.items)
            try:
                if managed:
                    self._groups.remove(
                        p,
                        "stable",
                        [f"{p.zone_path(zone)}/instances/{resource_id}"],
                        f"delete:{inst.id}",
                        "instance",
                    )
                else:
                    p.run(
                        f"delete instance {resource_id}",
                        p.clients.instances.delete_unary,
                        request=compute_v1.DeleteInstanceRequest(
                            project=p.project,
                            zone=zone,
                            instance=resource_id,
                            request_id=request_id(f"delete:{inst.id}", "instance"),
                        ),
                    )
            except NotFound:
                return False
            return True
        for zone in p.zones:
            try:
                disk = p.call(
                    "read disk", p.clients.disks.get, project=p.project, zone=zone, disk=resource_id
                )
            except NotFound:
                continue
            return self._delete_disk(p, zone, resource_id, f"delete:{disk.id}", "disk")
        return False
