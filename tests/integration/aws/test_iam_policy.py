"""docs/aws-iam-policy.json grants exactly the AWS actions the adapter's source calls."""

from __future__ import annotations

import json

from tests.helpers.aws.iam_actions import ROOT, called_actions

#: Granted without (only) a direct call: tagging inside a create call (TagSpecifications) needs
#: CreateTags, which the adapter also calls itself to record a snapshot's block manifest; EBS uses the
#: regions' backup KMS keys on the caller's behalf (CopySnapshot with KmsKeyId, restores).
IMPLIED = {
    "ec2:CreateTags",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
}


def granted() -> set[str]:
    policy = json.loads((ROOT / "docs" / "aws-iam-policy.json").read_text(encoding="utf-8"))
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_policy_grants_exactly_the_called_actions() -> None:
    called = called_actions()
    assert len(called) > 20  # the collector found the adapter's calls
    assert not any("*" in action for action in granted())
    assert granted() - (IMPLIED - called) == called, {
        "granted, never called": sorted(granted() - IMPLIED - called),
        "called, not granted": sorted(called - granted()),
    }


def test_the_integrity_check_may_read_snapshot_blocks_and_tag_manifests() -> None:
    called = called_actions()
    assert {"ebs:ListSnapshotBlocks", "ebs:GetSnapshotBlock", "ec2:CreateTags"} <= called
    assert {"ebs:ListSnapshotBlocks", "ebs:GetSnapshotBlock"} <= granted()
