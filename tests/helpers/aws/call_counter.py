"""Count the AWS operations the adapter sends, through a botocore event hook."""

from __future__ import annotations

from typing import Any

from activities.clouds.aws_clients import EventHook


class Counter:
    """A `before-send` hook that counts the AWS operations sent (without changing them)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, event_name: str, **_: Any) -> None:
        op = event_name.split(".", 1)[-1]  # "<service>.<Operation>"
        self.calls[op] = self.calls.get(op, 0) + 1

    def hook(self) -> EventHook:
        return ("before-send", self)
