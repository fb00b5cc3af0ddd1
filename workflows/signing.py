"""The validators' side of signed approvals: the shared check run with the workflow's own id and time.

Every operation that takes an approval (rollout approve, promote, failover approve, freeze end)
calls these from its update validators, so one verifier decides for all of them.
"""

from __future__ import annotations

from collections.abc import Collection

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from config.models import ApprovalPolicy
    from contracts import approvals as signed

from workflows.logic.approvals import approver_problem, signed_problem, unsigned_problem


def verify(public_key: str, approval: signed.SignedApproval) -> bool:
    """contracts.approvals.verify, with imports passed through.

    A bad signature makes cryptography's Rust code raise InvalidSignature; called with the
    sandbox's importer in place that aborted the worker process (tests/workflows/
    test_signed_approvals.py), so the check runs with imports passed through.
    """
    with workflow.unsafe.imports_passed_through():
        return signed.verify(public_key, approval)


def check_signed(
    policy: ApprovalPolicy,
    approval: signed.SignedApproval,
    *,
    step: str | None,
    noun: str,
    starter: str,
    used: Collection[str],
) -> None:
    """Refuse (ValueError, its reason) a signed approval that is not good for this workflow now."""
    problem = signed_problem(
        policy,
        approval,
        workflow_id=workflow.info().workflow_id,
        step=step,
        noun=noun,
        starter=starter,
        now=workflow.now(),
        used=used,
        verify=verify,
    )
    if problem is not None:
        raise ValueError(problem)


def check_unsigned(
    policy: ApprovalPolicy, approver: str, starter: str, *, operation: str, command: str
) -> None:
    """Refuse an unsigned approval when signatures are required, or when the approver may not approve."""
    problem = unsigned_problem(policy, operation, command) or approver_problem(policy, approver, starter)
    if problem is not None:
        raise ValueError(problem)
