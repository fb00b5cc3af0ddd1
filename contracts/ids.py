"""Workflow and schedule ids: one function per format, so one operation per target runs at a time.

Ids name what an operation changes (DESIGN rule 5): a second start for the same target is refused
by Temporal instead of running twice. Everything that builds or parses an id uses these.
"""

from __future__ import annotations

from datetime import UTC, datetime

ROLLOUT_PREFIX = "rollout:"


def rollout_id(service: str) -> str:
    """One rollout per service at a time."""
    return f"{ROLLOUT_PREFIX}{service}"


def rollout_id_of(ident: str) -> str:
    """A rollout id from what a user typed: the id itself or just the service name."""
    return ident if ident.startswith(ROLLOUT_PREFIX) else rollout_id(ident)


def region_deployment_id(parent_id: str, region: str) -> str:
    """The child workflow that deploys one region of a rollout."""
    return f"{parent_id}/{region}"


def deploy_id(service: str, region: str) -> str:
    """One single-region deploy per service and region at a time."""
    return f"deploy:{service}:{region}"


def monitor_id(service: str) -> str:
    """One health monitor per service."""
    return f"monitor:{service}"


def failover_id(service: str, region: str) -> str:
    """One failover per service and failed region at a time."""
    return f"failover:{service}:{region}"


def failback_id(service: str, region: str) -> str:
    """One failback per service and recovered region at a time."""
    return f"failback:{service}:{region}"


def backup_id(service: str) -> str:
    """One backup run per service at a time (scheduled runs get the time appended by Temporal)."""
    return f"backup:{service}"


def backup_schedule_id(service: str) -> str:
    """The backup schedule of a service."""
    return f"backup:{service}"


def recovery_id(service: str, source_region: str) -> str:
    """One recovery per service and lost region at a time."""
    return f"dr:{service}:{source_region}"


def validation_id(service: str, target_region: str) -> str:
    """One restore validation per service and target region at a time."""
    return f"dr-validate:{service}:{target_region}"


def drill_schedule_id(service: str) -> str:
    """The weekly drill schedule of a service."""
    return f"drill:{service}"


def drill_id(service: str, now: datetime | None = None) -> str:
    """A drill started by hand: one per service and second."""
    return f"drill:{service}:{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}"


def drill_region_id(drill_workflow_id: str, region: str) -> str:
    """The child workflow that rehearses the recovery of one region in a drill."""
    return f"{drill_workflow_id}/{region}"


def readiness_schedule_id(service: str) -> str:
    """The schedule that re-evaluates a service's readiness (its runs: this id and the scheduled time)."""
    return f"readiness:{service}"


def readiness_id(service: str, nonce: str) -> str:
    """One readiness evaluation started by hand (read-only: any number may run)."""
    return f"readiness:{service}:{nonce}"


def practice_id(service: str, region: str, now: datetime | None = None) -> str:
    """A failover practice started by hand: one per service, region and second."""
    return f"practice:{service}:{region}:{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}"


def practice_schedule_id(service: str) -> str:
    """The weekly failover practice schedule of a service."""
    return f"practice:{service}"


def practice_scheduled_id(service: str, region: str | None) -> str:
    """The id a schedule's practice runs get (Temporal appends the scheduled time)."""
    return f"practice:{service}:{region or 'rotation'}"


def practice_child_id(practice_workflow_id: str, step: str) -> str:
    """The failover or failback a practice runs as its child."""
    return f"{practice_workflow_id}/{step}"


def inspect_id(kind: str, service: str, nonce: str) -> str:
    """A short read-only workflow the CLI runs through the workers (health, snapshots)."""
    return f"inspect:{kind}:{service}:{nonce}"


#: The one freeze registry of a namespace: every freeze, and the operations it tells about them.
FREEZE_REGISTRY_ID = "freezes"


def notification_id(event_id: str) -> str:
    """The workflow that sends one event to its sinks: one per event id, so a repeated start sends nothing."""
    return f"notify:{event_id}"
