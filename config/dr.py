"""Backup, disaster-recovery and drill policy: how often, how long kept, what recovery must achieve.

Pure pydantic/stdlib (plus config.durations) so Temporal workflows can import it in the sandbox.
Defaults: 6-hourly cross-region snapshots kept 30 days (AWS Backup's common plan), an RTO of
15 minutes, an RPO that 6-hourly snapshots can actually promise, weekly drills on Monday 09:00 UTC.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from config.base import CONFIG
from config.cron import five_field_cron
from config.durations import Duration
from config.notify import Hook

__all__ = ["BackupPolicy", "DrPolicy", "DrillPolicy", "FreezeWindow", "ValidationHook"]


class BackupPolicy(BaseModel):
    """Snapshots of every region's volumes, copied to the region's backup region, pruned by age."""

    model_config = CONFIG

    interval: Duration = Field(
        default=6 * 3600.0, gt=0, description="Time between scheduled backups (the schedule's interval)."
    )
    retention: Duration = Field(
        default=30 * 86400.0,
        gt=0,
        description="Snapshots older than this are deleted, except each region's newest good one.",
    )
    catchup_window: Duration = Field(
        default=3600.0,
        gt=0,
        description="A backup missed while the server was down still runs if it is at most this late.",
    )
    require_encryption: bool = Field(
        default=True,
        description="Every snapshot and copy is encrypted with its region's customer key (topology"
        " regions[].backup_key): a region without one is not backed up, an unencrypted source is"
        " re-encrypted on copy, and recovery refuses an unencrypted snapshot unless overridden.",
    )


class FreezeWindow(BaseModel):
    """A period in which no drill runs (a release freeze, a peak sales day)."""

    model_config = CONFIG

    start: AwareDatetime = Field(description="Start of the freeze, with a time zone (ISO 8601).")
    end: AwareDatetime = Field(description="End of the freeze, after start.")
    reason: str = Field(default="freeze window", description="Shown in the drill's report.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} must be after start {self.start.isoformat()}")
        return self

    def covers(self, moment: datetime) -> bool:
        """True if `moment` falls inside the window."""
        return self.start <= moment < self.end


class DrillPolicy(BaseModel):
    """Weekly rehearsal of a recovery, isolated from production, always cleaned up."""

    model_config = CONFIG

    cron: str = Field(
        default="0 9 * * MON", description="When scheduled drills run (5-field cron, UTC): Monday 09:00."
    )
    regions: list[str] = Field(
        default_factory=list,
        description="Regions whose recovery is rehearsed (empty: every primary region).",
    )
    catchup_window: Duration = Field(
        default=3600.0,
        gt=0,
        description="A drill missed while the server was down still runs if it is at most this late.",
    )
    pause_on_failure: bool = Field(
        default=False, description="Pause the drill schedule after a failed drill, until unpaused."
    )
    abort_error_rate: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Production error rate (0-1] in any drilled region that stops the drill.",
    )
    boot_probes: int = Field(
        default=3, ge=1, le=100, description="Healthy probes the restored capacity needs to count as serving."
    )
    soak: Duration = Field(
        default=300.0,
        description="How long a drill's recovered environment stays up (watched) before it is removed.",
    )
    freeze_windows: list[FreezeWindow] = Field(
        default_factory=list, description="Periods in which a drill records that it skipped."
    )

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        return five_field_cron(value, "0 9 * * MON")


_JSON_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")


class ValidationHook(Hook):
    """An HTTP endpoint that validates a restore (like AWS Backup's restore-testing validation).

    It receives the restore's details as JSON (POST) and answers, with a 2xx, a JSON object whose
    field `expect` holds the watermark of the data the restored service serves. The validation
    passes only when that watermark is at least the snapshot's; no answer, a non-2xx answer, or
    an answer without an integer at `expect` fails it (docs/dr.md, "Integrity").
    """

    expect: str = Field(
        default="watermark",
        description="Dotted path of the answer's JSON field holding the restored data's watermark"
        " (an integer), e.g. 'watermark' or 'data.watermark'.",
    )

    @field_validator("expect")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _JSON_PATH.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a JSON field path: names of letters, digits, _ and -, joined by dots"
                " (e.g. 'watermark' or 'data.watermark')"
            )
        return value


class DrPolicy(BaseModel):
    """Recovery targets and the backups and drills that make them credible."""

    model_config = CONFIG

    rto_target: Duration = Field(
        default=900.0, gt=0, description="Recovery time objective: start of recovery to serving."
    )
    rpo_target: Duration = Field(
        default=6 * 3600.0 + 900.0,
        gt=0,
        description="Recovery point objective: most data (time) a recovery may lose. The default is"
        " what 6-hourly snapshots can promise (interval + 15 min to take and copy them).",
    )
    instances: int = Field(
        default=0,
        ge=0,
        le=10000,
        description="Instances launched by a recovery (0: as many as the source region runs).",
    )
    backup: BackupPolicy = Field(default_factory=BackupPolicy, description="Snapshots and retention.")
    drill: DrillPolicy = Field(default_factory=DrillPolicy, description="Scheduled drills.")
    validation: ValidationHook | None = Field(
        default=None,
        description="An HTTP hook that checks each restore (dr validate, dr recover, drills) answers a"
        " data watermark at least the snapshot's; none: restores are checked by the provider's integrity"
        " check only.",
    )
