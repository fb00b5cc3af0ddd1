"""The AWS storage half (StoragePort): EBS snapshots, cross-region copies and recovery resources.

Everything the adapter creates is tagged `globalops:service`, `globalops:key` (the idempotency key)
and, for recovery resources, `globalops:env`; every keyed call looks its key up by tag before it
acts, because CopySnapshot and CreateSnapshot take no client token and moto de-duplicates none.
A snapshot carries the caller's `taken_at`, the data checksum and watermark as tags; copies and
restored volumes copy those tags, which is what check_volume reads back. Those markers cannot
fail; what can is `verify_snapshot`: once a snapshot is completed the adapter reads its blocks
through the EBS direct APIs and tags it with their manifest (aws_blocks.py), and verifying a
snapshot (a copy) reads its blocks again and compares.

Encryption is what EBS reports (`Encrypted`, `KmsKeyId` of describe_snapshots), never what was
asked: a snapshot is encrypted only if its volume is (CreateSnapshot takes no key), and a copy is
encrypted with the destination region's key when one is given (CopySnapshot `Encrypted`,
`KmsKeyId`), which also re-encrypts an unencrypted source.

A snapshot or a copy is returned once it is `completed` (a retry that finds it by its key waits too);
one that ends in `error` is deleted and the call fails retryably, so the retry takes a new one.
Launched instances are returned once they run (and, in prod, serve in the stable group).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from activities.botocore_errors import (
    error_code,
    mapped,
)
from activities.clouds.aws_clients import (
    TAG_CHECKSUM,
    TAG_COPY_OF,
    TAG_ENV,
    TAG_KEY,
    TAG_KIND,
    TAG_RELEASE,
    TAG_SERVICE,
    TAG_SNAPSHOT,
    TAG_SOURCE_REGION,
    TAG_TAKEN_AT,
    TAG_VOLUME,
    TAG_WATERMARK,
    tag_filters,
    tag_spec,
    tag_value,
    tags_of,
    token,
)
from activities.clouds.aws_groups import Groups
from activities.clouds.aws_integrity import AwsIntegrity
from activities.clouds.aws_waits import Waiter, instances_running, snapshot_completed
from contracts.errors import (
    InvalidRequest,
    NotFound,
)
from contracts.storage import (
    PROD,
    Resource,
    Snapshot,
    VolumeCheck,
)

#: Instance states that still count as a resource (terminated ones linger in describe calls).
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
DATA_KIND = "data"


def watermark(taken_at: datetime) -> int:
    """The data sequence number at `taken_at`: its epoch milliseconds (naive means UTC)."""
    return int(_utc(taken_at).timestamp() * 1000)


def checksum(service: str, region: str, mark: int) -> str:
    """The checksum of the service's data in `region` up to sequence `mark` (as the sim computes it)."""
    return hashlib.sha256(f"{service}/{region}/{mark}".encode()).hexdigest()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_snapshot(raw: dict[str, Any], region: str) -> Snapshot | None:
    """A Snapshot from an EBS snapshot's description, None if it lacks the adapter's tags."""
    tags = tags_of(raw)
    try:
        return Snapshot(
            id=str(raw["SnapshotId"]),
            service=tags[TAG_SERVICE],
            region=region,
            source_region=tags[TAG_SOURCE_REGION],
            taken_at=datetime.fromisoformat(tags[TAG_TAKEN_AT]),
            checksum=tags[TAG_CHECKSUM],
            watermark=int(tags[TAG_WATERMARK]),
            copy_of=tags.get(TAG_COPY_OF) or None,
            key=tags.get(TAG_KEY, ""),
            encrypted=bool(raw.get("Encrypted", False)),
            kms_key=str(raw["KmsKeyId"]) if raw.get("Encrypted") and raw.get("KmsKeyId") else None,
        )
    except (KeyError, ValueError):
        return None


def _resource(raw: dict[str, Any], kind: str, region: str) -> Resource:
    tags = tags_of(raw)
    return Resource(
        id=str(raw["VolumeId"] if kind == "volume" else raw["InstanceId"]),
        kind="volume" if kind == "volume" else "instance",
        service=tags.get(TAG_SERVICE, ""),
        region=region,
        env=tags.get(TAG_ENV, ""),
        snapshot_id=tags.get(TAG_SNAPSHOT) or None,
        key=tags.get(TAG_KEY, ""),
    )


def _check_env(env: str) -> None:
    if not env:
        raise InvalidRequest("AWS: env must not be empty (use 'prod' or an isolated one like 'drill-1')")


class AwsStorage(AwsIntegrity):
    """StoragePort for AwsCloud: EBS and EC2 calls in the region's client."""

    if TYPE_CHECKING:  # provided by AwsCloud
        _ec2: Callable[[str], Any]

        def _groups(self, service: str, region: str, grow_max: bool = False) -> Groups: ...
        def _check(self, service: str, region: str) -> None: ...
        def _waiter(self, region: str) -> Waiter: ...
        def _aws_regions(self) -> list[str]: ...
        def _subnet(self, groups: Groups) -> str | None: ...

    @mapped
    def snapshot_volume(
        self, service: str, region: str, taken_at: datetime, key: str, kms_key: str | None = None
    ) -> Snapshot:
        """Snapshot the service's data volume, stamped with the caller's `taken_at`; once per key.

        `kms_key` is not used: EBS encrypts a snapshot as its volume is encrypted (turn on EBS
        encryption by default in the region); the copy is what carries the region's key.
        """
        self._check(service, region)
        ec2 = self._ec2(region)
        found = self._snapshots(region, {TAG_SERVICE: service, TAG_KEY: tag_value(key)})
        if found:
            self._record_manifest(region, found[0].id, self._wait_completed(region, found[0].id))
            return found[0]
        volumes = self._volumes(region, {TAG_SERVICE: service, TAG_KIND: DATA_KIND})
        if not volumes:
            raise NotFound(f"AWS: no data volume tagged {TAG_SERVICE}={service} in '{region}'")
        mark = watermark(taken_at)
        tags = {
            TAG_SERVICE: service,
            TAG_KIND: "backup",
            TAG_KEY: tag_value(key),
            TAG_SOURCE_REGION: region,
            TAG_TAKEN_AT: _utc(taken_at).isoformat(),
            TAG_CHECKSUM: checksum(service, region, mark),
            TAG_WATERMARK: str(mark),
        }
        raw = ec2.create_snapshot(
            VolumeId=volumes[0]["VolumeId"],
            Description=f"globalops backup of {service} in {region}",
            TagSpecifications=tag_spec("snapshot", tags),
        )
        snap = to_snapshot({**raw, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}, region)
        assert snap is not None  # the tags above are complete
        completed = self._wait_completed(region, snap.id)
        self._record_manifest(region, snap.id, completed)
        described = to_snapshot(completed, region) or snap
        return described.model_copy(update={"key": key})

    @mapped
    def copy_snapshot(
        self,
        service: str,
        snapshot_id: str,
        region: str,
        dest_region: str,
        key: str,
        kms_key: str | None = None,
    ) -> Snapshot:
        """CopySnapshot into `dest_region`, tagged with the key, encrypted with `kms_key` (a KMS key of
        `dest_region`; None: as the source); a copy with that tag is returned instead."""
        self._check(service, dest_region)
        found = self._snapshots(dest_region, {TAG_SERVICE: service, TAG_KEY: tag_value(key)})
        if found:
            if found[0].copy_of is None:
                raise InvalidRequest(f"AWS: key '{key}' already tags snapshot {found[0].id} there")
            self._wait_completed(dest_region, found[0].id)
            return found[0]
        self._check(service, region)
        source = self._snapshot(region, snapshot_id)
        if source is None or source.service != service:
            raise NotFound(f"AWS: snapshot '{snapshot_id}' of '{service}' does not exist in '{region}'")
        tags = {
            TAG_SERVICE: service,
            TAG_KIND: "backup",
            TAG_KEY: tag_value(key),
            TAG_SOURCE_REGION: source.source_region,
            TAG_TAKEN_AT: source.taken_at.isoformat(),
            TAG_CHECKSUM: source.checksum,
            TAG_WATERMARK: str(source.watermark),
            TAG_COPY_OF: source.copy_of or source.id,
            **self._manifest_tags(region, snapshot_id),
        }
        encryption: dict[str, Any] = {"Encrypted": True, "KmsKeyId": kms_key} if kms_key else {}
        raw = self._ec2(dest_region).copy_snapshot(
            SourceRegion=region,
            SourceSnapshotId=snapshot_id,
            Description=f"globalops copy of {snapshot_id} from {region}",
            TagSpecifications=tag_spec("snapshot", tags),
            **encryption,
        )
        made = str(raw["SnapshotId"])
        described = to_snapshot(self._wait_completed(dest_region, made), dest_region)
        if described is None:  # its tags did not show: nothing is known of its encryption either
            described = source.model_copy(
                update={"id": made, "region": dest_region, "encrypted": False, "kms_key": None}
            )
        return described.model_copy(update={"copy_of": tags[TAG_COPY_OF], "key": key})

    @mapped
    def list_snapshots(self, service: str, region: str) -> list[Snapshot]:
        """The service's snapshots stored in `region` (originals and copies), newest first."""
        self._check(service, region)
        return self._snapshots(region, {TAG_SERVICE: service})

    @mapped
    def delete_snapshot(self, service: str, region: str, snapshot_id: str) -> bool:
        """DeleteSnapshot; False if it was already gone (or is not the service's)."""
        self._check(service, region)
        snap = self._snapshot(region, snapshot_id)
        if snap is None or snap.service != service:
            return False
        try:
            self._ec2(region).delete_snapshot(SnapshotId=snapshot_id)
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):
                return False
            raise
        return True

    @mapped
    def restore_volume(self, service: str, region: str, snapshot_id: str, env: str, key: str) -> Resource:
        """CreateVolume from the snapshot, tagged env and key (looked up first, ClientToken too)."""
        _check_env(env)
        self._check(service, region)
        wanted = {TAG_SERVICE: service, TAG_ENV: env, TAG_KEY: tag_value(key)}
        found = self._volumes(region, wanted)
        if found:
            return _resource(found[0], "volume", region).model_copy(update={"key": key})
        snap = self._snapshot(region, snapshot_id)
        if snap is None or snap.service != service:
            raise NotFound(f"AWS: snapshot '{snapshot_id}' of '{service}' does not exist in '{region}'")
        zone = self._groups(service, region).describe("stable")["AvailabilityZones"][0]
        tags = {
            **wanted,
            TAG_KIND: "restore",
            TAG_SNAPSHOT: snapshot_id,
            TAG_CHECKSUM: snap.checksum,
            TAG_WATERMARK: str(snap.watermark),
        }
        raw = self._ec2(region).create_volume(
            SnapshotId=snapshot_id,
            AvailabilityZone=zone,
            ClientToken=token(key),
            TagSpecifications=tag_spec("volume", tags),
        )
        return Resource(
            id=str(raw["VolumeId"]),
            kind="volume",
            service=service,
            region=region,
            env=env,
            snapshot_id=snapshot_id,
            key=key,
        )

    @mapped
    def launch_instances(
        self, service: str, region: str, release: str, count: int, volume_id: str, env: str, key: str
    ) -> list[Resource]:
        """RunInstances on the release's template version (ClientToken + tag look-up); prod joins stable.

        In prod the instances are attached to the stable Auto Scaling group, so they join its target
        group (serving capacity), count in region_state and health, and later rollouts replace them.
        The volume is handed over by tag (`globalops:volume`), not attached: cleanup needs no order.
        """
        _check_env(env)
        if count < 1:
            raise InvalidRequest(f"AWS: count must be >= 1, got {count}")
        self._check(service, region)
        ec2 = self._ec2(region)
        groups = self._groups(service, region)
        wanted = {TAG_SERVICE: service, TAG_ENV: env, TAG_KEY: tag_value(key)}
        found = self._instances(region, wanted)
        if not found:
            volume = self._volume(region, volume_id)
            if volume is None or tags_of(volume).get(TAG_SERVICE) != service:
                raise NotFound(f"AWS: volume '{volume_id}' of '{service}' does not exist in '{region}'")
            version = groups.release_version(release)
            request: dict[str, Any] = {
                "LaunchTemplate": {"LaunchTemplateName": groups.names.launch_template, "Version": version},
                "MinCount": count,
                "MaxCount": count,
                "ClientToken": token(key),
                "TagSpecifications": tag_spec(
                    "instance",
                    {**wanted, TAG_KIND: "recovery", TAG_RELEASE: release, TAG_VOLUME: volume_id},
                ),
            }
            subnet = self._subnet(groups)
            if subnet:
                request["SubnetId"] = subnet
            found = ec2.run_instances(**request)["Instances"]
        made = [_resource(i, "instance", region).model_copy(update={"key": key}) for i in found]
        self._wait_running(region, [r.id for r in made])
        if env == PROD:
            groups.attach([r.id for r in made])
        return sorted(made, key=lambda r: r.id)

    @mapped
    def check_volume(self, service: str, region: str, volume_id: str) -> VolumeCheck:
        """The checksum and watermark tags a restored volume took from its snapshot."""
        self._check(service, region)
        volume = self._volume(region, volume_id)
        if volume is None or tags_of(volume).get(TAG_SERVICE) != service:
            raise NotFound(f"AWS: volume '{volume_id}' of '{service}' does not exist in '{region}'")
        tags = tags_of(volume)
        if TAG_CHECKSUM not in tags or TAG_WATERMARK not in tags:
            raise InvalidRequest(f"AWS: volume '{volume_id}' carries no checksum / watermark tags")
        return VolumeCheck(
            volume_id=volume_id,
            region=region,
            checksum=tags[TAG_CHECKSUM],
            watermark=int(tags[TAG_WATERMARK]),
        )

    @mapped
    def list_resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Volumes and live instances tagged with an env, in every AWS region of the topology."""
        out: list[tuple[datetime, Resource]] = []
        wanted = {TAG_SERVICE: service} if env is None else {TAG_SERVICE: service, TAG_ENV: env}
        extra = [{"Name": "tag-key", "Values": [TAG_ENV]}]
        for region in self._aws_regions():
            for raw in self._volumes(region, wanted, extra):
                out.append((raw["CreateTime"], _resource(raw, "volume", region)))
            for raw in self._instances(region, wanted, extra):
                out.append((raw["LaunchTime"], _resource(raw, "instance", region)))
        return [r for _, r in sorted(out, key=lambda pair: (pair[0], pair[1].id))]

    @mapped
    def delete_resource(self, service: str, region: str, resource_id: str) -> bool:
        """Delete a volume or terminate an instance (leaving its group first); False if already gone."""
        if resource_id.startswith("vol-"):
            volume = self._volume(region, resource_id)
            if volume is None or tags_of(volume).get(TAG_SERVICE) != service:
                return False
            try:
                self._ec2(region).delete_volume(VolumeId=resource_id)
            except ClientError as exc:
                if error_code(exc).endswith("NotFound"):
                    return False
                raise
            return True
        instances = self._instances(region, {TAG_SERVICE: service}, ids=[resource_id])
        if not instances:
            return False
        if "aws:autoscaling:groupName" in tags_of(instances[0]):
            self._groups(service, region).terminate_member(resource_id)
        else:
            self._ec2(region).terminate_instances(InstanceIds=[resource_id])
        return True

    # ----- waits --------------------------------------------------------------------------------

    def _wait_completed(self, region: str, snapshot_id: str) -> dict[str, Any]:
        """Wait until the snapshot is `completed` and return its description; one in `error` is deleted
        and the call retried."""
        check = snapshot_completed(self._ec2(region), region, snapshot_id)
        return self._waiter(region).until(f"snapshot {snapshot_id} in {region} completed", check)

    def _wait_running(self, region: str, instance_ids: list[str]) -> None:
        """Wait until every instance is `running`."""
        check = instances_running(self._ec2(region), region, instance_ids)
        self._waiter(region).until(f"instances {', '.join(instance_ids)} in {region} running", check)

    # ----- look-ups -----------------------------------------------------------------------------

    def _snapshots(self, region: str, tags: dict[str, str]) -> list[Snapshot]:
        pages = (
            self._ec2(region)
            .get_paginator("describe_snapshots")
            .paginate(OwnerIds=["self"], Filters=tag_filters(tags))
        )
        snaps = [s for page in pages for raw in page["Snapshots"] if (s := to_snapshot(raw, region))]
        return sorted(snaps, key=lambda s: (s.taken_at, s.id), reverse=True)

    def _snapshot(self, region: str, snapshot_id: str) -> Snapshot | None:
        try:
            found = self._ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):
                return None
            raise
        return to_snapshot(found[0], region) if found else None

    def _volumes(
        self, region: str, tags: dict[str, str], extra: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        pages = (
            self._ec2(region)
            .get_paginator("describe_volumes")
            .paginate(Filters=tag_filters(tags, extra or []))
        )
        vols = [v for page in pages for v in page["Volumes"] if v.get("State") not in ("deleting", "deleted")]
        return sorted(vols, key=lambda v: (v["CreateTime"], v["VolumeId"]))

    def _volume(self, region: str, volume_id: str) -> dict[str, Any] | None:
        try:
            found = self._ec2(region).describe_volumes(VolumeIds=[volume_id])["Volumes"]
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):
                return None
            raise
        return dict(found[0]) if found and found[0].get("State") not in ("deleting", "deleted") else None

    def _instances(
        self,
        region: str,
        tags: dict[str, str],
        extra: list[dict[str, Any]] | None = None,
        ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        filters = tag_filters(tags, [*(extra or []), {"Name": "instance-state-name", "Values": LIVE_STATES}])
        request: dict[str, Any] = {"Filters": filters}
        if ids:
            request["InstanceIds"] = ids
        try:
            pages = list(self._ec2(region).get_paginator("describe_instances").paginate(**request))
        except ClientError as exc:
            if ids and error_code(exc).endswith("NotFound"):
                return []
            raise
        found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return sorted(found, key=lambda i: (i["LaunchTime"], i["InstanceId"]))
