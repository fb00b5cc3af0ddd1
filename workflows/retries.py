"""Retry policies and timeouts for activities, defined once so every workflow agrees."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import errors as contracts_errors

if TYPE_CHECKING:
    from config.models import DeployPolicies, Policies, Topology

#: The one list (contracts/errors.py); a tuple, since the worker shares this module between workflow runs.
NON_RETRYABLE_TYPES = contracts_errors.NON_RETRYABLE_TYPES

#: Cloud calls: throttling and 5xx back off exponentially up to 30 s, 10 attempts in all.
CLOUD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)

#: Compensation must not give up early: more attempts, same classification.
UNDO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=30,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)

#: The monitor's watch (one long probe activity) never gives up: it is the monitor's eyes. A failed
#: attempt (its worker died, or shut down) resumes from its last heartbeat after a short backoff.
WATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)

#: Analysis: a failed metrics query counts toward `consecutive_error_limit`, so retry only briefly.
ANALYSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)


def call_timeout(policies: DeployPolicies) -> timedelta:
    """How long one attempt of a cloud call may run: also how soon a call lost with its worker is retried."""
    return timedelta(seconds=policies.call_timeout)


def heartbeat_timeout(policies: DeployPolicies) -> timedelta:
    """How soon a cloud call whose worker died is retried elsewhere: its heartbeats stop (DESIGN rule 11)."""
    return timedelta(seconds=policies.heartbeat_timeout)


def activity_options(
    topology: Topology, policies: Policies, region: str | None, summary: str, undo: bool = False
) -> dict[str, Any]:
    """Options of one cloud call: the region's task queue (DESIGN rule 6; none: the default queue),
    the call timeout of the policies, and the retry policy of a step or of its undo."""
    return {
        "task_queue": topology.task_queue_for(region) if region else topology.default_task_queue,
        "start_to_close_timeout": call_timeout(policies),
        "heartbeat_timeout": heartbeat_timeout(policies),
        "retry_policy": UNDO_RETRY if undo else CLOUD_RETRY,
        "summary": summary,
    }


#: Reads a person waits for at the terminal: a couple of quick retries, then the error is shown.
READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)


#: Notifications: a sink may be down for a while; keep trying until the sink's `give_up_after` (an hour
#: by default; the activity's schedule-to-close timeout), never holding up the operation
#: (NotifyWorkflow runs apart from it). A missing variable or a bad URL is not retried.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=0,  # unlimited: give_up_after bounds the attempts
    non_retryable_error_types=["MissingSecret", "BadSinkUrl"],
)

#: Longest one attempt of a notification may take (Apprise's own HTTP timeouts are a few seconds).
NOTIFY_TIMEOUT = timedelta(seconds=60)

#: What one attempt of a hook may take beyond the hook's own timeout (connecting, the worker's queue).
HOOK_MARGIN = timedelta(seconds=5)


def hook_retry(retries: int) -> RetryPolicy:
    """A hook that did not answer is asked `retries` more times; an answer is never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=retries + 1,
        non_retryable_error_types=["MissingSecret"],
    )
