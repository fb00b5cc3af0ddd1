"""Bounded polling of real systems for a state: the dev server runs on the real clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from contracts.rollout import RolloutProgress

T = TypeVar("T")
POLL_S = 0.03


async def poll(check: Callable[[], T | None], what: str, limit_s: float = 120) -> T:
    """Poll a real system for a state, bounded: the dev server runs on the real clock."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {limit_s:g}s waiting for {what}")


async def apoll(check: Callable[[], Awaitable[T | None]], what: str, limit_s: float = 120) -> T:
    """`poll` for an async check."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"timed out after {limit_s:g}s waiting for {what}")


async def rollout_until(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[Any, RolloutProgress],
    predicate: Callable[[RolloutProgress], bool],
    *,
    step: float = 60,
    live: tuple[str, ...] | None = ("running",),
    rounds: int = 3000,
) -> RolloutProgress:
    """Query a rollout's progress until `predicate` holds, moving the test server's clock `step` seconds
    at a time; stepping (not skipping to the next timer) keeps far-off timers such as a 24 h approval
    deadline from firing early. With `live`, a rollout whose status leaves those values fails the wait."""
    progress: RolloutProgress | None = None
    for _ in range(rounds):
        progress = await handle.query("progress", result_type=RolloutProgress)
        if predicate(progress):
            return progress
        if live is not None and progress.status not in live:
            raise AssertionError(f"the rollout ended {progress.status}: {progress.reason}")
        await env.sleep(step)
    seen = f"{progress.status} {progress.phase}" if progress else "nothing"
    raise AssertionError(f"the rollout never reached the expected state (last: {seen})")
