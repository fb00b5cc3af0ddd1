"""Bounded polling of real systems for a state: the dev server runs on the real clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

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
