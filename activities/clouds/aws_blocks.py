"""EBS snapshot blocks, read through the EBS direct APIs and checked against a manifest.

When the adapter takes a snapshot it reads every block once (`ListSnapshotBlocks`,
`GetSnapshotBlock`), checks that each block's data hashes to the SHA-256 checksum EBS returns
with it, and records a manifest of what it found as two tags: the block count and a digest over
the sorted (block index, checksum) pairs. Copies carry those tags. Verifying a snapshot (the copy
a recovery restores from) reads its blocks the same way: a block whose data does not hash to its
checksum, a block that is missing, an extra block or a block whose checksum differs from what was
recorded fails it. The digest tells that the set changed; the original snapshot, when it can still
be read, names the blocks that did.

The decisions are the pure functions `block_checksum`, `manifest_digest` and `block_problems`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The checksum algorithm EBS reports for a block (the only one it has).
SHA256 = "SHA256"
#: How many problems a reason names before it says "and N more".
NAMED = 3


def block_checksum(data: bytes) -> str:
    """A block's checksum as EBS gives it: the base64 of the SHA-256 of its data."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def manifest_digest(checksums: Mapping[int, str]) -> str:
    """The digest of a snapshot's block list: SHA-256 over `index:checksum` lines, by index."""
    lines = "".join(f"{index}:{checksums[index]}\n" for index in sorted(checksums))
    return hashlib.sha256(lines.encode()).hexdigest()


@dataclass
class BlockRead:
    """What reading a snapshot's blocks found: each block's checksum and the blocks whose data did
    not hash to it (or whose checksum was not SHA-256)."""

    checksums: dict[int, str] = field(default_factory=dict)
    bad: list[int] = field(default_factory=list)


def read_blocks(ebs: Any, snapshot_id: str) -> BlockRead:
    """Read every block of a snapshot (ListSnapshotBlocks pages, one GetSnapshotBlock each)."""
    found = BlockRead()
    request: dict[str, Any] = {"SnapshotId": snapshot_id}
    while True:
        page = ebs.list_snapshot_blocks(**request)
        for block in page.get("Blocks", []):
            index = int(block["BlockIndex"])
            got = ebs.get_snapshot_block(
                SnapshotId=snapshot_id, BlockIndex=index, BlockToken=block["BlockToken"]
            )
            data = got["BlockData"].read()
            checksum = str(got.get("Checksum") or "")
            found.checksums[index] = checksum
            if got.get("ChecksumAlgorithm") != SHA256 or block_checksum(data) != checksum:
                found.bad.append(index)
        token = page.get("NextToken")
        if not token:
            return found
        request["NextToken"] = token


def _named(problems: list[str]) -> list[str]:
    if len(problems) <= NAMED:
        return problems
    return [*problems[:NAMED], f"and {len(problems) - NAMED} more"]


def block_problems(
    read: BlockRead,
    recorded_count: int | None,
    recorded_digest: str | None,
    reference: Mapping[int, str] | None = None,
) -> list[str]:
    """Why the blocks read do not verify (empty: they do).

    `recorded_*` are the manifest tags (None: none recorded, which never verifies); `reference` is
    the original snapshot's block checksums when they could be read, used to name the blocks of a
    list that differs from the manifest.
    """
    problems = [f"block {i}: data does not hash to its SHA-256 checksum" for i in sorted(read.bad)]
    if recorded_count is None or recorded_digest is None:
        return [*_named(problems), "no block manifest was recorded when the snapshot was taken"]
    if manifest_digest(read.checksums) == recorded_digest and len(read.checksums) == recorded_count:
        return _named(problems)
    named = _differences(read.checksums, reference) if reference is not None else []
    if not named:
        named = [
            f"the block list ({len(read.checksums)} blocks) differs from the manifest recorded when the"
            f" snapshot was taken ({recorded_count} blocks)"
        ]
    return _named([*problems, *named])


def _differences(have: Mapping[int, str], want: Mapping[int, str]) -> list[str]:
    """Each block in which `have` differs from `want`, by index."""
    out: list[str] = []
    for index in sorted(set(have) | set(want)):
        if index not in have:
            out.append(f"block {index}: missing")
        elif index not in want:
            out.append(f"block {index}: extra (not in the snapshot taken)")
        elif have[index] != want[index]:
            out.append(f"block {index}: checksum differs from the snapshot taken")
    return out


def summary(problems: Iterable[str]) -> str:
    """The problems as one reason."""
    return "; ".join(problems)
