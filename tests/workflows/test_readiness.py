"""Standing readiness on the time-skipping server, with the real activities on a real sim.

The time-skipping server has no visibility listing, so `readiness_history` (passed practices and drills,
the previous evaluation) is replaced by one that answers what the test says; the real one runs on the
dev server (tests/e2e/test_e2e_readiness.py). The sim does not encrypt snapshots yet, so its listing is
wrapped to report them encrypted with a key, as providers that encrypt do.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.models import Policies, Topology
from config.notify import Notification
from contracts import search_attributes as sa
from contracts.dr import BackupRequest, StorageRef
from contracts.readiness import (
    HistoryQuery,
    PreviousEvaluation,
    ReadinessHistory,
    ReadinessReport,
    ReadinessRequest,
)
from contracts.storage import Snapshot
from tests.helpers.breaks import replaced_activities
from tests.helpers.polling import poll
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.backup import BackupWorkflow
from workflows.readiness import ReadinessWorkflow

#: The shipped topology's regions alone in their jurisdiction (CA, UK, JP, AE, ZA, AU, IN, BR).
LONELY = {
    "ca-central-1",
    "eu-west-2",
    "ap-northeast-1",
    "me-south-1",
    "af-south-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
}


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def _on_queue(topology: Topology, queue: str) -> Topology:
    return topology.model_copy(update={"default_task_queue": queue})


async def _backup(env: WorkflowEnvironment, topology: Topology, policies: Policies) -> None:
    await env.client.execute_workflow(
        BackupWorkflow.run,
        BackupRequest(service="checkout", topology=topology, policies=policies, request_id=uuid.uuid4().hex),
        id=f"backup:checkout:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


def _encrypted(fn: Callable[..., Any]) -> Callable[..., Any]:
    @activity.defn(name="list_snapshots")
    def list_snapshots(inp: StorageRef) -> list[Snapshot]:
        found: list[Snapshot] = fn(inp)
        return [s.model_copy(update={"encrypted": True, "kms_key": f"key-{s.region}"}) for s in found]

    return list_snapshots


class _History:
    """The answer of `readiness_history`: practices and drills passed a day ago, and a previous evaluation."""

    def __init__(self, now: datetime) -> None:
        self.previous: PreviousEvaluation | None = None
        self.now = now  # the test server's clock: a shared server may have skipped days ahead

    def wrap(self, _: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name="readiness_history")
        async def readiness_history(inp: HistoryQuery) -> ReadinessHistory:
            day_ago = self.now - timedelta(days=1)
            everywhere = {name: day_ago for name in ALL}
            return ReadinessHistory(last_practice=everywhere, last_drill=everywhere, previous=self.previous)

        return readiness_history


ALL: list[str] = []


def _at_least(events: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return events if len(events) >= count else None


async def _evaluate(env: WorkflowEnvironment, topology: Topology, policies: Policies) -> ReadinessReport:
    return await env.client.execute_workflow(
        ReadinessWorkflow.run,
        ReadinessRequest(
            service="checkout", topology=topology, policies=policies, request_id=uuid.uuid4().hex
        ),
        id=f"readiness:checkout:{uuid.uuid4().hex[:6]}",
        task_queue=topology.default_task_queue,
    )


async def test_readiness_lists_every_reason_and_notifies_the_regions_that_changed(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    ALL[:] = topology.region_names()
    queue = unique_queue()
    topo = _on_queue(topology, queue)
    history = _History(await ts_env.get_current_time())
    acts = replaced_activities(
        CloudRegistry({"sim": lambda: sim}),
        {"list_snapshots": _encrypted, "readiness_history": history.wrap},
    )
    with Receiver() as rx:
        sink = Notification.model_validate(
            {"url": rx.url("/events", scheme="json"), "events": ["standing_readiness_changed"]}
        )
        pols = policies.model_copy(update={"notifications": [sink]})
        async with make_worker(ts_env.client, sim, executor, queue, activities=acts):
            await _backup(ts_env, topo, pols)
            first = await _evaluate(ts_env, topo, pols)

            # The shipped topology: exactly the regions alone in their jurisdiction cannot fail over.
            assert set(first.not_ready) == LONELY
            for region in first.regions:
                if region.region in LONELY:
                    assert region.target is None
                    assert any(
                        "cannot fail over: no other region in jurisdiction group" in r for r in region.reasons
                    )
                    assert any(
                        r.startswith("no copy: no other region in jurisdiction group") for r in region.reasons
                    )
                else:
                    assert region.reasons == [] and region.target is not None
            # No previous evaluation: each not-ready region is a change from unknown.
            assert {(c.region, c.before, c.after) for c in first.changes} == {
                (r, None, "not_ready") for r in LONELY
            }
            assert "8 of 16 regions not ready" in first.markdown

            # Now us-east-1's target (us-central1) has no quota left, and eu-west-1's two targets have
            # lost their replica lag: unknown is never fine.
            sim.inject_quota("us-central1", 4)
            sim.inject_replica_lag("eu-central-1", None)
            sim.inject_replica_lag("europe-west1", None)
            history.previous = PreviousEvaluation(
                workflow_id=first.workflow_id, regions=ALL, not_ready=first.not_ready
            )
            second = await _evaluate(ts_env, topo, pols)

            assert set(second.not_ready) == LONELY | {"us-east-1", "eu-west-1"}
            assert second.previous_workflow_id == first.workflow_id
            assert {(c.region, c.before, c.after) for c in second.changes} == {
                ("us-east-1", "ready", "not_ready"),
                ("eu-west-1", "ready", "not_ready"),
            }
            by_name = {r.region: r for r in second.regions}
            east = by_name["us-east-1"]
            assert east.target == "us-central1"
            assert (
                len(east.reasons) == 1
                and "us-central1 cannot add 4 instances: quota 'instances'" in east.reasons[0]
            )
            west = by_name["eu-west-1"]
            assert west.target is None
            assert west.reasons[0].startswith("no failover target qualifies (")
            assert "eu-central-1: replica lag unknown" in west.reasons[0]
            assert "europe-west1: replica lag unknown" in west.reasons[0]
            assert west.reasons[1] == "replica lag of eu-central-1 unknown (fail closed)"
            assert len(west.reasons) == 2

            described = await ts_env.client.get_workflow_handle(second.workflow_id).describe()
            published = described.typed_search_attributes
            assert set(published.get(sa.NOT_READY) or []) == set(second.not_ready)
            assert published.get(sa.STATUS) == "not_ready"

            # One notification per change: 8 for the first evaluation, 2 for the second; delivered by
            # workflows the evaluations started and left running, so while the worker still runs.
            received = await poll(lambda: _at_least(rx.events("/events"), 10), "10 notifications")
        assert len(received) == 10 and {e["kind"] for e in received} == {"standing_readiness_changed"}
        later = [e for e in received if e["workflow_id"] == second.workflow_id]
        assert sorted((e["region"], e["status"]) for e in later) == [
            ("eu-west-1", "not_ready"),
            ("us-east-1", "not_ready"),
        ]
        assert any(
            "us-east-1 ready → not ready: us-central1 cannot add 4 instances" in e["message"] for e in later
        )
