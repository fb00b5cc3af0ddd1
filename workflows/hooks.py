"""Webhook gates: `reason = await run_hooks(policies, stage, context)` from any workflow.

The hooks of a stage are asked in order; the first that says no (a non-2xx answer) or never answers
(timeouts or connection errors on every one of its `retries + 1` attempts) fails the gate, and the
reason names the hook by stage, position and URL template (never filled in) and gives its answer.
The caller treats a reason like a failed health gate (rolled back per policy). A stage without hooks
makes no command at all, so existing histories replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as CallTimedOut

from workflows.retries import HOOK_MARGIN, hook_retry

with workflow.unsafe.imports_passed_through():
    from activities.hook_activities import call_hook
    from config.models import DeployPolicies
    from config.notify import HookStage
    from contracts.notify import HookAnswer, HookCall, HookContext

__all__ = ["answer_reason", "no_answer_reason", "run_hooks"]


def answer_reason(call: HookCall, answer: HookAnswer) -> str:
    """Why a hook's answer fails the gate: `hook pre_region[0] https://…: HTTP 503: maintenance`."""
    detail = f": {answer.detail}" if answer.detail else ""
    return f"{call.name}: HTTP {answer.status}{detail}"


async def run_hooks(
    policies: DeployPolicies, stage: HookStage, context: HookContext, task_queue: str | None = None
) -> str | None:
    """Ask each hook of `stage` about the step in `context`; None when all passed, else the reason.

    Activities go to `task_queue` (None: the workflow's own queue): the workers whose environment
    holds the hooks' secrets.
    """
    for index, hook in enumerate(policies.hooks.at(stage)):
        call = HookCall(hook=hook, stage=stage, index=index, context=context)
        try:
            answer = await workflow.execute_activity(
                call_hook,
                call,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=hook.timeout) + HOOK_MARGIN,
                retry_policy=hook_retry(hook.retries),
                summary=f"{stage}[{index}] {context.step}",
            )
        except ActivityError as failed:
            return _no_answer(call, failed)
        if not answer.ok:
            return answer_reason(call, answer)
    return None


def _no_answer(call: HookCall, failed: ActivityError) -> str:
    """Why a hook that never answered fails the gate (its last attempt's error, and how many were made)."""
    return no_answer_reason(call.name, call.hook.retries, failed)


def no_answer_reason(name: str, retries: int, failed: ActivityError) -> str:
    """Why the hook `name` never answered: its last attempt's error, and how many attempts were made."""
    cause = failed.cause
    if isinstance(cause, ApplicationError) and cause.type == "MissingSecret":
        return cause.message  # names the hook and the variable; no attempt could help
    if isinstance(cause, CallTimedOut):
        why = "the call timed out"
    elif isinstance(cause, ApplicationError):
        why = cause.message
    else:
        why = str(cause or failed)
    attempts = retries + 1
    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
    return f"{name}: {why} (after {tries})"
