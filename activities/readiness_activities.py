"""Readiness reads from Temporal visibility: when each region last passed a practice and a drill, and the
previous readiness evaluation of the service (its search attributes), so no state lives outside Temporal."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecution

from contracts import search_attributes as sa
from contracts.readiness import HistoryQuery, PreviousEvaluation, ReadinessHistory

#: At most this many passed runs are read per kind: plenty for weekly practices and drills.
_LIMIT = 500


def _when(wf: WorkflowExecution) -> datetime:
    """When a run passed: it closed then (a run still open has only its start)."""
    return wf.close_time or wf.start_time


def _newest(found: dict[str, datetime], regions: list[str], at: datetime) -> None:
    for region in regions:
        if region not in found or at > found[region]:
            found[region] = at


class ReadinessActivities:
    """Needs the worker's own Temporal client (it lists workflows; it touches no cloud)."""

    def __init__(self, client: Client | None) -> None:
        self._client = client

    @activity.defn(name="readiness_history")
    async def readiness_history(self, inp: HistoryQuery) -> ReadinessHistory:
        """Newest passed practice and drill per region, and the newest completed evaluation.

        Without a client (a worker built without one, in tests) nothing is known: no region has passed
        anything (fail closed: not ready under the default policy) and there is no previous evaluation.
        """
        history = ReadinessHistory()
        if self._client is None:
            return history
        service = f'{sa.SERVICE.name} = "{inp.service}"'
        for kind, found in (("practice", history.last_practice), ("drill", history.last_drill)):
            query = f'{sa.OPERATION.name} = "{kind}" AND {service} AND {sa.STATUS.name} = "pass"'
            async for wf in self._client.list_workflows(query, limit=_LIMIT):
                regions = list(wf.typed_search_attributes.get(sa.REGIONS) or [])
                _newest(found, regions, _when(wf))
        query = f"{sa.OPERATION.name} = \"readiness\" AND {service} AND ExecutionStatus = 'Completed'"
        newest: WorkflowExecution | None = None
        async for wf in self._client.list_workflows(query, limit=_LIMIT):
            if wf.id != inp.exclude_workflow_id and (newest is None or _when(wf) > _when(newest)):
                newest = wf
        if newest is not None:
            attrs = newest.typed_search_attributes
            history.previous = PreviousEvaluation(
                workflow_id=newest.id,
                regions=list(attrs.get(sa.REGIONS) or []),
                not_ready=list(attrs.get(sa.NOT_READY) or []),
            )
        return history
