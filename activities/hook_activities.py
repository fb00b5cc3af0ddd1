"""Ask a webhook gate: POST the step's JSON to the hook and report its answer.

Any HTTP answer is the hook's verdict (2xx passes, anything else fails the gate with its status and
up to 200 characters of its body) and is returned, not retried. No answer (a timeout, a refused or
reset connection) raises a retryable error: Temporal makes `retries` more attempts
(workflows/retries.py hook_retry), and the workflow turns the last failure into a failed gate.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.url_secrets import fill, hiding, redact
from contracts.notify import HookAnswer, HookCall

__all__ = ["DETAIL_CHARS", "call_hook", "detail", "post_json"]

_log = structlog.get_logger("globalops.hook")

#: How much of a refusing hook's body the reason quotes.
DETAIL_CHARS = 200


def detail(raw: bytes, secrets: list[str]) -> str:
    """Up to DETAIL_CHARS of an answer's body, on one line, its secrets masked."""
    text = " ".join(raw[: DETAIL_CHARS * 4].decode("utf-8", errors="replace").split())
    text = redact(text, secrets)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def post_json(
    template: str, what: str, body: dict[str, Any], key: str, timeout: float, limit: int
) -> tuple[int, bytes, list[str]]:
    """POST `body` to the URL template filled from the environment: (status, up to `limit` bytes of
    the answer, the secret values to redact). Any HTTP answer is returned; none raises a retryable
    HookUnreachable error whose message never holds a secret."""
    url, secrets = fill(template, what)
    request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s) by config.notify
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": "globalops",
        },
    )
    try:
        with hiding(secrets), urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(limit), secrets
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(limit), secrets
    except (OSError, http.client.HTTPException) as lost:  # URLError, timeouts, refused or reset connections
        reason = lost.reason if isinstance(lost, urllib.error.URLError) else lost
        if isinstance(reason, TimeoutError):
            why = f"no answer within {timeout:g}s"
        else:
            why = f"no answer: {redact(str(reason), secrets)}"
        raise ApplicationError(why, type="HookUnreachable") from None


@activity.defn
def call_hook(call: HookCall) -> HookAnswer:
    """POST the step to the hook; its answer as a HookAnswer, or a retryable error when none came."""
    status, raw, secrets = post_json(
        call.hook.url,
        f"hook {call.stage}[{call.index}]",
        call.body(),
        call.key,
        call.hook.timeout,
        DETAIL_CHARS * 4,
    )
    answer = HookAnswer(ok=200 <= status < 300, status=status, detail=detail(raw, secrets))
    _log.info("hook answered", hook=call.name, status=status, ok=answer.ok)
    return answer
