"""Notifications and webhook gates on the time-skipping server, against a local HTTP receiver.

A driver workflow (tests/helpers/notify_driver.py) calls the real `notify` and `run_hooks`; the real
activities send through Apprise (json://) and urllib to tests/helpers/receiver.py.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.models import Policies
from config.notify import Hook, Hooks, Notification
from contracts import ids
from contracts.notify import NotifyResult
from tests.helpers.breaks import Break, broken_activities
from tests.helpers.notify_driver import DriverInput, DriverResult, NotifyDriverWorkflow
from tests.helpers.ports import free_port
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workflows.notify import wanted

ALL = ["started", "succeeded", "failed"]


def _policies(
    policies: Policies, sinks: list[Notification], pre_region: list[Hook] | None = None
) -> Policies:
    return policies.model_copy(update={"notifications": sinks, "hooks": Hooks(pre_region=pre_region or [])})


def _sink(rx: Receiver, path: str = "/events", events: list[str] | None = None) -> Notification:
    return Notification.model_validate({"url": rx.url(path, scheme="json"), "events": events or ALL})


@dataclass
class Drive:
    workflow_id: str
    result: DriverResult
    delivered: list[NotifyResult]  # each event's NotifyWorkflow, waited for (the driver never did)


async def _drive(
    env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    policies: Policies,
    activities: list[Any] | None = None,
) -> Drive:
    queue = unique_queue()
    wid = f"drive:{uuid.uuid4().hex[:8]}"
    inp = DriverInput(policies=policies, operation_key=f"rollout:checkout/{wid[6:]}")
    async with make_worker(env.client, sim, executor, queue, [NotifyDriverWorkflow], activities):
        result = await env.client.execute_workflow(NotifyDriverWorkflow.run, inp, id=wid, task_queue=queue)
        delivered = [
            await env.client.get_workflow_handle(ids.notification_id(eid), result_type=NotifyResult).result()
            for eid in result.event_ids
            if wanted(policies.notifications, eid.rsplit("/", 1)[1])
        ]
    return Drive(wid, result, delivered)


async def test_each_event_reaches_its_sinks_once_and_a_2xx_hook_passes(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    with Receiver() as rx:
        sinks = [_sink(rx), _sink(rx, "/failures-only", ["failed"])]
        hooks = [Hook(url=rx.url("/gate"), timeout=5)]
        run = await _drive(ts_env, sim, executor, _policies(policies, sinks, hooks))
        wid, result, delivered = run.workflow_id, run.result, run.delivered
        key = f"rollout:checkout/{wid[6:]}"

        assert result.reason is None
        assert result.event_ids == [f"{key}/started", f"{key}/succeeded"]
        assert [d.sent for d in delivered] == [[0], [0]] and not any(d.failed for d in delivered)
        received = rx.notifications("/events")
        assert sorted(e["id"] for e in received) == sorted(result.event_ids)  # each once, no dedupe needed
        received.sort(key=lambda e: result.event_ids.index(e["id"]))
        started = received[0]
        assert started["kind"] == "started" and started["operation"] == "rollout"
        assert [started[k] for k in ("service", "release", "region")] == ["checkout", "2.0.0", "eu-west-1"]
        assert started["workflow_id"] == wid and "checkout 2.0.0 started" in started["message"]
        assert received[1]["status"] == "succeeded"
        assert rx.at("/failures-only") == []  # a sink gets only the events it asked for

        [gate] = rx.at("/gate")
        assert gate.headers["Idempotency-Key"] == f"{key}/eu-west-1/pre_region[0]"
        assert gate.json() == {
            "stage": "pre_region",
            "operation": "rollout",
            "workflow_id": wid,
            "service": "checkout",
            "release": "2.0.0",
            "region": "eu-west-1",
            "step": "before-change",
            "key": f"{key}/eu-west-1/pre_region[0]",
        }


async def test_a_dead_sink_neither_fails_nor_delays_the_operation_or_the_other_sinks(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    # Gives up after 3 s (a few attempts): the test server does not skip time while an activity retries.
    dead = Notification.model_validate(
        {"url": f"json://127.0.0.1:{free_port()}/nobody", "events": ALL, "give_up_after": "3s"}
    )
    with Receiver() as rx:
        pols = _policies(policies, [dead, _sink(rx)])
        queue = unique_queue()
        async with make_worker(ts_env.client, sim, executor, queue, [NotifyDriverWorkflow]):
            wid = f"drive:{uuid.uuid4().hex[:8]}"
            inp = DriverInput(policies=pols, operation_key=f"rollout:checkout/{wid[6:]}")
            handle = await ts_env.client.start_workflow(
                NotifyDriverWorkflow.run, inp, id=wid, task_queue=queue
            )
            result = await handle.result()
            delivered = [
                await ts_env.client.get_workflow_handle(
                    ids.notification_id(eid), result_type=NotifyResult
                ).result()
                for eid in result.event_ids
            ]

            assert result.reason is None  # the operation went on and succeeded
            for eid, outcome in zip(result.event_ids, delivered, strict=True):
                assert outcome.sent == [1]
                [failure] = outcome.failed
                assert failure.index == 0 and failure.url == dead.url
                assert failure.error.startswith(f"notification {dead.url} failed: "), failure.error
                assert "Connection error" in failure.error, failure.error

                notifier = ts_env.client.get_workflow_handle(ids.notification_id(eid))
                # The operation finished while the dead sink was still being retried ...
                closed = (await handle.describe()).close_time
                gave_up = (await notifier.describe()).close_time
                assert closed is not None and gave_up is not None and closed < gave_up
                # ... and the live sink had the event at once, while the dead one was still being retried.
                order = _activity_outcomes(await notifier.fetch_history())
                assert order[0] == ("completed", 1), order
                assert order[1][0] in ("failed", "timed out") and order[1][1] > 1, order  # retried, given up
        assert sorted(e["id"] for e in rx.events("/events")) == sorted(result.event_ids)


def _activity_outcomes(history: Any) -> list[tuple[str, int]]:
    """(outcome, attempts) of each activity of a NotifyWorkflow, in the order they closed."""
    attempts: dict[int, int] = {}
    outcomes: list[tuple[str, int]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempts[event.activity_task_started_event_attributes.scheduled_event_id] = (
                event.activity_task_started_event_attributes.attempt
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            outcomes.append(("completed", attempts[scheduled]))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            scheduled = event.activity_task_failed_event_attributes.scheduled_event_id
            outcomes.append(("failed", attempts[scheduled]))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            scheduled = event.activity_task_timed_out_event_attributes.scheduled_event_id
            outcomes.append(("timed out", attempts.get(scheduled, 0)))
    return outcomes


async def test_a_hook_answering_503_fails_the_gate_naming_the_hook_and_its_answer(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    with Receiver() as rx:
        rx.answer("/closed", 503, "maintenance until 14:00")
        hooks = [Hook(url=rx.url("/gate")), Hook(url=rx.url("/closed"), retries=3)]
        result = (await _drive(ts_env, sim, executor, _policies(policies, [_sink(rx)], hooks))).result

        assert result.reason == f"hook pre_region[1] {rx.url('/closed')}: HTTP 503: maintenance until 14:00"
        assert len(rx.at("/gate")) == 1 and len(rx.at("/closed")) == 1  # an answer is not retried
        kinds = {e["kind"]: e for e in rx.events()}
        assert sorted(kinds) == ["failed", "started"]
        assert kinds["failed"]["message"] == result.reason and kinds["failed"]["status"] == "failed"


async def test_a_hook_that_never_answers_is_retried_then_fails_the_gate(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    with Receiver() as rx:
        rx.hang("/slow")
        refused = f"http://127.0.0.1:{free_port()}/gate"
        hooks = [Hook(url=rx.url("/slow"), timeout=0.5, retries=2)]
        slow = (await _drive(ts_env, sim, executor, _policies(policies, [], hooks))).result
        hooks_down = [Hook(url=refused, retries=1)]
        down = (await _drive(ts_env, sim, executor, _policies(policies, [], hooks_down))).result

        assert slow.reason == (
            f"hook pre_region[0] {rx.url('/slow')}: no answer within 0.5s (after 3 attempts)"
        )
        assert len(rx.at("/slow")) == 3  # retries + 1 attempts
        assert down.reason is not None
        assert down.reason.startswith(f"hook pre_region[0] {refused}: no answer: "), down.reason
        assert down.reason.endswith("(after 2 attempts)"), down.reason


async def test_a_missing_variable_fails_at_once_naming_it_never_a_value(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    with Receiver() as rx:
        sink = Notification.model_validate(
            {"url": rx.url("/events?-token=${GLOBALOPS_UNSET_TOKEN}", "json"), "events": ALL}
        )
        hook = Hook(url=rx.url("/gate?token=${GLOBALOPS_UNSET_TOKEN}"))
        run = await _drive(ts_env, sim, executor, _policies(policies, [sink], [hook]))
        result, delivered = run.result, run.delivered

        assert result.reason == (
            f"hook pre_region[0] {hook.url}: "
            "environment variable GLOBALOPS_UNSET_TOKEN is not set on this worker"
        )
        assert rx.requests == []
        for outcome in delivered:
            [failure] = outcome.failed
            assert "environment variable GLOBALOPS_UNSET_TOKEN is not set" in failure.error
            notifier = ts_env.client.get_workflow_handle(ids.notification_id(outcome.event_id))
            assert _activity_outcomes(await notifier.fetch_history()) == [("failed", 1)]  # not retried


async def test_a_send_whose_completion_is_lost_repeats_its_event_id_and_the_receiver_dedupes(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    """The first send reaches the receiver, then its worker "dies" before reporting (a retryable failure
    raised after the work): Temporal sends again, with the same event id."""
    lost = Break("send_notification", nth=1, after=True, retryable=True)
    registry = CloudRegistry({"sim": lambda: sim})
    with Receiver() as rx:
        acts = broken_activities(registry, [lost])
        run = await _drive(ts_env, sim, executor, _policies(policies, [_sink(rx)]), acts)
        result, delivered = run.result, run.delivered

    assert lost.fired
    assert [d.sent for d in delivered] == [[0], [0]]
    raw = Counter(e["id"] for e in rx.notifications())
    assert set(raw) == set(result.event_ids) and sorted(raw.values()) == [1, 2]  # one event arrived twice
    assert sorted(e["id"] for e in rx.events()) == sorted(result.event_ids)  # once each after dedupe


async def test_an_event_no_sink_wants_starts_nothing(
    ts_env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor, policies: Policies
) -> None:
    with Receiver() as rx:
        run = await _drive(ts_env, sim, executor, _policies(policies, [_sink(rx, events=["frozen"])]))
    result = run.result
    history = await ts_env.client.get_workflow_handle(run.workflow_id).fetch_history()
    kinds = {e.event_type for e in history.events}
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in kinds
    assert rx.requests == [] and result.reason is None
