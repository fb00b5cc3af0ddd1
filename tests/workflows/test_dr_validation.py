"""Restores validated by the user's HTTP hook (dr.validation), on the time-skipping server and the sim.

The hook is a local receiver: it answers the restored data's watermark. An answer at least the
snapshot's passes; an old watermark, an answer without one and no answer at all fail `dr validate`,
`dr recover` (before any traffic moves) and the drill, with the reason; the hook's secret never
reaches the workflow's history.
"""

from __future__ import annotations

import concurrent.futures
import json

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from config.dr import ValidationHook
from config.models import Policies, Topology
from tests.helpers.dr_runs import SERVICE, backup, on_queue, recover, recovery, run_drill, with_dr
from tests.helpers.receiver import Receiver
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes

SOURCE, TARGET = "eu-west-1", "eu-central-1"
SECRET = "s3cr3t-validation-token"  # noqa: S105 - a test value; the test checks no history holds it


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def validated(policies: Policies, url: str, **hook: object) -> Policies:
    return with_dr(policies, validation=ValidationHook.model_validate({"url": url, "timeout": 2, **hook}))


def snapshot_watermark(sim: SimCloud) -> int:
    copies = [s for s in sim.list_snapshots(SERVICE, TARGET) if s.source_region == SOURCE]
    return max(copies, key=lambda s: s.taken_at).watermark


async def test_validate_passes_with_a_current_watermark_and_fails_with_an_old_one(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topo = on_queue(topology, unique_queue())
    monkeypatch.setenv("VALIDATION_TOKEN", SECRET)
    with Receiver() as rx:
        pols = validated(policies, rx.url("/check/${VALIDATION_TOKEN}"), expect="data.watermark")
        async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
            await backup(ts_env, topo, policies, regions=[SOURCE])
            mark = snapshot_watermark(sim)
            rx.answer(f"/check/{SECRET}", 200, json.dumps({"data": {"watermark": mark}}))
            good = await recover(
                ts_env,
                recovery(topo, pols, SOURCE, TARGET, mode="validate", env="validate-ok"),
                f"dr-validate:{SERVICE}:{TARGET}:ok",
            )
            rx.answer(f"/check/{SECRET}", 200, json.dumps({"data": {"watermark": mark - 1}}))
            old = await recover(
                ts_env,
                recovery(topo, pols, SOURCE, TARGET, mode="validate", env="validate-old"),
                f"dr-validate:{SERVICE}:{TARGET}:old",
            )
            history = await ts_env.client.get_workflow_handle(old.workflow_id).fetch_history()
    assert good.status == "succeeded" and good.validation_ok and good.validated_watermark == mark, good.reason
    assert old.status == "failed" and old.validation_ok is False and old.validated_watermark == mark - 1
    assert old.reason == (
        f"validation: validation hook http://127.0.0.1:{rx.port}/check/${{VALIDATION_TOKEN}}:"
        f" the restored data's watermark {mark - 1} is older than the snapshot's {mark}"
    )
    body = rx.at(f"/check/{SECRET}")[0].json()
    assert (
        body["snapshot_watermark"] == mark
        and body["env"] == "validate-ok"
        and body["operation"] == "dr-validate"
    )
    assert body["volume_id"] and body["instances"] == [] and body["region"] == TARGET
    assert SECRET not in history.to_json()
    assert sim.resources(SERVICE) == []  # both validations removed their volume


async def test_an_unreachable_or_unparseable_hook_fails_closed(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    with Receiver() as rx:
        rx.answer("/text", 200, "all good")
        rx.answer("/down", 503, "maintenance")
        async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
            await backup(ts_env, topo, policies, regions=[SOURCE])
            reports = {}
            for path in ("/text", "/down"):
                reports[path] = await recover(
                    ts_env,
                    recovery(
                        topo, validated(policies, rx.url(path)), SOURCE, TARGET, mode="validate", env="v-x"
                    ),
                    f"dr-validate:{SERVICE}:{TARGET}{path}",
                )
            rx.hang("/hang")
            reports["/hang"] = await recover(
                ts_env,
                recovery(
                    topo,
                    validated(policies, rx.url("/hang"), retries=1, timeout=0.5),
                    SOURCE,
                    TARGET,
                    mode="validate",
                    env="v-h",
                ),
                f"dr-validate:{SERVICE}:{TARGET}/hang",
            )
    assert all(r.status == "failed" and r.validation_ok is False for r in reports.values())
    assert "no watermark in the answer (the answer is not JSON: all good)" in (reports["/text"].reason or "")
    assert reports["/down"].reason == f"validation: validation hook {rx.url('/down')}: HTTP 503: maintenance"
    assert (reports["/hang"].reason or "").endswith("(after 2 attempts)")
    assert sim.resources(SERVICE) == []


async def test_recover_validates_before_moving_traffic_and_the_drill_fails_on_an_old_watermark(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    topo = on_queue(topology, unique_queue())
    with Receiver() as rx:
        async with make_worker(ts_env.client, sim, executor, topo.default_task_queue):
            await backup(ts_env, topo, policies, regions=[SOURCE])
            mark = snapshot_watermark(sim)
            rx.answer("/v", 200, json.dumps({"watermark": mark - 60_000}))
            pols = validated(policies, rx.url("/v"))
            drilled = await run_drill(ts_env, topo, pols, [SOURCE])
            weights = dict(sim.traffic(SERVICE).weights)
            refused = await recover(
                ts_env, recovery(topo, pols, SOURCE, TARGET), f"dr:{SERVICE}:{SOURCE}:old"
            )
            assert sim.traffic(SERVICE).weights == weights  # never served: undone before the shift
            rx.answer("/v", 200, json.dumps({"watermark": mark}))
            served = await recover(ts_env, recovery(topo, pols, SOURCE, TARGET), f"dr:{SERVICE}:{SOURCE}:ok")
    assert drilled.verdict == "fail" and drilled.regions[0].status == "failed"
    assert f"older than the snapshot's {mark}" in (drilled.regions[0].reason or "")
    assert drilled.leftover_resources == 0
    assert refused.status == "failed" and "validation:" in (refused.reason or "")
    assert served.status == "succeeded" and served.validation_ok, served.reason
    drill_call, recover_call = rx.at("/v")[0].json(), rx.at("/v")[-1].json()
    assert (
        drill_call["operation"] == "dr-drill"
        and len(drill_call["instances"]) == topo.region(SOURCE).instances
    )
    assert recover_call["operation"] == "dr-recover" and recover_call["env"] == "prod"
    assert sim.traffic(SERVICE).weights[SOURCE] == 0  # the validated recovery serves
