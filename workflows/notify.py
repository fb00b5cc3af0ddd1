"""Notifications from any workflow: `await notify(policies, event)` and the NotifyWorkflow that sends it.

`notify` starts one NotifyWorkflow per event as an abandoned child and does not wait for it: a sink
that is slow or down never fails or delays the operation. The child's id comes from the event id
(`notify:<event id>`, never the run id) and duplicates are refused, so a retried or replayed start
sends nothing twice; a send whose completion was lost is retried with the same event id, which the
receiver drops. When no sink wants the event, `notify` does nothing at all: no command, no history
event, so a workflow whose policies have no notifications replays exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as CallTimedOut
from temporalio.workflow import ParentClosePolicy

from workflows.retries import NOTIFY_RETRY, NOTIFY_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from activities.notify_activities import send_notification
    from config.models import DeployPolicies
    from config.notify import EventName, Notification
    from contracts import ids
    from contracts.notify import Event, NotifyInput, NotifyResult, SendInput, SinkFailure, event_id

__all__ = ["Announcer", "NotifyWorkflow", "new_event", "notify", "wanted"]


def wanted(sinks: list[Notification], kind: str) -> list[int]:
    """Indexes of the sinks that receive events of `kind`."""
    return [i for i, sink in enumerate(sinks) if sink.wants(kind)]


def new_event(
    kind: EventName,
    *,
    operation_key: str,
    operation: str,
    service: str,
    message: str,
    step: str = "",
    release: str | None = None,
    region: str | None = None,
    status: str | None = None,
    web_ui_url: str | None = None,
) -> Event:
    """An event of the calling workflow, stamped with its id and `workflow.now()`.

    `operation_key` is the operation's idempotency prefix, workflow id + request id (the rollout's
    `f"{wid}/{req.request_id}"`); `step` tells apart events of one kind in one operation (a wave, a
    region). Same key, kind and step: same id, however often the workflow replays or retries.
    """
    return Event(
        id=event_id(operation_key, kind, step),
        kind=kind,
        operation=operation,
        workflow_id=workflow.info().workflow_id,
        service=service,
        release=release,
        region=region,
        status=status,
        message=message,
        at=workflow.now(),
        web_ui_url=web_ui_url,
    )


async def notify(policies: DeployPolicies, event: Event) -> None:
    """Hand `event` to the sinks that want it, without waiting for them (call from any workflow)."""
    if not wanted(policies.notifications, event.kind):
        return
    # Already started: this event was handed over before (a retried start), and is sent once.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            NotifyWorkflow.run,
            NotifyInput(event=event, sinks=policies.notifications),
            id=ids.notification_id(event.id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"notify {event.kind}: {event.service}",
        )


class Announcer:
    """The events of one operation, with ids from its key: `emit` hands one over without waiting.

    `emit` may be called where no await is possible (a display callback): it starts a task, and
    `flush` waits until every event so far has been handed over (call it before the workflow returns).
    An event no sink wants makes no command, so operations without notifications replay unchanged.
    """

    def __init__(
        self, policies: DeployPolicies, *, operation: str, service: str, key: str, release: str | None
    ) -> None:
        self._policies = policies
        self._operation = operation
        self._service = service
        self._key = key
        self._release = release
        self._pending: list[asyncio.Task[None]] = []

    def emit(
        self,
        kind: EventName,
        message: str,
        *,
        step: str = "",
        region: str | None = None,
        status: str | None = None,
    ) -> None:
        """Announce `kind` (once per key, kind and step, however often the workflow replays)."""
        if not wanted(self._policies.notifications, kind):
            return
        event = new_event(
            kind,
            operation_key=self._key,
            operation=self._operation,
            service=self._service,
            message=message,
            step=step,
            release=self._release,
            region=region,
            status=status,
        )
        self._pending.append(asyncio.create_task(notify(self._policies, event)))

    async def flush(self) -> None:
        """Wait until every event emitted so far is handed over (never for its delivery)."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


@workflow.defn(name="NotifyWorkflow")
class NotifyWorkflow:
    """Send one event to each sink that wants it, each on its own: one sink giving up stops no other.

    The workflow succeeds even when sinks gave up after their retries; its result names them.
    """

    @workflow.run
    async def run(self, inp: NotifyInput) -> NotifyResult:
        targets = wanted(inp.sinks, inp.event.kind)
        outcomes = await asyncio.gather(*(self._send(inp.event, inp.sinks[i]) for i in targets))
        result = NotifyResult(event_id=inp.event.id)
        for index, error in zip(targets, outcomes, strict=True):
            if error is None:
                result.sent.append(index)
            else:
                result.failed.append(SinkFailure(index=index, url=inp.sinks[index].url, error=error))
        if result.failed:
            workflow.logger.warning(
                "notification %s: %d sink(s) gave up: %s",
                inp.event.id,
                len(result.failed),
                "; ".join(f"notifications[{f.index}] {f.url}: {f.error}" for f in result.failed),
            )
        return result

    async def _send(self, event: Event, sink: Notification) -> str | None:
        """None when the sink took the event, else why it gave up."""
        try:
            await workflow.execute_activity(
                send_notification,
                SendInput(event=event, url_template=sink.url),
                start_to_close_timeout=NOTIFY_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=sink.give_up_after),
                retry_policy=NOTIFY_RETRY,
                summary=f"{event.kind} → {sink.url.partition('://')[0]}",
            )
        except ActivityError as failed:
            cause = failed.cause
            if isinstance(cause, CallTimedOut):  # give_up_after passed: say what the last attempt met
                last = cause.cause
                why = last.message if isinstance(last, ApplicationError) else "no attempt finished"
                return f"gave up after {sink.give_up_after:g}s: {why}"
            return cause.message if isinstance(cause, ApplicationError) else str(cause or failed)
        return None
