"""Whether a rollout may change a region now: its change window, its reachability, freezes.

A region whose change window is closed (in its own time zone) waits until it opens; a region that
is down just before it is changed is not evidence about the release (DESIGN rule 10): it is held
(or skipped, or rolled back, per `unavailable_region`) while the other regions of its wave go on.
Held regions are resolved before the next wave: recovered or opened → deployed; skipped by an
operator (`rollout skip-region`) → left out (the rollout ends `partial`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.cloud_activities import CloudActivities
    from contracts.cloud import PreflightReport
    from contracts.rollout import PreflightInput, RolloutProgress, RolloutRequest, WavePlan

from workflows import patches
from workflows.failures import UNREACHABLE_TYPES, cause, cause_type
from workflows.logic.change import describe_opening, window_closed
from workflows.logic.planning import surge_instances
from workflows.retries import CLOUD_RETRY, call_timeout, heartbeat_timeout


class Refused(Exception):
    """The region cannot be changed and the policy says the rollout stops (rollback or failure)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Admission:
    """The rollout's held regions: why each waits, and what an operator asked to skip."""

    def __init__(
        self,
        req: RolloutRequest,
        progress: RolloutProgress,
        aborted: Callable[[], bool],
        show: Callable[[], None],
    ) -> None:
        self._req = req
        self._p = progress
        self._aborted = aborted
        self._show = show
        self.why: dict[str, str] = {}  # region -> why it is held now
        self._opens: dict[str, datetime] = {}  # region -> when its closed window opens
        self.skips: dict[str, str] = {}  # region -> who asked to skip it

    def skip(self, region: str, by: str) -> None:
        self.skips[region] = by

    async def admit(self, group: list[str], held: list[str]) -> list[str]:
        """The regions of `group` that may be changed now; the others are held (added to `held`),
        skipped, or stop the rollout (Refused), per policy."""
        answers = await asyncio.gather(*(self._hold_reason(name) for name in group))
        ready: list[str] = []
        for name, why in zip(group, answers, strict=True):
            if why is None:
                ready.append(name)
                continue
            unreachable = name not in self._opens
            policy = self._req.policies.unavailable_region
            if unreachable and policy == "rollback":
                self._p.region(name).status, self._p.region(name).detail = "failed", why
                raise Refused("rolled_back", f"{name}: {why}")
            if unreachable and policy == "skip":
                self._skipped(name, f"{why}; skipped by policy")
                continue
            self.why[name] = why
            held.append(name)
            self._p.region(name).status, self._p.region(name).detail = "waiting", why
        self._p.held = list(self.why)
        self._show()
        return ready

    async def resolve(
        self,
        wave: WavePlan,
        held: list[str],
        deploy: Callable[[list[str]], Awaitable[None]],
        pilot: bool = False,
    ) -> list[str]:
        """Wait until every held region may be changed (then deploy it) or was skipped.

        With `pilot`, the regions that became ready are returned instead of deployed (the pilot
        goes first, alone, and the caller deploys it).
        """
        ready: list[str] = []
        while held:
            self._p.phase = f"{wave.name}: waiting for {', '.join(held)} (or `rollout skip-region`)"
            self._show()
            with contextlib.suppress(TimeoutError):  # time to look again
                await workflow.wait_condition(
                    lambda: any(r in self.skips for r in held) or self._aborted(),
                    timeout=self._next_look(held),
                    timeout_summary=f"look again at {', '.join(held)}",
                )
            if self._aborted():
                return ready
            for name in [r for r in held if r in self.skips]:
                held.remove(name)
                self._skipped(name, f"{self.why.pop(name, 'held')}; skipped by {self.skips[name]}")
            answers = await asyncio.gather(*(self._hold_reason(name) for name in held))
            back: list[str] = []
            for name, why in zip(list(held), answers, strict=True):
                if why is None:
                    back.append(name)
                    held.remove(name)
                    self.why.pop(name, None)
                    self._p.region(name).status, self._p.region(name).detail = "ready", "may be changed now"
                else:
                    self.why[name] = why
                    self._p.region(name).detail = why
            self._p.held = list(self.why)
            if pilot:
                ready += back
            elif back:
                await deploy(back)
        return ready

    def _next_look(self, held: list[str]) -> timedelta:
        """The sooner of: the next reachability check, and the earliest closed window opening."""
        now = workflow.now()
        looks = [
            (self._opens[r] - now).total_seconds()
            if r in self._opens
            else self._req.policies.unavailable_recheck
            for r in held
        ]
        return timedelta(seconds=max(min(looks), 0.001))

    async def _hold_reason(self, name: str) -> str | None:
        """Why `name` may not be changed now: its change window is closed, or it is unreachable."""
        self._opens.pop(name, None)
        region = self._req.topology.region(name)
        opens = window_closed(workflow.now(), region.time_zone, name, self._req.policies.change_windows)
        if opens is not None:
            self._opens[name] = opens
            return f"change window closed until {describe_opening(opens, region.time_zone)}"
        if not workflow.patched(patches.RECHECK_REACHABILITY.id):
            return None
        why = await self._unreachable_why(name)
        return None if why is None else f"region unreachable: {why}"

    async def _unreachable_why(self, name: str) -> str | None:
        """None if the region answers; else why not (down, unavailable or throttled past quick retries).

        Asked through preflight, the question validate asked: `region_reachable` false, or an
        error that says the region's API is down, holds the region.
        """
        req = self._req
        region = req.topology.region(name)
        strategy = req.strategy or region.strategy or req.policies.strategy
        try:
            report: PreflightReport = await workflow.execute_activity_method(
                CloudActivities.preflight,
                PreflightInput(
                    service=req.service,
                    region=name,
                    provider=region.provider,
                    release=req.release,
                    surge_instances=surge_instances(
                        region.instances, strategy, req.policies.rolling.batch_size
                    ),
                ),
                task_queue=req.topology.task_queue_for(name),
                start_to_close_timeout=call_timeout(req.policies),
                heartbeat_timeout=heartbeat_timeout(req.policies),
                retry_policy=CLOUD_RETRY,  # throttling is not an outage: back off as long as any cloud call
                summary=f"{name}: reachable?",
            )
        except ActivityError as err:
            if cause_type(err) in UNREACHABLE_TYPES:
                return cause(err)
            raise Refused("failed", f"{name}: {cause(err)}") from err
        if not report.checks.get("region_reachable", True):
            return "; ".join(report.problems) or "not reachable"
        return None

    def _skipped(self, name: str, why: str) -> None:
        outcome = self._p.region(name)
        outcome.status, outcome.detail = "skipped", why
        if name not in self._p.skipped:
            self._p.skipped.append(name)
        self._p.held = list(self.why)
