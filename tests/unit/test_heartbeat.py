"""Long calls heartbeat from one shared side thread while they run, and stop when they end."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.heartbeat import long_call

WAIT_S = 10.0  # an upper bound for a few 25 ms ticks on a loaded machine, not a sleep


class Beats:
    """An activity environment with a short heartbeat timeout that counts its heartbeats."""

    def __init__(self, timeout_s: float | None = 0.1, fail: bool = False) -> None:
        self.env = ActivityEnvironment()
        timeout = timedelta(seconds=timeout_s) if timeout_s else None
        self.env.info = dataclasses.replace(self.env.info, heartbeat_timeout=timeout)
        self.count = 0
        self.fail = fail
        self._cond = threading.Condition()
        self.env.on_heartbeat = self._beat

    def _beat(self, *details: object) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()
        if self.fail:
            raise RuntimeError("heartbeat refused")

    def wait_for(self, n: int) -> int:
        """Block until `n` heartbeats were seen (or the bound passes); the count then."""
        with self._cond:
            self._cond.wait_for(lambda: self.count >= n, timeout=WAIT_S)
            return self.count


def test_a_long_call_heartbeats_while_it_runs_and_not_after() -> None:
    first = Beats()
    assert first.env.run(long_call(first.wait_for), 3) >= 3
    ended_at = first.count
    # A second call runs for three ticks of the shared thread: the first call gets none of them.
    second = Beats()
    assert second.env.run(long_call(second.wait_for), 3) >= 3
    assert first.count == ended_at


def test_concurrent_calls_each_get_their_own_heartbeats() -> None:
    fast, slow = Beats(0.1), Beats(0.2)
    got: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda b=b, k=k: got.__setitem__(k, b.env.run(long_call(b.wait_for), 4)))
        for k, b in (("fast", fast), ("slow", slow))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got["fast"] >= 4 and got["slow"] >= 4


def test_a_call_that_raises_stops_heartbeating() -> None:
    failing = Beats()

    def fails() -> None:
        failing.wait_for(2)
        raise ValueError("cloud said no")

    with pytest.raises(ValueError, match="cloud said no"):
        failing.env.run(long_call(fails))
    ended_at = failing.count
    other = Beats()
    other.env.run(long_call(other.wait_for), 3)
    assert failing.count == ended_at


def test_a_broken_heartbeat_does_not_stop_another_calls() -> None:
    broken, healthy = Beats(fail=True), Beats()
    done = threading.Event()

    def hold() -> None:
        broken.wait_for(1)
        done.wait(WAIT_S)

    t = threading.Thread(target=lambda: broken.env.run(long_call(hold)))
    t.start()
    try:
        assert broken.wait_for(1) >= 1
        assert healthy.env.run(long_call(healthy.wait_for), 3) >= 3
        assert broken.count == 1  # dropped after its heartbeat raised, not retried every tick
    finally:
        done.set()
        t.join()


def test_no_heartbeat_timeout_means_no_heartbeats() -> None:
    quiet = Beats(timeout_s=None)

    def registered() -> int:
        with heartbeat._TICKER._cond:
            return len(heartbeat._TICKER._calls)

    before = registered()
    assert quiet.env.run(long_call(registered)) == before
    assert quiet.count == 0
    timed = Beats()
    assert timed.env.run(long_call(registered)) == before + 1
