"""Failure injection for compensation tests: one real activity, under its real name, fails at its Nth call.

Shared by the sim (tests/reliability/test_compensation.py) and the AWS/moto compensation tests
(tests/reliability/clouds/): the workflow under test runs unchanged, only the worker's list of
activity functions has the broken one replaced (`replaced_activities`, which other tests use to
wrap an activity in other ways).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clouds.registry import CloudRegistry
from workers.main import activity_functions


@dataclass
class Break:
    """Fail activity `name` at its `nth` call (1-based), once, without retry.

    Only calls whose input matches `provider` and `region` (when given) are counted, so a break
    can land in an AWS region whatever the sim regions do concurrently. With `after`, the call
    does its work first and then fails: the change happened, the workflow never hears of it.
    While not `armed` (a preparing workflow runs), nothing is counted. A `retryable` break lets
    Temporal retry the call: with `after`, a call whose completion was lost (the worker died after
    the work and before it reported it).
    """

    name: str
    nth: int
    provider: str | None = None
    region: str | None = None
    after: bool = False
    armed: bool = True
    retryable: bool = False
    calls: int = 0
    fired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matches(self, inp: Any) -> bool:
        """True if the call's input is one this break counts."""
        if not self.armed:
            return False
        if self.provider is not None and getattr(inp, "provider", None) != self.provider:
            return False
        return self.region is None or getattr(inp, "region", None) == self.region

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def broken(*args: Any) -> Any:
            with self.lock:
                counted = self.matches(args[0] if args else None)
                self.calls += counted
                hit = counted and self.calls == self.nth
            if not hit:
                return fn(*args)
            if self.after:
                fn(*args)
            self.fired = True
            when = " after its work" if self.after else ""
            raise ApplicationError(
                f"injected failure: {self.name} call {self.nth}{when}",
                type="InjectedFailure" if self.retryable else "CloudError",
                non_retryable=not self.retryable,
            )

        broken.__dict__.pop("__temporal_activity_definition", None)  # copied by wraps: define it anew
        return activity.defn(name=self.name)(broken)


Activity = Callable[..., Any]


def replaced_activities(
    clouds: CloudRegistry, wrappers: Mapping[str, Callable[[Activity], Activity]]
) -> list[Activity]:
    """Every activity of the worker on `clouds`; one named in `wrappers` is replaced by `wrapper(fn)`,
    which must define it under the same name."""
    acts = []
    for fn in activity_functions(clouds):
        name = activity._Definition.must_from_callable(fn).name
        acts.append(wrappers[name](fn) if name in wrappers else fn)
    return acts


def broken_activities(clouds: CloudRegistry, breaks: Sequence[Break] = ()) -> list[Activity]:
    """Every activity of the worker on `clouds`, with the named activities broken (one break each)."""
    by_name = {b.name: b for b in breaks}
    assert len(by_name) == len(breaks), "one break per activity"
    return replaced_activities(clouds, {name: b.wrap for name, b in by_name.items()})
