"""Heartbeats for long cloud calls, so a worker that dies inside one is noticed in seconds.

A call that waits for an end state (instances healthy, snapshot completed, DNS change in sync,
an operation DONE) may take minutes; its step's `heartbeat_timeout` is a few seconds (policies
`heartbeat_timeout`). While such a call runs, a side thread (one for all calls) heartbeats for
it: when the worker process dies the heartbeats stop, and Temporal retries the step on another
worker after the heartbeat timeout instead of after the whole call timeout. The adapters' own wait
loops call `beat` with what they wait for, which shows in the Web UI's pending activity.
"""

from __future__ import annotations

import contextvars
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import structlog
from temporalio import activity

_log = structlog.get_logger("globalops.heartbeat")

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


class _Call:
    """A running long call: how to heartbeat for it, how often, and when next."""

    def __init__(self, every: float) -> None:
        self.context = contextvars.copy_context()  # the activity's: `activity.heartbeat` finds it
        self.every = every
        self.due = time.monotonic() + every


class _Ticker:
    """One side thread heartbeats for every running long call when it is due.

    A thread of its own per call (started and joined around calls that mostly take milliseconds)
    was about a third of the sim activities' CPU in bench B5; a call now only joins a set.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: set[_Call] = set()
        self._wake = math.inf
        self._thread: threading.Thread | None = None

    def add(self, call: _Call) -> None:
        with self._cond:
            self._calls.add(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="globalops-heartbeat", daemon=True)
                self._thread.start()
            if call.due < self._wake:
                self._cond.notify()

    def discard(self, call: _Call) -> None:
        """After this returns the call gets no further heartbeat (beats are sent under the lock)."""
        with self._cond:
            self._calls.discard(call)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for call in [c for c in self._calls if c.due <= now]:
                    call.due = now + call.every
                    try:
                        call.context.run(activity.heartbeat)
                    except Exception:  # noqa: BLE001 - one call's broken heartbeat must not stop the others'
                        _log.warning("heartbeat_failed", exc_info=True)
                        self._calls.discard(call)
                self._wake = min((c.due for c in self._calls), default=math.inf)
                self._cond.wait(None if self._wake == math.inf else self._wake - now)


_TICKER = _Ticker()


@contextmanager
def heartbeating() -> Iterator[None]:
    """Heartbeat from the side thread while the block runs, if the activity has a heartbeat timeout."""
    if not activity.in_activity():
        yield
        return
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        yield
        return
    call = _Call(min(TICK_S, timeout.total_seconds() / 4))
    _TICKER.add(call)
    try:
        yield
    finally:
        _TICKER.discard(call)


def long_call(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an activity whose call may wait long: it heartbeats for as long as it runs."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with heartbeating():
            return fn(*args, **kwargs)

    return wrapper
