"""Every `workflow.patched()` id in one register: when it came, why, and when it can be deprecated.

A patch keeps histories recorded before a change replaying the old way (samples-python `patching/`).
Code asks `workflow.patched(patches.X.id)`; tests/unit/test_patches.py fails when code uses an id
that is not here, when an entry here is used nowhere, or when docs/development.md lists other ids.
Removing one: first `workflow.deprecate_patch(id)` once no running workflow predates it (the
"deprecate after" condition), then, once those are gone too, the branch and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Patch:
    """One patch id, with the reasons a maintainer needs to retire it."""

    id: str
    added: str
    why: str
    deprecate_after: str


NO_MEASUREMENT_IS_INCONCLUSIVE = Patch(
    id="no-measurement-is-inconclusive",
    added="2026-11-25",
    why="an analysis step in which no run could read metrics is inconclusive, not a pass (fail closed)",
    deprecate_after="no canary or blue-green rollout started before 2026-11-25 is still running",
)
NOTIFY_MONITOR = Patch(
    id="notify-monitor",
    added="2026-11-25",
    why="a finished failover signals its monitor, so it no longer holds the monitor's concurrency slot",
    deprecate_after="no failover started before 2026-11-25 is still running",
)
SCALE_BACK_BACKUP = Patch(
    id="scale-back-backup",
    added="2026-11-25",
    why="failback scales the pre-scaled backup region back to its size before the failover",
    deprecate_after="no failback started before 2026-11-25 is still running",
)
FAIL_ON_FAILED_VERDICT = Patch(
    id="fail-on-failed-verdict",
    added="2026-11-25",
    why="a drill whose verdict is fail fails its workflow, so a schedule's pause_on_failure applies",
    deprecate_after="no drill started before 2026-11-25 is still running",
)
UNDO_BEFORE_STEP = Patch(
    id="undo-before-step",
    added="2026-11-25",
    why=(
        "a step's undo is registered before its call, so a call that changed the cloud and then failed "
        "for good is undone too (failover pre-scale and shift, recovery restore / launch / serve, failback)"
    ),
    deprecate_after="no failover, failback or recovery started before 2026-11-25 is still running",
)
DRILL_WATCH_STOPS_ITSELF = Patch(
    id="drill-watch-stops-itself",
    added="2026-12-01",
    why=(
        "the drill's production watch stops itself between probes instead of being cancelled: a cancel "
        "racing a probe's completion was refused by the time-skipping server (sdk-java#2391)"
    ),
    deprecate_after="no drill started before 2026-12-01 is still running",
)

RECHECK_REACHABILITY = Patch(
    id="recheck-reachability",
    added="2026-12-02",
    why=(
        "each region's reachability is read again just before it is changed: a region that is down is held "
        "(or skipped, per `unavailable_region`) instead of failing the rollout and rolling back the others"
    ),
    deprecate_after="no rollout started before 2026-12-02 is still running",
)

FREEZE_AWARE = Patch(
    id="freeze-aware",
    added="2026-12-02",
    why=(
        "operations register with the freeze registry (`globalops freeze`) when they start and leave it when "
        "they end, so a freeze reaches them at their next safe point"
    ),
    deprecate_after="no rollout, deploy, drill, failover, failback or recovery from before 2026-12-02 runs",
)

ENCRYPTED_BACKUPS = Patch(
    id="encrypted-backups",
    added="2026-12-03",
    why=(
        "backups encrypt every snapshot and copy with their region's key and fail a region that has none "
        "or whose copy the provider reports unencrypted; recoveries refuse an unencrypted snapshot"
    ),
    deprecate_after="no backup, drill or recovery started before 2026-12-03 is still running",
)

VERIFY_SNAPSHOT_DATA = Patch(
    id="verify-snapshot-data",
    added="2026-12-03",
    why=(
        "a recovery's integrity check also reads the snapshot's stored data back (verify_snapshot: "
        "EBS blocks against their manifest on AWS), so a corrupt snapshot fails it instead of tags "
        "compared to themselves"
    ),
    deprecate_after="no recovery, drill or validation started before 2026-12-03 is still running",
)

VALIDATION_HOOK = Patch(
    id="validation-hook",
    added="2026-12-03",
    why=(
        "a restore is validated by the policy's HTTP hook (`dr.validation`), which must answer a data "
        "watermark at least the snapshot's (recover before serving, drill after launch, validate after "
        "the checks)"
    ),
    deprecate_after="no recovery, drill or validation started before 2026-12-03 is still running",
)

MONITOR_WATCH = Patch(
    id="monitor-watch",
    added="2026-12-03",
    why=(
        "the monitor probes through one long heartbeating watch activity per task queue instead of an "
        "activity per region per round and a timer per round (policies `failover.probe_mode: watch`): "
        "about 5 Temporal actions per region-hour instead of about 380 (issue 19, B6)"
    ),
    deprecate_after="no monitor started before 2026-12-03 is still running (monitors continue as new: stop "
    "and start them)",
)

#: The register, in the order the patches came.
REGISTER: tuple[Patch, ...] = (
    NO_MEASUREMENT_IS_INCONCLUSIVE,
    NOTIFY_MONITOR,
    SCALE_BACK_BACKUP,
    FAIL_ON_FAILED_VERDICT,
    UNDO_BEFORE_STEP,
    DRILL_WATCH_STOPS_ITSELF,
    RECHECK_REACHABILITY,
    FREEZE_AWARE,
    ENCRYPTED_BACKUPS,
    VERIFY_SNAPSHOT_DATA,
    VALIDATION_HOOK,
    MONITOR_WATCH,
)
