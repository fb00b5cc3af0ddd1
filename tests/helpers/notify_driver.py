"""A test-only workflow that does what an operation does with notifications and webhook gates.

It announces `started`, asks the hooks of one stage, then announces `succeeded` or `failed` with the
gate's reason, through the same `notify` and `run_hooks` the real workflows call.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.hooks import run_hooks
from workflows.notify import new_event, notify

with workflow.unsafe.imports_passed_through():
    from config.models import Policies
    from config.notify import EventName, HookStage
    from contracts.notify import HookContext
    from contracts.wire import WireModel


class DriverInput(WireModel):
    policies: Policies
    operation_key: str
    service: str = "checkout"
    release: str = "2.0.0"
    region: str = "eu-west-1"
    stage: HookStage = "pre_region"


class DriverResult(WireModel):
    reason: str | None
    event_ids: list[str]


@workflow.defn(name="NotifyDriverWorkflow")
class NotifyDriverWorkflow:
    """started → the stage's hooks → succeeded, or failed with the gate's reason."""

    @workflow.run
    async def run(self, inp: DriverInput) -> DriverResult:
        sent: list[str] = []

        async def announce(kind: EventName, message: str, status: str | None = None) -> None:
            event = new_event(
                kind,
                operation_key=inp.operation_key,
                operation="rollout",
                service=inp.service,
                release=inp.release,
                region=inp.region,
                status=status,
                message=message,
            )
            await notify(inp.policies, event)
            sent.append(event.id)

        await announce("started", f"rollout of {inp.service} {inp.release} started")
        context = HookContext(
            operation="rollout",
            workflow_id=workflow.info().workflow_id,
            service=inp.service,
            release=inp.release,
            region=inp.region,
            step="before-change",
            key=f"{inp.operation_key}/{inp.region}",
        )
        reason = await run_hooks(inp.policies, inp.stage, context)
        if reason is None:
            await announce("succeeded", f"rollout of {inp.service} {inp.release} succeeded", "succeeded")
        else:
            await announce("failed", reason, "failed")
        return DriverResult(reason=reason, event_ids=sent)
