"""What crosses the boundary when a restore is validated by the user's HTTP hook: the call and its answer.

The call carries the hook's URL template (never filled in: secrets stay in the worker's environment)
and what the hook needs to find the restored data; the answer carries the status and the watermark
read from the answer's JSON, never its raw body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from config.dr import ValidationHook
from contracts.wire import WireModel

__all__ = ["ValidationAnswer", "ValidationCall"]


class ValidationCall(WireModel):
    """Ask the validation hook about one restore (the activity validate_restore)."""

    hook: ValidationHook
    workflow_id: str
    mode: str = Field(description="recover, drill or validate")
    service: str
    source_region: str
    region: str = Field(description="where the data was restored")
    env: str
    snapshot_id: str
    snapshot_taken_at: datetime
    snapshot_watermark: int
    volume_id: str
    instances: list[str] = Field(default_factory=list, description="instances launched on the volume, if any")
    key: str = Field(description="idempotency key: workflow id + request id + step, never the run id")

    @property
    def name(self) -> str:
        """How reasons name the hook: its URL template (never filled in)."""
        return f"validation hook {self.hook.url}"

    def body(self) -> dict[str, Any]:
        """The JSON the hook receives."""
        return {
            "operation": f"dr-{self.mode}",
            "workflow_id": self.workflow_id,
            "service": self.service,
            "source_region": self.source_region,
            "region": self.region,
            "env": self.env,
            "snapshot_id": self.snapshot_id,
            "snapshot_taken_at": self.snapshot_taken_at.isoformat(),
            "snapshot_watermark": self.snapshot_watermark,
            "volume_id": self.volume_id,
            "instances": list(self.instances),
            "expect": self.hook.expect,
            "key": self.key,
        }


class ValidationAnswer(WireModel):
    """The hook's answer: its HTTP status and the watermark at `expect` (None: not an integer there)."""

    status: int
    watermark: int | None = None
    detail: str = Field(default="", description="why no watermark was read, or the start of a non-2xx body")
