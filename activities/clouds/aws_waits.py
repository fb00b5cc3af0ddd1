"""Waits for an end state (snapshot completed, DNS change INSYNC, instances InService and healthy).

A wait polls every `poll_interval_s` and heartbeats between polls with what it waits for and what it
saw last (`activities.heartbeat.pause`), so the Web UI's pending activity shows it and a worker that
dies inside the wait is noticed within the step's heartbeat timeout. It gives up after
`wait_timeout_s` with `Unavailable`, which is retryable: Temporal retries the call, and the retry
finds the work done (every call looks before it acts) and waits again. moto reaches every end
state at once; the tests make it report the pending states first with botocore event hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from activities.heartbeat import pause
from contracts.errors import Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class Pending:
    """Not there yet: what was seen, for the heartbeat and for the timeout's message."""

    seen: str


@dataclass(frozen=True)
class Done(Generic[T]):
    """The end state, with what the caller wants back."""

    value: T


class Waiter:
    """Polls a check until it is Done, heartbeating between polls, for at most `timeout_s`."""

    def __init__(self, timeout_s: float, interval_s: float) -> None:
        self.timeout_s = timeout_s
        self.interval_s = interval_s

    def until(self, what: str, check: Callable[[], Done[T] | Pending]) -> T:
        """The value of the first Done `check` returns; Unavailable once `timeout_s` has passed."""
        deadline = time.monotonic() + self.timeout_s
        polls = 0
        while True:
            outcome = check()
            polls += 1
            if isinstance(outcome, Done):
                return outcome.value
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(
                    f"AWS: {what}: not reached after {self.timeout_s:g}s ({polls} polls, last seen: "
                    f"{outcome.seen}); the call is retried and waits again"
                )
            pause(min(self.interval_s, left), f"waiting for {what}", outcome.seen, polls)
