"""What crosses the boundary for notifications and webhook gates: events, sends, hook calls and answers.

URLs travel only as templates (`${NAME}` for a worker environment variable): the worker fills them
in, so no secret is ever in a workflow input, a result or a history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from config.notify import EventName, Hook, HookStage, Notification
from contracts.wire import WireModel

__all__ = [
    "Event",
    "HookAnswer",
    "HookCall",
    "HookContext",
    "NotifyInput",
    "NotifyResult",
    "SendInput",
    "SinkFailure",
    "event_id",
]


def event_id(operation_key: str, kind: EventName, step: str = "") -> str:
    """The stable id of an event: the operation's key (workflow id + request id, never the run id),
    the event and, for an event that happens more than once, the step that tells them apart.

    `event_id("rollout:checkout/f89f68dbb6a0", "awaiting_approval", "wave-core")` is
    `rollout:checkout/f89f68dbb6a0/awaiting_approval/wave-core`. A retried or replayed send carries
    the same id, so a receiver that drops ids it has seen gets each event once.
    """
    return f"{operation_key}/{kind}/{step}" if step else f"{operation_key}/{kind}"


class Event(WireModel):
    """One thing that happened to an operation, as every sink receives it."""

    id: str = Field(description="stable id (event_id): a receiver drops one it has seen")
    kind: EventName
    operation: str = Field(description="rollout, deploy, failover, failback, drill, recovery, backup, ...")
    workflow_id: str
    service: str
    release: str | None = None
    region: str | None = None
    status: str | None = None
    message: str
    at: datetime
    web_ui_url: str | None = None

    def headline(self) -> str:
        """One line for a chat title or an e-mail subject."""
        what = " ".join(p for p in (self.service, self.release) if p)
        where = f" in {self.region}" if self.region else ""
        return f"globalops {self.operation} {self.kind.replace('_', ' ')}: {what}{where}"

    def text(self) -> str:
        """The body for people (chat, e-mail, PagerDuty); its last line carries the event id."""
        facts = [
            f"{name} {value}"
            for name, value in (
                ("service", self.service),
                ("release", self.release),
                ("region", self.region),
                ("status", self.status),
            )
            if value
        ]
        lines = [self.message, " · ".join(facts), f"workflow {self.workflow_id}"]
        if self.web_ui_url:
            lines.append(self.web_ui_url)
        lines.append(f"event {self.id}")
        return "\n".join(lines)


class SendInput(WireModel):
    """One event to one sink (the activity send_notification)."""

    event: Event
    url_template: str = Field(description="the sink's Apprise URL with ${NAME} unfilled")


class NotifyInput(WireModel):
    """The input of NotifyWorkflow: one event and every configured sink (those wanting it are sent to)."""

    event: Event
    sinks: list[Notification]


class SinkFailure(WireModel):
    """A sink that gave up after its retries."""

    index: int = Field(description="its position in policies.notifications")
    url: str = Field(description="its URL template (never filled in)")
    error: str


class NotifyResult(WireModel):
    """What NotifyWorkflow did: it succeeds even when some sinks gave up."""

    event_id: str
    sent: list[int] = Field(default_factory=list, description="indexes of the sinks that took the event")
    failed: list[SinkFailure] = Field(default_factory=list)


class HookContext(WireModel):
    """What a gate knows about the step it guards; `key` is the step's idempotency key prefix."""

    operation: str
    workflow_id: str
    service: str
    release: str | None = None
    region: str | None = None
    step: str
    key: str = Field(description="workflow id + request id (+ region and step), never the run id")


class HookCall(WireModel):
    """One hook of a stage, asked about one step (the activity call_hook)."""

    hook: Hook
    stage: HookStage
    index: int = Field(description="the hook's position in its stage's list")
    context: HookContext

    @property
    def key(self) -> str:
        """The idempotency key the hook receives (body and Idempotency-Key header)."""
        return f"{self.context.key}/{self.stage}[{self.index}]"

    @property
    def name(self) -> str:
        """How reasons name the hook: stage, position and URL template (never filled in)."""
        return f"hook {self.stage}[{self.index}] {self.hook.url}"

    def body(self) -> dict[str, Any]:
        """The JSON the hook receives."""
        ctx = self.context
        return {
            "stage": self.stage,
            "operation": ctx.operation,
            "workflow_id": ctx.workflow_id,
            "service": ctx.service,
            "release": ctx.release,
            "region": ctx.region,
            "step": ctx.step,
            "key": self.key,
        }


class HookAnswer(WireModel):
    """The hook's answer: 2xx passes; anything else fails the gate with status and detail."""

    ok: bool
    status: int | None = None
    detail: str = ""
