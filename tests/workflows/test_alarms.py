"""Alarms people already have stop a rollout: on the time-skipping server, real activities, a real sim.

A sim alarm listed in policies.alarms.sim that fires during the core wave's bake rolls the rollout
back (per rollback_all: every region deployed so far, back on the old release), naming the alarm;
one that fires before a region's health gate fails that gate like a health breach.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.rollout import RolloutRequest
from tests.helpers.polling import rollout_until
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes

ALARM = "checkout-5xx"
CORE = [
    "us-east-1",
    "us-west-2",
    "us-central1",
    "eu-west-1",
    "eu-central-1",
    "europe-west1",
    "ap-southeast-1",
    "ap-northeast-1",
]


@pytest.fixture
def topology(topology: Topology) -> Topology:
    """A task queue of each test's own: no worker of another test on this server can take its tasks."""
    return topology.model_copy(update={"default_task_queue": unique_queue()})


@pytest.fixture(autouse=True)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


def watching(policies: Policies, interval: float = 300.0) -> Policies:
    """The shipped policies (2 h core bake, rollback_all), with the sim alarm ALARM listed."""
    alarms = policies.alarms.model_copy(update={"sim": [ALARM], "interval": interval})
    return policies.model_copy(update={"alarms": alarms})


wait_until = rollout_until


def request(topology: Topology, policies: Policies) -> RolloutRequest:
    return RolloutRequest.model_validate(
        {
            "service": "checkout",
            "release": "2.0.0",
            "request_id": "alarms",
            "topology": topology,
            "policies": policies,
        }
    )


async def test_an_alarm_during_the_core_bake_rolls_back_and_names_it(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        handle = await start_rollout(ts_env.client, request(topology, watching(policies)))
        baking = await wait_until(ts_env, handle, lambda p: p.phase.startswith("baking after core"))
        deployed = list(baking.deploy_order)
        assert sorted(deployed) == sorted(CORE)
        assert {row["release"] for row in sim.status("checkout") if row["region"] in deployed} == {"2.0.0"}
        sim.set_alarm(ALARM, "eu-west-1")
        result = await handle.result()
    assert result.status == "rolled_back", result.reason
    assert result.reason == f"alarm {ALARM} is firing in eu-west-1 (sim) during the bake after core"
    assert result.region("eu-west-1").detail.startswith(f"alarm {ALARM} is firing in eu-west-1 (sim)")
    # rollback_all: every region deployed so far is back on the old release; no edge region was touched.
    assert set(result.compensation_order) == set(deployed)
    assert {row["release"] for row in sim.status("checkout")} == {"1.0.0"}
    assert result.deploy_order == deployed  # no edge region was touched


async def test_an_alarm_before_a_region_gate_fails_the_gate_naming_it(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.set_alarm(ALARM, "us-east-1")  # the pilot: its first health gate sees it
    sim.set_alarm("not-listed")  # an alarm the policies do not name is nobody's business
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        result = await (await start_rollout(ts_env.client, request(topology, watching(policies)))).result()
    assert result.status == "rolled_back", result.reason
    assert result.deploy_order == ["us-east-1"]
    pilot = result.region("us-east-1")
    assert [g.passed for g in pilot.gates] == [False]
    assert pilot.gates[0].reasons == [f"alarm {ALARM} is firing in us-east-1 (sim)"]
    assert pilot.detail.startswith("health gate failed at "), pilot.detail
    assert f"alarm {ALARM} is firing in us-east-1 (sim)" in result.reason
    assert {row["release"] for row in sim.status("checkout")} == {"1.0.0"}


async def test_an_alarm_elsewhere_or_unlisted_lets_the_rollout_succeed(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    sim.set_alarm("not-listed")
    async with make_worker(ts_env.client, sim, executor, topology.default_task_queue):
        result = await (await start_rollout(ts_env.client, request(topology, watching(policies)))).result()
    assert result.status == "succeeded", result.reason
    assert {row["release"] for row in sim.status("checkout")} == {"2.0.0"}
