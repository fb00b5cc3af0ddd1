"""Send one event to one sink through Apprise (Slack, Teams, PagerDuty, e-mail, JSON webhooks, ...).

A failed send raises a retryable error and Temporal retries it (workflows/retries.py NOTIFY_RETRY);
there is no retry loop here. A retry after a lost completion sends the event again with the same id:
receivers drop ids they have seen. A `json://` or `jsons://` sink receives the event itself as JSON
in Apprise's `message` field; every other sink gets text for people whose last line is the event id.
"""

from __future__ import annotations

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.url_secrets import fill, hiding, redact
from contracts.notify import Event, SendInput

__all__ = ["render", "send_notification"]

_log = structlog.get_logger("globalops.notify")

#: Sinks that receive the event as JSON: machines that dedupe by `id`.
JSON_SCHEMES = ("json", "jsons")

_FAILURE_STATUSES = {"failed", "fail", "rolled_back", "rolled-back", "aborted"}
#: Apprise's notify types (apprise.NotifyType values) by event kind; the rest are "info".
_KIND_TYPES: dict[str, str] = {
    "succeeded": "success",
    "unfrozen": "success",
    "failover_done": "success",
    "failed": "failure",
    "rolled_back": "failure",
    "partial": "warning",
    "awaiting_approval": "warning",
    "awaiting_decision": "warning",
    "frozen": "warning",
    "failover_started": "warning",
}


def notify_type(event: Event) -> str:
    """How loud the sink should be: failures red, waits and freezes amber, good news green."""
    if event.status and event.status.lower() in _FAILURE_STATUSES:
        return "failure"
    return _KIND_TYPES.get(event.kind, "info")


def render(event: Event, scheme: str) -> tuple[str, str]:
    """(title, body) of the event for a sink of `scheme`; both name the event id somewhere."""
    if scheme.lower() in JSON_SCHEMES:
        return event.headline(), event.model_dump_json()
    return event.headline(), event.text()


@activity.defn
def send_notification(inp: SendInput) -> None:
    """Send `inp.event` to the sink `inp.url_template` (its ${NAME} filled from this worker's environment)."""
    import apprise  # here, not above: workflows name this activity, and must not load Apprise to do so

    template, event = inp.url_template, inp.event
    url, secrets = fill(template, "notification")
    with hiding(secrets):
        service = apprise.Apprise.instantiate(url)
        if service is None:
            raise ApplicationError(
                f"notification {template}: not a valid Apprise URL once its variables are filled in",
                type="BadSinkUrl",
                non_retryable=True,
            )
        sink = apprise.Apprise()
        sink.add(service)
        title, body = render(event, template.partition("://")[0])
        result = sink.notify(body=body, title=title, notify_type=apprise.NotifyType(notify_type(event)))
        why = "; ".join(entry.message for entry in result.logs()) if not result else ""
    if not result:
        raise ApplicationError(
            f"notification {template} failed: {redact(why, secrets) or 'the service refused it'}",
            type="NotificationFailed",
        )
    _log.info("notification sent", event_id=event.id, kind=event.kind, sink=template)
