"""Activities of the freeze registry: find running operations it was never told about (visibility)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from contracts import search_attributes as sa
from contracts.change import OperationRef

#: GlobalopsOperation values the registry tells about freezes, and the kind it signals them as.
KINDS = {
    "rollout": "rollout",
    "deploy-canary": "deploy",
    "deploy-blue-green": "deploy",
    "drill": "drill",
    "failover": "failover",
    "failback": "failback",
    "dr": "recover",
    "practice": "practice",
}


class FreezeActivities:
    """Needs the worker's own Temporal client (it lists workflows; it touches no cloud)."""

    def __init__(self, client: Client | None) -> None:
        self._client = client

    @activity.defn(name="running_operations")
    async def running_operations(self) -> list[OperationRef]:
        """Running globalops operations a freeze may hold, found through their search attributes."""
        if self._client is None:
            return []
        names = ", ".join(f'"{k}"' for k in KINDS)
        query = f"ExecutionStatus = 'Running' AND {sa.OPERATION.name} IN ({names})"
        found: list[OperationRef] = []
        async for wf in self._client.list_workflows(query):
            kind = KINDS.get(str(wf.typed_search_attributes.get(sa.OPERATION) or ""))
            if kind is not None:
                found.append(OperationRef(workflow_id=wf.id, kind=kind))
        return found
