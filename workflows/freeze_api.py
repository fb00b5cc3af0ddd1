"""How operations and the freeze registry talk: register, be told, and wait at a safe point while frozen.

Every rollout, deploy and drill (and failover, failback and recovery, which only a freeze with `all`
holds) registers with the registry when it starts and is told the active freezes whenever they
change. At its safe points it asks `FreezeWatch.wait` and waits while a freeze in force covers it:
changing nothing, showing the reason, going on by itself when the freeze ends or its `until` passes.

The messages live on two small base classes, so neither side imports the other's workflow module:
the registry signals any operation through `FreezeAware.freezes_changed`, and operations signal the
registry through `FreezeRegistryApi.register` / `unregister` (by method reference, as ever).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import ids
    from contracts.change import Freeze, FreezeSet, OperationRef

from workflows.logic.change import holding, next_change


class FreezeAware:
    """Base of every workflow a freeze can hold: the signal the registry sends it."""

    @workflow.signal
    async def freezes_changed(self, freezes: FreezeSet) -> None:
        """The registry's current set of active freezes."""
        await self._freezes_changed(freezes)

    async def _freezes_changed(self, freezes: FreezeSet) -> None:
        raise NotImplementedError


class FreezeRegistryApi:
    """Base of the registry workflow: the signals operations send it."""

    @workflow.signal
    def register(self, op: OperationRef) -> None:
        """An operation started: it is told the current freezes now and about every change later."""
        self._register(op)

    @workflow.signal
    def unregister(self, workflow_id: str) -> None:
        """An operation ended."""
        self._unregister(workflow_id)

    def _register(self, op: OperationRef) -> None:
        raise NotImplementedError

    def _unregister(self, workflow_id: str) -> None:
        raise NotImplementedError


async def tell(workflow_id: str, freezes: FreezeSet) -> None:
    """Send the active freezes to one running operation (an error: it has ended)."""
    handle = workflow.get_external_workflow_handle(workflow_id)
    await handle.signal(FreezeAware.freezes_changed, freezes)


class FreezeWatch:
    """An operation's view of the freezes: registered once, updated by the registry's signals."""

    def __init__(self, kind: str, service: str = "") -> None:
        self.kind = kind
        self.service = service
        self._set = FreezeSet()
        self._heard = False

    def changed(self, freezes: FreezeSet) -> bool:
        """Take a newer set from the registry (an older one, delivered late, is ignored)."""
        self._heard = True
        if freezes.version < self._set.version:
            return False
        self._set = freezes
        return True

    @property
    def current(self) -> FreezeSet:
        return self._set

    async def register(self, answer_within: float = 0.0) -> None:
        """Tell the registry this operation runs; no registry yet means no freeze yet.

        With `answer_within`, wait up to that many seconds for the registry's answer (the current
        freezes) when it exists, for an operation whose first safe point comes at once.
        """
        op = OperationRef(workflow_id=workflow.info().workflow_id, kind=self.kind)
        if await self._signal_registry(op) and answer_within > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._heard,
                    timeout=timedelta(seconds=answer_within),
                    timeout_summary="the freeze registry's answer",
                )

    async def unregister(self) -> None:
        await self._signal_registry(None)

    def hold(self, regions: Sequence[str]) -> list[Freeze]:
        """The freezes in force that cover this operation on `regions` now."""
        return holding(self._set.freezes, workflow.now(), self.kind, self.service, regions)

    async def wait(
        self,
        regions: Sequence[str],
        show: Callable[[list[Freeze]], None],
        stop: Callable[[], bool] = lambda: False,
    ) -> bool:
        """At a safe point: wait while frozen (calling `show` with what holds it); True if it waited.

        Returns as soon as no freeze in force covers `regions`, or `stop()` (an abort) is true.
        """
        waited = False
        while (held := self.hold(regions)) and not stop():
            waited = True
            show(held)
            until = next_change(self._set.freezes, workflow.now())
            timeout = (until - workflow.now()).total_seconds() if until is not None else None
            with contextlib.suppress(TimeoutError):  # a freeze's --until passed: look again
                await workflow.wait_condition(
                    functools.partial(self._moved, self._set.version, stop),
                    timeout=timedelta(seconds=max(timeout, 0.001)) if timeout is not None else None,
                    timeout_summary="frozen: until the freeze ends",
                )
        return waited

    def _moved(self, seen: int, stop: Callable[[], bool]) -> bool:
        return self._set.version != seen or stop()

    async def _signal_registry(self, op: OperationRef | None) -> bool:
        handle = workflow.get_external_workflow_handle(ids.FREEZE_REGISTRY_ID)
        try:
            if op is None:
                await handle.signal(FreezeRegistryApi.unregister, workflow.info().workflow_id)
            else:
                await handle.signal(FreezeRegistryApi.register, op)
        except Exception:  # noqa: BLE001 - no registry: nobody has frozen anything yet
            return False
        return True


def freeze_text(held: Sequence[Freeze]) -> str:
    """ "frozen by frz-3 (release freeze for the sale, by alice)": what a frozen operation shows."""
    return "frozen by " + "; ".join(f"{f.id} ({f.reason}, by {f.started_by})" for f in held)
