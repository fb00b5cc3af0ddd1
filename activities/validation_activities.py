"""Ask the user's validation hook about a restore and read the data watermark it answers.

The hook's URL is filled from the worker's environment and kept secret exactly as a webhook gate's
(activities/hook_activities.py `post_json`). A 2xx answer must be a JSON object holding an integer
at the dotted path `expect` (a JSON integer, or a string of decimal digits for watermarks beyond
JSON's safe integers); `read_watermark` returns it or why there is none. The workflow decides
(workflows/logic/dr.py `validation_problem`): no answer, a non-2xx answer or no watermark fails.
"""

from __future__ import annotations

import json

import structlog
from temporalio import activity

from activities.hook_activities import detail, post_json
from contracts.validation import ValidationAnswer, ValidationCall

__all__ = ["ANSWER_LIMIT", "read_watermark", "validate_restore"]

_log = structlog.get_logger("globalops.hook")

#: The most of an answer that is read (a watermark answer is small; a larger one is cut, and fails).
ANSWER_LIMIT = 64 * 1024


def read_watermark(raw: bytes, expect: str) -> int | str:
    """The integer at the dotted path `expect` of the JSON object `raw`, or why there is none."""
    try:
        value: object = json.loads(raw)
    except ValueError:
        return "the answer is not JSON"
    for name in expect.split("."):
        if not isinstance(value, dict) or name not in value:
            return f"the answer has no field {expect!r}"
        value = value[name]
    if isinstance(value, bool):
        return f"{expect!r} is not an integer: {json.dumps(value)}"
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return f"{expect!r} is not an integer: {json.dumps(value)[:40]}"


@activity.defn
def validate_restore(call: ValidationCall) -> ValidationAnswer:
    """POST the restore's details to the hook; its status and watermark, or a retryable error when no
    answer came (Temporal retries it `retries` times)."""
    status, raw, secrets = post_json(
        call.hook.url, "dr.validation hook", call.body(), call.key, call.hook.timeout, ANSWER_LIMIT
    )
    if not 200 <= status < 300:
        answer = ValidationAnswer(status=status, detail=detail(raw, secrets))
    else:
        found = read_watermark(raw, call.hook.expect)
        if isinstance(found, int):
            answer = ValidationAnswer(status=status, watermark=found)
        else:
            answer = ValidationAnswer(status=status, detail=f"{found}: {detail(raw, secrets)}")
    _log.info("validation hook answered", status=status, watermark=answer.watermark, key=call.key)
    return answer
