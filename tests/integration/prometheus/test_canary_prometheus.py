"""Canary rollouts on the sim whose analysis reads a real Prometheus (`analysis.provider: prometheus`).

The real workflows and activities run on a Temporal dev server, not the time-skipping test server: the
analysis reads [now - window, now] of Prometheus in wall-clock time, so the canary's bake must take
wall-clock time too for Prometheus to gather the canary's points. One canary step at 50 % bakes
STEP_BAKE_S (12 s), then one analysis run reads the last WINDOW_S (12 s) at 1 s steps and needs
MIN_SAMPLES (6) points. Three rollouts run at once, each of its own service on a one-region topology:

* checkout to the bad release (30 % errors, +400 ms) is caught by the analysis and rolled back;
* search to a good release passes it and is promoted;
* cart to the good release in a region whose metrics do not arrive gets no data, never a pass: the
  region waits for a decision, nobody answers within health.no_data_deadline (2 s), it is rolled back.

About 20 s of wall-clock time in all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Topology
from contracts.rollout import RolloutProgress, RolloutRequest
from tests.helpers.prometheus import (
    BAD,
    EXPORTED,
    GAPPED,
    GOOD,
    MIN_SAMPLES,
    canary_policies,
    only,
)
from tests.helpers.temporal import make_worker

pytestmark = pytest.mark.slow


async def test_a_canary_analysed_with_promql_catches_a_bad_release_and_promotes_a_good_one(
    real_clock_env: WorkflowEnvironment,
    prom_sim: SimCloud,
    prometheus: str,
    prom_topology: Topology,
    executor: concurrent.futures.Executor,
) -> None:
    policies = canary_policies(prometheus)
    assert policies.analysis.provider == "prometheus"

    def request(service: str, release: str, region: str) -> RolloutRequest:
        return RolloutRequest(
            service=service,
            release=release,
            request_id=f"prom-{service}",
            topology=only(prom_topology, region),
            policies=policies,
            strategy="canary",
        )

    requests = [
        request("checkout", BAD, EXPORTED),
        request("search", GOOD, EXPORTED),
        request("cart", GOOD, GAPPED),
    ]
    async with make_worker(real_clock_env.client, prom_sim, executor, prom_topology.default_task_queue):
        handles = [await start_rollout(real_clock_env.client, r) for r in requests]
        bad, good, blind = await asyncio.gather(*(h.result() for h in handles))

    assert_caught(bad, prom_sim)
    assert_promoted(good, prom_sim)
    assert_no_data(blind, prom_sim)


def assert_caught(result: RolloutProgress, sim: SimCloud) -> None:
    """The bad release: the analysis of its canary fails on the error rate and p99 Prometheus reports."""
    assert result.status == "rolled_back", result.reason
    region = result.region(EXPORTED)
    [run] = region.analysis
    assert run.verdict == "fail", run.reasons
    assert run.samples >= MIN_SAMPLES
    assert run.metrics["error_rate"]["canary_mean"] > 0.2  # type: ignore[operator]
    assert any(reason.startswith("error rate") for reason in run.reasons), run.reasons
    assert any(reason.startswith("p99") for reason in run.reasons), run.reasons
    state = sim.region_state("checkout", EXPORTED)
    assert (state.canary_instances, state.canary_weight, state.releases) == (0, 0.0, {"1.0.0": 4})


def assert_promoted(result: RolloutProgress, sim: SimCloud) -> None:
    """The good release: its canary looks like the baseline in Prometheus, so it passes and is promoted."""
    assert result.status == "succeeded", result.reason
    [run] = result.region(EXPORTED).analysis
    assert run.verdict == "pass", run.reasons
    assert not run.no_data and run.samples >= MIN_SAMPLES
    assert run.metrics["error_rate"]["canary_mean"] < 0.01  # type: ignore[operator]
    state = sim.region_state("search", EXPORTED)
    assert (state.canary_instances, state.releases) == (0, {GOOD: 4})


def assert_no_data(result: RolloutProgress, sim: SimCloud) -> None:
    """A region Prometheus has no series of: no data, which never passes; nobody answered, so it failed."""
    assert result.status == "rolled_back", result.reason
    [run] = result.region(GAPPED).analysis
    assert run.no_data and run.samples == 0
    assert run.verdict != "pass"
    assert "no metrics arrived" in run.reasons[0]
    assert sim.region_state("cart", GAPPED).releases == {"1.0.0": 4}
