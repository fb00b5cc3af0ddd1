"""EBS direct APIs on EC2 snapshots, which moto 5.2 serves only for snapshots made with StartSnapshot.

In AWS every completed snapshot can be read block by block (ListSnapshotBlocks, GetSnapshotBlock,
each block with the SHA-256 checksum of its data). moto keeps EC2 snapshots and EBS-direct
snapshots apart, so `install()` makes EC2's CreateSnapshot hold its volume's blocks and CopySnapshot
hold its source's, as AWS does. A volume's data is `DEFAULT_BLOCKS` small blocks derived from its
id, unless a test wrote others (`write_volume`). The tests corrupt a stored snapshot with
`corrupt_block` (data changed, checksum kept: a wrong block), `drop_block` (a missing block) and
`add_block` (an extra block whose checksum matches its data).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ebs import models as ebs_models
from moto.ec2.models import elastic_block_store

DEFAULT_BLOCKS = 4
BLOCK_BYTES = 1024
_lock = threading.Lock()
_installed = False
#: (account, region, volume id) -> block index -> data, for volumes a test wrote.
_volumes: dict[tuple[str, str, str], dict[int, bytes]] = {}


def install() -> None:
    """Patch moto's EC2 CreateSnapshot and CopySnapshot to fill the EBS direct APIs; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        backend = elastic_block_store.EBSBackend
        create, copy = backend.create_snapshot, backend.copy_snapshot

        def create_snapshot(self: Any, volume_id: str, *args: Any, **kwargs: Any) -> Any:
            snapshot = create(self, volume_id, *args, **kwargs)
            _store(self.account_id, self.region_name, snapshot, _volume_data(self, volume_id))
            return snapshot

        def copy_snapshot(
            self: Any, source_snapshot_id: str, source_region: str, *args: Any, **kwargs: Any
        ) -> Any:
            snapshot = copy(self, source_snapshot_id, source_region, *args, **kwargs)
            source = _ebs(self.account_id, source_region).snapshots.get(source_snapshot_id)
            blocks = {i: b.block_data for i, b in source.blocks.items()} if source else {}
            _store(self.account_id, self.region_name, snapshot, blocks)
            return snapshot

        setattr(backend, "create_snapshot", create_snapshot)  # noqa: B010 - patching moto's class
        setattr(backend, "copy_snapshot", copy_snapshot)  # noqa: B010 - patching moto's class
        _installed = True


def checksum(data: bytes) -> str:
    """A block's checksum as EBS gives it: base64 of the SHA-256 of its data."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def write_volume(
    region: str, volume_id: str, blocks: dict[int, bytes], account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """What the volume holds from now on (snapshots taken later hold it)."""
    _volumes[(account_id, region, volume_id)] = dict(blocks)


def block_indexes(region: str, snapshot_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[int]:
    """The block indexes a stored snapshot holds."""
    return sorted(_ebs(account_id, region).snapshots[snapshot_id].blocks)


def corrupt_block(region: str, snapshot_id: str, index: int, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Flip the first byte of a stored block's data; its checksum stays (a wrong block)."""
    block = _ebs(account_id, region).snapshots[snapshot_id].blocks[index]
    block.block_data = bytes([block.block_data[0] ^ 0xFF]) + block.block_data[1:]


def drop_block(region: str, snapshot_id: str, index: int, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Remove a block from a stored snapshot (a missing block)."""
    del _ebs(account_id, region).snapshots[snapshot_id].blocks[index]


def add_block(
    region: str, snapshot_id: str, index: int, data: bytes, account_id: str = DEFAULT_ACCOUNT_ID
) -> None:
    """Add a block with a matching checksum to a stored snapshot (an extra block)."""
    _ebs(account_id, region).snapshots[snapshot_id].put_block(
        index, data, checksum(data), "SHA256", len(data)
    )


def _ebs(account_id: str, region: str) -> Any:
    return ebs_models.ebs_backends[account_id][region]


def _volume_data(ec2: Any, volume_id: str) -> dict[int, bytes]:
    written = _volumes.get((ec2.account_id, ec2.region_name, volume_id))
    if written is not None:
        return written
    return {
        i: hashlib.sha256(f"{volume_id}/{i}".encode()).digest() * (BLOCK_BYTES // 32)
        for i in range(DEFAULT_BLOCKS)
    }


def _store(account_id: str, region: str, snapshot: Any, blocks: dict[int, bytes]) -> None:
    stored = ebs_models.EBSSnapshot(account_id=account_id, snapshot=snapshot)
    stored.status = "completed"
    for index, data in blocks.items():
        stored.put_block(index, data, checksum(data), "SHA256", len(data))
    _ebs(account_id, region).snapshots[snapshot.id] = stored
