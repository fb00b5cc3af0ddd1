"""Worker crashes inside GCP calls: SIGKILL the worker while a Compute call is in flight, on the test server.

The `dev up` worker runs the GCP adapter (the real google-cloud-compute client over HTTP) against
the local Compute test server for three regions (us-central1, europe-west1, asia-southeast1), the
other thirteen on the sim. During a rollout the test server makes an armed mutating call (a MIG's
template set, its instances recreated) and holds the answer; the worker is killed then, restarted,
and the answer released to nobody. The retry sends the same requestId, which the server de-duplicates
as the real API does: the rollout succeeds and each GCP region runs exactly its instances.

Run: .venv/bin/python -m pytest tests/e2e/test_crash_gcp.py -q -s   (-s prints the kill log)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from activities.clouds.gcp import GcpCloud
from config.loader import load_topology
from config.models import Topology
from tests.helpers.crash import (
    COMPLETED,
    DevEnv,
    InCall,
    KillLog,
    crash_at,
    crash_policies,
    finished,
    ok_json,
    running,
)
from tests.helpers.gcp import GCP_REGIONS, SERVICE, gcp_topology
from tests.helpers.gcp_server import ComputeTestServer
from tests.helpers.inflight import GCP_HOLD

pytestmark = pytest.mark.e2e


class GcpDevEnv(DevEnv):
    """A `dev up` environment whose worker and CLI use three GCP regions on the Compute test server."""

    def __init__(self, home: Path, policies: Path, topology: Topology) -> None:
        super().__init__(home, policies)
        self.topology = topology
        path = home / "topology.yaml"
        path.write_text(yaml.safe_dump(topology.model_dump(mode="json")), encoding="utf-8")
        self.env["GLOBALOPS_TOPOLOGY"] = str(path)
        self.configured = {r.name: r.instances for r in topology.regions}
        self.gcp = GcpCloud(topology)


def gcp_in_call(action: str, name: str) -> InCall:
    """An in-call kill point on the Compute test server: the next `action` (e.g. POST recreateInstances)."""
    return InCall(name, lambda: GCP_HOLD.arm(action), GCP_HOLD.held, GCP_HOLD.release)


@pytest_asyncio.fixture(scope="module")
async def gcp_env(
    tmp_path_factory: pytest.TempPathFactory, gcp_server: ComputeTestServer
) -> AsyncIterator[GcpDevEnv]:
    gcp_server.reset()
    topology = gcp_topology(load_topology(), gcp_server)
    GcpCloud(topology).bootstrap_topology()  # template, stable MIG, data disk, backend service per region
    home = tmp_path_factory.mktemp("globalops-gcp-home")
    policies = crash_policies(tmp_path_factory.mktemp("policies"))
    with running(GcpDevEnv(home, policies, topology)) as env:
        yield env


async def test_rollout_on_gcp_completes_after_worker_kills_inside_compute_calls(gcp_env: GcpDevEnv) -> None:
    env, log = gcp_env, KillLog()
    for region in GCP_REGIONS:
        assert env.gcp.region_state(SERVICE, region).releases == {"1.0.0": 4}, region
    started = env.run("rollout", "start", "--service", SERVICE, "--release", "2.0.0")
    assert started.returncode == 0, started.stdout + started.stderr
    # us-central1 is in the core wave, europe-west1 too, asia-southeast1 at the edge: the armed calls
    # land in whichever GCP region makes the next one.
    await crash_at(
        env,
        log,
        "rollout",
        f"rollout:{SERVICE}",
        [
            gcp_in_call("POST setInstanceTemplate", "in call: a MIG's template set, answer held"),
            gcp_in_call("POST recreateInstances", "in call: a batch recreated, answer held"),
            gcp_in_call("POST recreateInstances", "in call: another batch recreated, answer held"),
        ],
    )
    assert await finished(env, f"rollout:{SERVICE}") == COMPLETED
    status = ok_json(env, "rollout", "status", SERVICE, "--json")
    assert status["status"] == "succeeded", status
    for region in GCP_REGIONS:  # every GCP region on 2.0.0 with exactly its instances: nothing twice
        state = env.gcp.region_state(SERVICE, region)
        assert state.releases == {"2.0.0": 4} and state.canary_instances == 0, (region, state)
    print("\n" + log.summary("rollout"))
    on_sim = {r: rel for r, rel in env.releases().items() if r not in GCP_REGIONS}
    assert len(on_sim) == 13 and all(rel == {"2.0.0"} for rel in on_sim.values()), on_sim
    assert env.instance_counts() == env.configured  # the sim: nothing twice either
    assert [k.in_flight for k in log.kills] == ["in-call"] * 3
