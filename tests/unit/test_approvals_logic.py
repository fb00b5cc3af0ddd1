"""The one check every approval goes through (workflows/logic/approvals.py): each refusal and its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from config.models import ApprovalPolicy, Approver
from contracts.approvals import MAX_AGE, SignedApproval, public_key_text, sign, verify
from workflows.logic.approvals import approver_problem, remembered, signed_problem, unsigned_problem

ALICE, BOB, EVE = (Ed25519PrivateKey.generate() for _ in range(3))
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
POLICY = ApprovalPolicy(
    four_eyes=True,
    require_signature=True,
    approvers=[
        Approver(name="alice", public_key=public_key_text(ALICE)),
        Approver(name="bob", public_key=public_key_text(BOB)),
    ],
)


def _signed(key: Ed25519PrivateKey = BOB, **changes: Any) -> SignedApproval:
    fields: dict[str, Any] = {
        "approver": "bob",
        "workflow_id": "deploy:checkout:us-east-1",
        "step": "step 2 pause",
        "signed_at": NOW,
        "nonce": "n1",
    }
    return sign(key, SignedApproval.model_validate(fields | changes))


def _problem(
    approval: SignedApproval, step: str | None = "step 2 pause", used: tuple[str, ...] = ()
) -> str | None:
    return signed_problem(
        POLICY,
        approval,
        workflow_id="deploy:checkout:us-east-1",
        step=step,
        noun="step",
        starter="alice",
        now=NOW,
        used=used,
        verify=verify,
    )


def test_a_good_signed_approval_has_no_problem() -> None:
    assert _problem(_signed()) is None
    assert _problem(_signed(step="anything"), step=None) is None  # the approval names its step
    for seconds in (-MAX_AGE, MAX_AGE):  # the edges of freshness, both ways
        assert _problem(_signed(signed_at=NOW + timedelta(seconds=seconds))) is None


@pytest.mark.parametrize(
    ("approval", "used", "reason"),
    [
        (_signed(EVE, approver="eve"), (), "'eve' is not an approver of these policies"),
        (_signed(EVE), (), "the signature does not match bob's public key: approval refused"),
        (_signed().model_copy(update={"step": "step 4 pause"}), (), "the signature does not match bob's"),
        (_signed(workflow_id="deploy:checkout:eu-west-1"), (),
         "signed for deploy:checkout:eu-west-1, not for deploy:checkout:us-east-1"),
        (_signed(step="step 4 pause"), (), "signed for step step 4 pause, but step step 2 pause waits"),
        (_signed(), ("n0", "n1"), "this approval was already used (same nonce): replay refused"),
        (_signed(signed_at=NOW - timedelta(seconds=MAX_AGE + 1)), (), "stale: signed 301s from"),
        (_signed(signed_at=NOW + timedelta(minutes=10)), (), "stale: signed 600s from"),
        (_signed(ALICE, approver="alice"), (),
         "four-eyes rule: the approver must differ from the starter alice"),
    ],
    ids=["unknown", "wrong-key", "tampered", "other-operation", "other-step", "replay", "stale-past",
         "stale-future", "starter"],
)  # fmt: skip
def test_each_bad_signed_approval_is_refused_with_its_reason(
    approval: SignedApproval, used: tuple[str, ...], reason: str
) -> None:
    problem = _problem(approval, used=used)
    assert problem is not None and reason in problem


def test_no_approvers_are_named_as_none() -> None:
    problem = signed_problem(
        ApprovalPolicy(),
        _signed(),
        workflow_id="w",
        step=None,
        noun="x",
        starter="",
        now=NOW,
        used=(),
        verify=verify,
    )
    assert problem == "'bob' is not an approver of these policies (approvals.approvers: none)"


def test_unsigned_is_refused_only_when_required_and_the_starter_only_under_four_eyes() -> None:
    assert unsigned_problem(POLICY, "this deploy", "deploy promote") == (
        "this deploy requires a signed approval: globalops deploy promote signs with your key"
        " (--key or GLOBALOPS_APPROVER_KEY)"
    )
    assert unsigned_problem(ApprovalPolicy(), "this deploy", "deploy promote") is None
    assert approver_problem(POLICY, " Alice ", "alice") == (
        "four-eyes rule: the approver must differ from the starter alice"
    )
    assert approver_problem(POLICY, "bob", "alice") is None
    assert approver_problem(ApprovalPolicy(), "alice", "alice") is None  # no four eyes
    assert approver_problem(ApprovalPolicy(), "  ", "alice") == "approver must not be empty"


def test_remembered_nonces_keep_those_that_could_still_be_replayed_and_drop_the_stale() -> None:
    old = NOW - timedelta(seconds=MAX_AGE + 1)
    edge = NOW - timedelta(seconds=MAX_AGE)
    kept = remembered({"old": old, "edge": edge, "future": NOW + timedelta(minutes=4)}, _signed(), NOW)
    assert kept == {"edge": edge, "future": NOW + timedelta(minutes=4), "n1": NOW}
    # a naive time from an older wire is read as UTC
    assert remembered({"naive": edge.replace(tzinfo=None)}, _signed(), NOW) == {"naive": edge, "n1": NOW}
