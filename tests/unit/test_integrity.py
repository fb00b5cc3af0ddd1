"""Pure integrity decisions outside workflows/logic: EBS block lists against their manifest, the
watermark a validation hook answers, and the validation policy's checks."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from activities.clouds.aws_blocks import (
    BlockRead,
    block_checksum,
    block_problems,
    manifest_digest,
    read_blocks,
)
from activities.validation_activities import read_watermark
from config.dr import DrPolicy, ValidationHook
from contracts.validation import ValidationCall

SUMS = {0: "a", 1: "b", 2: "c"}
DIGEST = manifest_digest(SUMS)


def test_a_block_checksum_is_the_base64_sha256_of_its_data() -> None:
    assert block_checksum(b"abc") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_the_manifest_digest_covers_indexes_and_checksums_in_index_order() -> None:
    assert manifest_digest({2: "c", 0: "a", 1: "b"}) == DIGEST
    assert manifest_digest({0: "a", 1: "b", 3: "c"}) != DIGEST  # same checksums, another index
    assert manifest_digest({0: "a", 1: "c", 2: "b"}) != DIGEST  # same indexes, swapped data
    assert manifest_digest({}) == hashlib.sha256(b"").hexdigest()


def test_blocks_matching_the_manifest_verify() -> None:
    assert block_problems(BlockRead(dict(SUMS)), 3, DIGEST) == []


def test_no_manifest_never_verifies() -> None:
    assert block_problems(BlockRead(dict(SUMS)), None, DIGEST) == [
        "no block manifest was recorded when the snapshot was taken"
    ]
    assert block_problems(BlockRead(dict(SUMS)), 3, None)[-1].startswith("no block manifest")


def test_a_bad_block_is_named_even_when_the_list_matches() -> None:
    assert block_problems(BlockRead(dict(SUMS), bad=[1]), 3, DIGEST) == [
        "block 1: data does not hash to its SHA-256 checksum"
    ]


def test_a_changed_list_is_named_by_the_original_else_counted() -> None:
    read = BlockRead({0: "a", 2: "x", 5: "e"})
    assert block_problems(read, 3, DIGEST, SUMS) == [
        "block 1: missing",
        "block 2: checksum differs from the snapshot taken",
        "block 5: extra (not in the snapshot taken)",
    ]
    counted = [
        "the block list (3 blocks) differs from the manifest recorded when the snapshot was taken (3 blocks)"
    ]
    assert block_problems(read, 3, DIGEST) == counted
    assert block_problems(read, 3, DIGEST, dict(read.checksums)) == counted  # the original changed too


def test_a_count_that_disagrees_with_the_digest_fails() -> None:
    assert block_problems(BlockRead(dict(SUMS)), 4, DIGEST) != []


def test_a_long_list_of_problems_is_cut_after_three() -> None:
    read = BlockRead({}, bad=[])
    original = dict.fromkeys(range(5), "z")
    problems = block_problems(read, 5, manifest_digest(original), original)
    assert problems == ["block 0: missing", "block 1: missing", "block 2: missing", "and 2 more"]


class FakeEbs:
    """Two pages of blocks; block 3's data does not match its checksum; block 4's algorithm is not SHA-256."""

    def __init__(self) -> None:
        self.data = {1: b"one", 2: b"two", 3: b"three", 4: b"four"}

    def list_snapshot_blocks(self, **request: Any) -> dict[str, Any]:
        if "NextToken" not in request:
            first = [{"BlockIndex": 1, "BlockToken": "t1"}, {"BlockIndex": 2, "BlockToken": "t2"}]
            return {"Blocks": first, "NextToken": "p2"}
        assert request["NextToken"] == "p2"
        return {"Blocks": [{"BlockIndex": 3, "BlockToken": "t3"}, {"BlockIndex": 4, "BlockToken": "t4"}]}

    def get_snapshot_block(self, SnapshotId: str, BlockIndex: int, BlockToken: str) -> dict[str, Any]:
        assert SnapshotId == "snap-1" and BlockToken == f"t{BlockIndex}"
        data = self.data[BlockIndex]
        checksum = block_checksum(b"other" if BlockIndex == 3 else data)
        algorithm = "SHA1" if BlockIndex == 4 else "SHA256"
        return {"BlockData": io.BytesIO(data), "Checksum": checksum, "ChecksumAlgorithm": algorithm}


def test_read_blocks_follows_pages_and_checks_each_blocks_data() -> None:
    read = read_blocks(FakeEbs(), "snap-1")
    assert sorted(read.checksums) == [1, 2, 3, 4] and read.checksums[1] == block_checksum(b"one")
    assert read.bad == [3, 4]


@pytest.mark.parametrize(
    ("raw", "expect", "found"),
    [
        (b'{"watermark": 42}', "watermark", 42),
        (b'{"data": {"watermark": "1700000000000"}}', "data.watermark", 1700000000000),
        (b'{"watermark": 0}', "watermark", 0),
        (b"ok", "watermark", "the answer is not JSON"),
        (b'{"mark": 1}', "watermark", "the answer has no field 'watermark'"),
        (b'{"data": 5}', "data.watermark", "the answer has no field 'data.watermark'"),
        (b"[1]", "watermark", "the answer has no field 'watermark'"),
        (b'{"watermark": true}', "watermark", "'watermark' is not an integer: true"),
        (b'{"watermark": 4.5}', "watermark", "'watermark' is not an integer: 4.5"),
        (b'{"watermark": "-3"}', "watermark", "'watermark' is not an integer: " + '"-3"'),
        (b'{"watermark": "\\u0663"}', "watermark", "'watermark' is not an integer: " + '"\\u0663"'),
        (b'{"watermark": null}', "watermark", "'watermark' is not an integer: null"),
    ],
)
def test_read_watermark(raw: bytes, expect: str, found: int | str) -> None:
    assert read_watermark(raw, expect) == found


def test_the_validation_policy_checks_its_url_and_field_path() -> None:
    policy = {"validation": {"url": "https://v.example/${TOKEN}", "expect": "a.b-c"}}
    hook = DrPolicy.model_validate(policy).validation
    assert hook is not None and hook.expect == "a.b-c" and hook.timeout == 10.0 and hook.retries == 2
    assert DrPolicy().validation is None
    bad_ones = [
        {"url": "ftp://v.example"},
        {"url": "https://v.example", "expect": "a..b"},
        {"url": "https://v.example", "timeout": 0},
    ]
    for bad in bad_ones:
        with pytest.raises(ValidationError):
            ValidationHook.model_validate(bad)


def test_the_hook_receives_the_restore_and_never_a_filled_secret() -> None:
    call = ValidationCall(
        hook=ValidationHook(url="https://v.example/${TOKEN}", expect="data.watermark"),
        workflow_id="dr-validate:checkout:r",
        mode="validate",
        service="checkout",
        source_region="s",
        region="r",
        env="validate-1",
        snapshot_id="snap-1",
        snapshot_taken_at=datetime(2030, 1, 1, tzinfo=UTC),
        snapshot_watermark=7,
        volume_id="vol-1",
        key="k/validate",
    )
    assert call.body() == {
        "operation": "dr-validate",
        "workflow_id": "dr-validate:checkout:r",
        "service": "checkout",
        "source_region": "s",
        "region": "r",
        "env": "validate-1",
        "snapshot_id": "snap-1",
        "snapshot_taken_at": "2030-01-01T00:00:00+00:00",
        "snapshot_watermark": 7,
        "volume_id": "vol-1",
        "instances": [],
        "expect": "data.watermark",
        "key": "k/validate",
    }
    assert call.name == "validation hook https://v.example/${TOKEN}"
