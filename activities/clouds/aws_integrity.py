"""The AWS integrity check (StoragePort.verify_snapshot): a snapshot's blocks against its manifest.

When a snapshot is completed the adapter reads its blocks through the EBS direct APIs and tags it
with their manifest (`_record_manifest`); a copy carries the tags (`_manifest_tags`); verifying a
snapshot reads its blocks again and compares (aws_blocks.py holds the reads and the decisions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from activities.botocore_errors import error_code, mapped
from activities.clouds import aws_blocks
from activities.clouds.aws_clients import (
    TAG_BLOCKS,
    TAG_COPY_OF,
    TAG_MANIFEST,
    TAG_SERVICE,
    TAG_SOURCE_REGION,
    tag_list,
    tags_of,
)
from contracts.errors import NotFound, Unavailable
from contracts.storage import SnapshotVerification


class AwsIntegrity:
    """Reads and records snapshot block manifests for AwsStorage."""

    if TYPE_CHECKING:  # provided by AwsCloud
        _ec2: Callable[[str], Any]
        _ebs: Callable[[str], Any]

        def _check(self, service: str, region: str) -> None: ...

    @mapped
    def verify_snapshot(self, service: str, region: str, snapshot_id: str) -> SnapshotVerification:
        """Read the snapshot's blocks (EBS direct APIs) and check them against its manifest tags."""
        self._check(service, region)
        raw = self._raw_snapshot(region, snapshot_id)
        if raw is None or tags_of(raw).get(TAG_SERVICE) != service:
            raise NotFound(f"AWS: snapshot '{snapshot_id}' of '{service}' does not exist in '{region}'")
        tags = tags_of(raw)
        read = aws_blocks.read_blocks(self._ebs(region), snapshot_id)
        count, digest = tags.get(TAG_BLOCKS), tags.get(TAG_MANIFEST)
        recorded = int(count) if count and count.isdigit() else None
        problems = aws_blocks.block_problems(read, recorded, digest)
        if problems and recorded is not None and digest and tags.get(TAG_COPY_OF):
            # Name the blocks: the original's, if its region can still be read (not in an outage).
            reference = self._original_blocks(service, tags[TAG_COPY_OF], tags.get(TAG_SOURCE_REGION, ""))
            problems = aws_blocks.block_problems(read, recorded, digest, reference)
        return SnapshotVerification(
            snapshot_id=snapshot_id,
            region=region,
            checked=True,
            ok=not problems,
            method=f"EBS direct APIs: {len(read.checksums)} blocks read, SHA-256 checked",
            reason=f"snapshot {snapshot_id}: {aws_blocks.summary(problems)}" if problems else None,
        )

    def _original_blocks(self, service: str, original: str, source_region: str) -> dict[int, str] | None:
        """The block checksums of a copy's original, or None when it cannot be read (gone, region down)."""
        try:
            raw = self._raw_snapshot(source_region, original)
            if raw is None or tags_of(raw).get(TAG_SERVICE) != service:
                return None
            return aws_blocks.read_blocks(self._ebs(source_region), original).checksums
        except Exception:  # noqa: BLE001 - only names blocks; the verdict stands without it
            return None

    def _record_manifest(self, region: str, snapshot_id: str, described: dict[str, Any]) -> None:
        """Read a completed snapshot's blocks once and tag it with their manifest (if its description,
        `described`, shows no manifest yet).

        A block whose data does not hash to its checksum makes the new snapshot useless: it is
        deleted and the call fails retryably, so the retry takes a new one.
        """
        if TAG_MANIFEST in tags_of(described):
            return
        read = aws_blocks.read_blocks(self._ebs(region), snapshot_id)
        if read.bad:
            self._ec2(region).delete_snapshot(SnapshotId=snapshot_id)
            raise Unavailable(
                f"AWS: snapshot {snapshot_id} in {region}: block {read.bad[0]} does not hash to its"
                " checksum; deleted, retried"
            )
        manifest = {
            TAG_BLOCKS: str(len(read.checksums)),
            TAG_MANIFEST: aws_blocks.manifest_digest(read.checksums),
        }
        self._ec2(region).create_tags(Resources=[snapshot_id], Tags=tag_list(manifest))

    def _manifest_tags(self, region: str, snapshot_id: str) -> dict[str, str]:
        """The manifest tags of a snapshot, for its copy (none if it has none: its copy cannot verify)."""
        raw = self._raw_snapshot(region, snapshot_id)
        tags = tags_of(raw) if raw is not None else {}
        return {k: tags[k] for k in (TAG_BLOCKS, TAG_MANIFEST) if k in tags}

    def _raw_snapshot(self, region: str, snapshot_id: str) -> dict[str, Any] | None:
        """A snapshot's description (with its tags), None if it does not exist."""
        try:
            found = self._ec2(region).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):
                return None
            raise
        return dict(found[0]) if found else None
