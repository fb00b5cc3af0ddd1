"""Heartbeats for long cloud calls, so a worker that dies inside one is noticed in seconds.

A call that waits for an end state (instances healthy, snapshot completed, DNS change in sync,
an operation DONE) may take minutes; its step's `heartbeat_timeout` is a few seconds (policies
`heartbeat_timeout`). While such a call runs, a side thread heartbeats for it: when the worker
process dies the heartbeats stop, and Temporal retries the step on another worker after the
heartbeat timeout instead of after the whole call timeout. The adapters' own wait loops call
`beat` with what they wait for, which shows in the Web UI's pending activity.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")

#: Longest gap between two heartbeats of a running call (shorter when the step's timeout is short).
TICK_S = 1.0


def beat(*details: object) -> None:
    """Heartbeat with `details` if this runs inside an activity (a no-op in the CLI or a test)."""
    if activity.in_activity() and activity.info().heartbeat_timeout:
        activity.heartbeat(*details)


def pause(seconds: float, *details: object) -> None:
    """Sleep `seconds` in short steps, heartbeating between them (for adapters that poll)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(TICK_S, left))
        beat(*details)


@contextmanager
def heartbeating() -> Iterator[None]:
    """Heartbeat from a side thread while the block runs, if the activity has a heartbeat timeout."""
    if not activity.in_activity():
        yield
        return
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        yield
        return
    every = min(TICK_S, timeout.total_seconds() / 4)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            activity.heartbeat()

    ticker = threading.Thread(target=contextvars.copy_context().run, args=(tick,), daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()


def long_call(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an activity whose call may wait long: it heartbeats for as long as it runs."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with heartbeating():
            return fn(*args, **kwargs)

    return wrapper
