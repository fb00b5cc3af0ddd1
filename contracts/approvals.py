"""Signed approvals: what an approver signs, and the pure check a workflow's update validator runs.

The private key stays with the approver (a file made by `globalops keys create`); only the
signature, the approver's name and what was signed travel in the update. Verification is pure and
deterministic (Ed25519, no clock, no I/O), so it may run inside a workflow's update validator.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from contracts.wire import WireModel

#: How far (seconds) a signature's signed_at may be from the workflow's time before it is stale.
MAX_AGE = 300.0


class SignedApproval(WireModel):
    """One approval of one step of one operation, signed with the approver's Ed25519 key."""

    approver: str = Field(description="the approver's name, as listed in policies.approvals.approvers")
    workflow_id: str = Field(description="the operation approved: a signature is valid for it only")
    step: str = Field(description="what is approved, e.g. the wave that waits (core, edge)")
    signed_at: datetime = Field(description="when it was signed (UTC); an old one is refused as stale")
    nonce: str = Field(description="random, once per approval: a second use is refused as a replay")
    signature: str = Field(default="", description="base64 of the Ed25519 signature of canonical_bytes")


def canonical_bytes(approval: SignedApproval) -> bytes:
    """The bytes that are signed: every field but the signature, as JSON with sorted keys."""
    fields = {
        "approver": approval.approver,
        "nonce": approval.nonce,
        "signed_at": utc(approval.signed_at).isoformat(),
        "step": approval.step,
        "workflow_id": approval.workflow_id,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive time is taken as UTC), so one instant has one text however it travelled."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public half of `key`, as policies list it: base64 of its 32 raw bytes."""
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def sign(key: Ed25519PrivateKey, approval: SignedApproval) -> SignedApproval:
    """`approval` with its signature filled in."""
    signature = base64.b64encode(key.sign(canonical_bytes(approval))).decode()
    return approval.model_copy(update={"signature": signature})


def verify(public_key: str, approval: SignedApproval) -> bool:
    """Whether `approval` was signed by the private half of `public_key` (base64, 32 raw bytes)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(approval.signature, validate=True), canonical_bytes(approval))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
