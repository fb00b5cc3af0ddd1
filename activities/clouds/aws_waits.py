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
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from activities.botocore_errors import error_code
from activities.heartbeat import pause
from contracts.errors import CloudError, Unavailable

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


def snapshot_completed(
    ec2: Any, region: str, snapshot_id: str
) -> Callable[[], Done[dict[str, Any]] | Pending]:
    """A check: is the EBS snapshot `completed`? Done with its description (encryption included). One
    in `error` is deleted and the call fails retryably (the retry, finding no snapshot under its key,
    takes a new one)."""

    def check() -> Done[dict[str, Any]] | Pending:
        try:
            found = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):  # a new snapshot may not be visible yet
                return Pending("not visible yet")
            raise
        if not found:
            return Pending("not visible yet")
        state = str(found[0].get("State", ""))
        if state == "completed":
            return Done(dict(found[0]))
        if state == "error":
            ec2.delete_snapshot(SnapshotId=snapshot_id)
            message = found[0].get("StateMessage") or "no message"
            raise Unavailable(f"AWS: snapshot {snapshot_id} in {region} failed ({message}); deleted, retried")
        return Pending(f"{state} {found[0].get('Progress') or ''}".strip())

    return check


def instances_running(ec2: Any, region: str, instance_ids: list[str]) -> Callable[[], Done[None] | Pending]:
    """A check: is every instance `running`? One that ended while launching fails the call."""

    def check() -> Done[None] | Pending:
        try:
            pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=instance_ids)
            states = {
                str(i["InstanceId"]): str(i["State"]["Name"])
                for page in pages
                for r in page["Reservations"]
                for i in r["Instances"]
            }
        except ClientError as exc:
            if error_code(exc).endswith("NotFound"):  # new instances may not be visible yet
                return Pending("not visible yet")
            raise
        if all(states.get(i) == "running" for i in instance_ids):
            return Done(None)
        gone = sorted(i for i in instance_ids if states.get(i) in ("shutting-down", "terminated"))
        if gone:
            raise CloudError(f"AWS: instances {', '.join(gone)} in {region} ended while launching")
        return Pending(", ".join(f"{i} {states.get(i, 'not visible')}" for i in instance_ids))

    return check
