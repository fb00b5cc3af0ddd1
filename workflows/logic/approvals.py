"""Whether an approval may be taken: the one check behind every operation's approve/promote/end validator.

Pure functions of their arguments (the workflow passes its id, `workflow.now()`, the nonces it has
seen and how to verify a signature), so `rollout approve`, `promote`, `failover approve` and
`freeze end` refuse the same things with the same words, and unit tests call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.models import ApprovalPolicy
    from contracts.approvals import MAX_AGE, SignedApproval, utc

#: Checks `approval`'s signature against a public key (base64): contracts.approvals.verify.
Verify = Callable[[str, SignedApproval], bool]


def unsigned_problem(policy: ApprovalPolicy, operation: str, command: str) -> str | None:
    """Why an unsigned approval (the Web UI's, or a CLI without a key) is refused; None: it may go on."""
    if policy.require_signature:
        return (
            f"{operation} requires a signed approval: globalops {command} signs with your key"
            " (--key or GLOBALOPS_APPROVER_KEY)"
        )
    return None


def approver_problem(policy: ApprovalPolicy, approver: str, starter: str) -> str | None:
    """Why `approver` may not approve what `starter` started (empty name, four eyes); None: they may."""
    if not approver.strip():
        return "approver must not be empty"
    same = approver.strip().casefold() == starter.strip().casefold()
    if policy.four_eyes and same:
        return f"four-eyes rule: the approver must differ from the starter {starter}"
    return None


def signed_problem(
    policy: ApprovalPolicy,
    approval: SignedApproval,
    *,
    workflow_id: str,
    step: str | None,
    noun: str,
    starter: str,
    now: datetime,
    used: Collection[str],
    verify: Verify,
) -> str | None:
    """Why a signed approval is refused, in the order a reader would ask; None: it is good.

    `step` is what waits for approval (None: the approval names it, e.g. the freeze it ends, and the
    caller has checked that it exists); `noun` names it in the reason ("wave", "step").
    """
    approver = policy.approver(approval.approver)
    if approver is None:
        known = ", ".join(a.name for a in policy.approvers) or "none"
        return f"{approval.approver!r} is not an approver of these policies (approvals.approvers: {known})"
    if not verify(approver.public_key, approval):
        return f"the signature does not match {approver.name}'s public key: approval refused"
    if approval.workflow_id != workflow_id:
        return f"this approval was signed for {approval.workflow_id}, not for {workflow_id}"
    if step is not None and approval.step != step:
        return f"this approval was signed for {noun} {approval.step}, but {noun} {step} waits"
    if approval.nonce in used:
        return "this approval was already used (same nonce): replay refused"
    age = abs((now - utc(approval.signed_at)).total_seconds())
    if age > MAX_AGE:
        return (
            f"this approval is stale: signed {age:.0f}s from the workflow's time"
            f" (at most {MAX_AGE:.0f}s); sign it again"
        )
    return approver_problem(policy, approval.approver, starter)


def remembered(used: Mapping[str, datetime], approval: SignedApproval, now: datetime) -> dict[str, datetime]:
    """The nonces a long-running workflow keeps: `approval`'s added, those that could only be stale dropped.

    A nonce signed more than MAX_AGE before `now` is refused as stale anyway, so it need not be kept
    (the freeze registry and the monitor carry this across continue-as-new, bounded).
    """
    horizon = now - timedelta(seconds=MAX_AGE)
    kept = {nonce: utc(at) for nonce, at in used.items() if utc(at) >= horizon}
    kept[approval.nonce] = utc(approval.signed_at)
    return kept
