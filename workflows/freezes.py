"""The freeze registry: "stop the line" for every rollout, deploy and drill at once, durable and fast.

One workflow per namespace (id `freezes`) holds every freeze. Operations register when they start
(a signal) and the registry tells each running one about every change (a signal back), so a freeze
takes effect at the operation's next safe point within seconds, survives worker and server
restarts (it is workflow state), and ends by itself at its `until`. Operations it never heard
from (started before the registry existed) are found through visibility when a freeze changes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.freeze_activities import FreezeActivities
    from contracts import approvals as signed
    from contracts.change import Freeze, FreezeEnd, FreezeRequest, FreezeSet, OperationRef, RegistryState

from workflows.freeze_api import FreezeRegistryApi, tell
from workflows.logic.approvals import remembered
from workflows.logic.change import in_force, next_change
from workflows.retries import READ_RETRY
from workflows.signing import check_signed, check_unsigned

#: Ended freezes kept for `freeze list` (the newest).
KEEP_ENDED = 50
#: Continue as new past this history length (the registry runs for as long as the namespace).
HISTORY_BOUND = 2000


@workflow.defn(name="FreezeRegistryWorkflow")
class FreezeRegistryWorkflow(FreezeRegistryApi):
    """Every freeze of the namespace, and the running operations to tell when one starts or ends."""

    @workflow.init
    def __init__(self, state: RegistryState) -> None:
        self._s = state
        self._pending: dict[str, str] = {}  # workflow id -> kind, to tell about the current set
        self._changed = False

    # ----- messages ----------------------------------------------------------------------------

    @workflow.update
    def start_freeze(self, req: FreezeRequest) -> Freeze:
        """Record a freeze and tell every covered running operation (at its next safe point it stops)."""
        freeze = Freeze(
            id=f"frz-{self._s.next_id}",
            reason=req.reason,
            services=req.services,
            regions=req.regions,
            all=req.all,
            started_by=req.by,
            started_at=workflow.now(),
            until=req.until,
            approvals=req.approvals,
        )
        self._s.next_id += 1
        self._s.freezes.insert(0, freeze)
        self._touch()
        return freeze

    @start_freeze.validator
    def _check_start(self, req: FreezeRequest) -> None:
        if req.until is not None and req.until <= workflow.now():
            raise ValueError(
                f"--until: {req.until.isoformat()} is not in the future:"
                " the freeze would end before it starts"
            )

    @workflow.update
    def end_freeze(self, req: FreezeEnd) -> Freeze:
        """End a freeze now; operations it held go on by themselves."""
        return self._end(req.id, req.by)

    def _end(self, freeze_id: str, by: str) -> Freeze:
        freeze = self._find(freeze_id)
        ended = freeze.model_copy(update={"ended_by": by, "ended_at": workflow.now()})
        self._replace(ended)
        self._touch()
        return ended

    @end_freeze.validator
    def _check_end(self, req: FreezeEnd) -> None:
        freeze = self._in_force(req.id)
        check_unsigned(
            freeze.approvals, req.by, freeze.started_by, operation=f"freeze '{req.id}'", command="freeze end"
        )

    def _in_force(self, freeze_id: str) -> Freeze:
        freeze = next((f for f in self._s.freezes if f.id == freeze_id), None)
        if freeze is None:
            raise ValueError(f"no freeze '{freeze_id}' (see `globalops freeze list`)")
        if not in_force(freeze, workflow.now()):
            raise ValueError(f"freeze '{freeze_id}' has already ended")
        return freeze

    @workflow.update
    def end_freeze_signed(self, approval: signed.SignedApproval) -> Freeze:
        """End the freeze the approval names (its step), with the approver's signature."""
        self._s.nonces = remembered(self._s.nonces, approval, workflow.now())
        return self._end(approval.step, approval.approver)

    @end_freeze_signed.validator
    def _check_end_signed(self, approval: signed.SignedApproval) -> None:
        freeze = self._in_force(approval.step)
        check_signed(
            freeze.approvals,
            approval,
            step=None,
            noun="freeze",
            starter=freeze.started_by,
            used=self._s.nonces,
        )

    @workflow.query
    def listing(self) -> list[Freeze]:
        """Active freezes first (newest first), then the ended ones kept."""
        now = workflow.now()
        return sorted(self._s.freezes, key=lambda f: (not in_force(f, now), -f.started_at.timestamp()))

    def _register(self, op: OperationRef) -> None:
        self._s.operations[op.workflow_id] = op.kind
        self._pending[op.workflow_id] = op.kind

    def _unregister(self, workflow_id: str) -> None:
        self._s.operations.pop(workflow_id, None)
        self._pending.pop(workflow_id, None)

    # ----- the run -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: RegistryState) -> None:
        """Tell operations about changes, end freezes at their `until`; continue as new when long."""
        while True:
            now = workflow.now()
            expiry = next_change(self._s.freezes, now)
            timeout = (expiry - now).total_seconds() if expiry is not None else None
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending) or self._changed,
                    timeout=timedelta(seconds=max(timeout, 0.001)) if timeout is not None else None,
                    timeout_summary="a freeze ends by its --until",
                )
            except TimeoutError:
                self._expire()
            if self._changed:
                self._changed = False
                await self._discover()
                self._pending |= dict(self._s.operations)
            await self._broadcast()
            self._trim()
            if workflow.info().get_current_history_length() > HISTORY_BOUND and not self._pending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._s)

    async def _discover(self) -> None:
        """Running operations that never registered (started before this registry): visibility."""
        try:
            found: list[OperationRef] = await workflow.execute_activity_method(
                FreezeActivities.running_operations,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=READ_RETRY,
                summary="running rollouts, deploys, drills and emergencies",
            )
        except ActivityError:
            return  # visibility unavailable: registered operations are still told
        for op in found:
            self._s.operations.setdefault(op.workflow_id, op.kind)

    async def _broadcast(self) -> None:
        """Send the current set to each pending operation; one that has ended is forgotten."""
        pending, self._pending = self._pending, {}
        now = workflow.now()
        current = FreezeSet(freezes=[f for f in self._s.freezes if in_force(f, now)], version=self._s.version)
        sent = await asyncio.gather(*(tell(wid, current) for wid in pending), return_exceptions=True)
        for wid, result in zip(pending, sent, strict=True):
            if isinstance(result, BaseException):
                self._s.operations.pop(wid, None)

    def _expire(self) -> None:
        now = workflow.now()
        for freeze in list(self._s.freezes):
            if freeze.ended_at is None and freeze.until is not None and freeze.until <= now:
                self._replace(freeze.model_copy(update={"ended_by": "expiry (--until)", "ended_at": now}))
                self._touch()

    def _touch(self) -> None:
        self._s.version += 1
        self._changed = True

    def _trim(self) -> None:
        now = workflow.now()
        active = [f for f in self._s.freezes if in_force(f, now) or f.ended_at is None]
        ended = [f for f in self._s.freezes if f not in active][:KEEP_ENDED]
        self._s.freezes = active + ended

    def _find(self, freeze_id: str) -> Freeze:
        return next(f for f in self._s.freezes if f.id == freeze_id)

    def _replace(self, freeze: Freeze) -> None:
        self._s.freezes = [freeze if f.id == freeze.id else f for f in self._s.freezes]
