"""Ask the user's validation hook about a restore, from a workflow: `await ask_validation(call, queue)`.

The hook gets `timeout` per attempt and `retries` more attempts when it does not answer; an answer
is never retried. What passes is decided by workflows/logic/dr.py `validation_problem`; a hook that
never answered fails closed, named by its URL template (never filled in).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.hooks import no_answer_reason
from workflows.logic.dr import validation_problem
from workflows.retries import HOOK_MARGIN, hook_retry

with workflow.unsafe.imports_passed_through():
    from activities.validation_activities import validate_restore
    from contracts.validation import ValidationAnswer, ValidationCall

__all__ = ["ask_validation"]


async def ask_validation(call: ValidationCall, task_queue: str | None) -> tuple[int | None, str | None]:
    """(the watermark the hook answered, None if none), (why the restore fails validation, None: passes)."""
    try:
        answer: ValidationAnswer = await workflow.execute_activity(
            validate_restore,
            call,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=call.hook.timeout) + HOOK_MARGIN,
            retry_policy=hook_retry(call.hook.retries),
            summary=f"{call.region}: validate restore of {call.snapshot_id}",
        )
    except ActivityError as failed:
        return None, no_answer_reason(call.name, call.hook.retries, failed)
    problem = validation_problem(answer, call.snapshot_watermark)
    return answer.watermark, f"{call.name}: {problem}" if problem else None
