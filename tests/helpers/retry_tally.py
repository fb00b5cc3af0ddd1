"""Retries counted from workflow histories: how the fault tests report what Temporal retried.

Temporal records one ActivityTaskStarted event per activity, for its last attempt, so its
attempt number minus one is how many retries happened before it; ActivityTaskFailed events are
activities that failed for good. Children are walked too.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client


@dataclass
class Retries:
    workflows: int = 0
    activities: int = 0
    retried_activities: int = 0
    retries: int = 0
    final_failures: int = 0

    def line(self, what: str) -> str:
        return (
            f"{what}: {self.workflows} workflows, {self.activities} activities, "
            f"{self.retried_activities} retried, {self.retries} retries, "
            f"{self.final_failures} failed for good"
        )


async def count_retries(
    client: Client, workflow_id: str, run_id: str | None = None, into: Retries | None = None
) -> Retries:
    """Walk the history of a workflow and of every child it started."""
    tally = into or Retries()
    tally.workflows += 1
    async for event in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events():
        if event.HasField("activity_task_started_event_attributes"):
            attempt = event.activity_task_started_event_attributes.attempt
            tally.activities += 1
            tally.retried_activities += attempt > 1
            tally.retries += attempt - 1
        elif event.HasField("activity_task_failed_event_attributes"):
            tally.final_failures += 1
        elif event.HasField("child_workflow_execution_started_event_attributes"):
            child = event.child_workflow_execution_started_event_attributes.workflow_execution
            await count_retries(client, child.workflow_id, child.run_id, tally)
    return tally
