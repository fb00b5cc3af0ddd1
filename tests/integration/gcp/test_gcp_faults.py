"""With 20 % of Compute calls failing (429 / 503, before or after the change), operations still succeed."""

from __future__ import annotations

import concurrent.futures
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from config.models import Policies, Topology
from contracts.rollout import RolloutRequest
from tests.helpers.gcp import GCP_REGIONS, backup, drill, failover, gcp_worker
from tests.helpers.gcp_server import ComputeTestServer
from tests.helpers.retry_tally import count_retries


@pytest.mark.slow  # ~45 s: a full rollout, a failover, a backup and a drill under faults
async def test_rollout_failover_and_drill_complete_under_20_percent_api_errors(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    gcp_server.state.inject_faults(0.2, (429, 503))
    ids = {what: f"{what}:checkout:faults-{uuid.uuid4().hex[:6]}" for what in ("failover", "backup", "drill")}
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        rollout = await (
            await start_rollout(
                ts_env.client,
                RolloutRequest(
                    service="checkout",
                    release="2.0.0",
                    request_id=uuid.uuid4().hex[:6],
                    topology=gtopo,
                    policies=policies,
                ),
            )
        ).result()
        assert rollout.status == "succeeded", rollout.reason
        moved = await failover(ts_env, gtopo, policies, ids["failover"])
        assert moved.status == "succeeded", moved.reason
        made = await backup(ts_env, gtopo, policies, ["us-central1"], ids["backup"])
        assert made.status == "succeeded", made.reason
        report = await drill(ts_env, gtopo, policies, ["us-central1"], ids["drill"])
    faults, served = gcp_server.state.faults_injected, sum(gcp_server.state.calls.values())
    gcp_server.state.inject_faults(0.0)
    assert report.verdict == "pass", report.markdown
    assert report.leftover_resources == 0 and gcp.list_resources("checkout") == []
    assert faults > 30  # the faults really happened
    print(f"\ngcp: {faults} of {served} requests failed, each retried (the client's retry or Temporal)")
    for what, wid in [("rollout", "rollout:checkout"), *ids.items()]:
        tally = await count_retries(ts_env.client, wid)
        print(tally.line(f"gcp {what}"))
        assert tally.final_failures == 0, tally  # no activity gave up
    for region in GCP_REGIONS:
        assert set(gcp.region_state("checkout", region).releases) == {"2.0.0"}
    assert gcp_server.state.count("instanceGroupManagers") == 3  # no duplicate groups
    assert gcp_server.state.count("snapshots") == 2  # one original, one copy
    assert gcp.traffic("checkout").weights["us-central1"] == 0
