"""Operations of the Compute test server: PENDING → RUNNING → DONE over polls, deduplicated by requestId."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BASE = "https://www.googleapis.com/compute/v1/"
STEPS = ("PENDING", "RUNNING", "DONE")
_ids = itertools.count(1_000_000)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def next_id() -> int:
    return next(_ids)


class ApiError(Exception):
    """An error the server answers with: HTTP status, message and the Compute `reason`."""

    def __init__(self, status: int, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            }
        }


@dataclass
class Operation:
    """One long-running operation; its effect is applied when it becomes DONE."""

    name: str
    scope: str  # "projects/p/global" | "projects/p/regions/r" | "projects/p/zones/z"
    op_type: str
    target_link: str
    apply: Callable[[], None] | None
    polls: int = 0
    step: int = 0
    created: float = field(default_factory=time.monotonic)
    insert_time: str = field(default_factory=now_rfc3339)
    error: ApiError | None = None
    op_id: int = field(default_factory=next_id)

    @property
    def status(self) -> str:
        return STEPS[self.step]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(self.op_id),
            "name": self.name,
            "operationType": self.op_type,
            "targetLink": self.target_link,
            "status": self.status,
            "progress": {0: 0, 1: 50, 2: 100}[self.step],
            "insertTime": self.insert_time,
            "selfLink": f"{BASE}{self.scope}/operations/{self.name}",
        }
        kind = self.scope.split("/")[2]
        if kind == "zones":
            body["zone"] = f"{BASE}{self.scope}"
        elif kind == "regions":
            body["region"] = f"{BASE}{self.scope}"
        if self.step == 2 and self.error is not None:
            body["error"] = {"errors": [{"code": self.error.reason, "message": self.error.message}]}
            body["httpErrorStatusCode"] = self.error.status
            body["httpErrorMessage"] = self.error.message
        return body


class Operations:
    """Every operation by scope and name, and the requestIds already used (per project)."""

    def __init__(self, lock: threading.RLock, polls_to_done: int = 2) -> None:
        self._lock = lock
        self.polls_to_done = polls_to_done
        self.by_name: dict[tuple[str, str], Operation] = {}
        self.by_request: dict[tuple[str, str], Operation] = {}
        self.settle_after_s = 5.0

    def reset(self) -> None:
        self.by_name.clear()
        self.by_request.clear()

    def start(
        self,
        scope: str,
        op_type: str,
        target_link: str,
        apply: Callable[[], None] | None,
        request_id: str | None,
    ) -> tuple[Operation, bool]:
        """A new operation, or the one an earlier call with the same requestId started (True)."""
        project = scope.split("/")[1]
        if request_id:
            seen = self.by_request.get((project, request_id))
            if seen is not None:
                return seen, True
        op = Operation(
            name=f"operation-{int(time.time() * 1000)}-{next_id():x}",
            scope=scope,
            op_type=op_type,
            target_link=target_link,
            apply=apply,
        )
        self.by_name[(scope, op.name)] = op
        if request_id:
            self.by_request[(project, request_id)] = op
        return op, False

    def find(self, scope: str, name: str) -> Operation:
        op = self.by_name.get((scope, name))
        if op is None:
            raise ApiError(404, f"The resource '{scope}/operations/{name}' was not found", "notFound")
        return op

    def poll(self, op: Operation) -> None:
        """One poll moves an operation one step; the effect lands on DONE."""
        op.polls += 1
        if op.step < 2 and op.polls >= (1 if op.step == 0 else self.polls_to_done):
            self.advance(op)

    def advance(self, op: Operation) -> None:
        if op.step >= 2:
            return
        op.step += 1
        if op.step == 2 and op.apply is not None:
            apply, op.apply = op.apply, None
            try:
                apply()
            except ApiError as err:
                op.error = err

    def settle(self) -> None:
        """Operations nobody polls still finish after a while (as the real service does)."""
        cutoff = time.monotonic() - self.settle_after_s
        for op in list(self.by_name.values()):
            if op.step < 2 and op.created < cutoff:
                op.step = 1
                self.advance(op)
