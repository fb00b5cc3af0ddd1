"""Worker crashes inside GCP calls: SIGKILL the worker while a Compute call is in flight, on the test server.

The `dev up` worker runs the GCP adapter (the real google-cloud-compute client over HTTP) against
the local Compute test server for three regions (us-central1, europe-west1, asia-southeast1), the
other thirteen on the sim. The test server makes an armed mutating call and holds the answer; the
worker is killed then, restarted, and the answer released to nobody. The retry sends the same
requestId, which the server de-duplicates as the real API does. Seven kills, all inside a call:

* rollout (3): a MIG's template set, two batches recreated; each GCP region runs exactly its instances.
* failover us-central1 -> europe-west1 (2): the target MIG's resize (pre-scale), the backend service's
  weights patch; traffic moves once, the target is pre-scaled once.
* drill of asia-southeast1 into europe-west1 (2): the disk made from the snapshot, a drill instance
  made; the verdict is pass, nothing of the drill is left, production is untouched.

Residency is off in this topology (tests/helpers/gcp.py): the three GCP regions are in three
jurisdictions, and the GCP traffic manager only knows GCP backends.

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
CENTRAL, EUROPE, ASIA = GCP_REGIONS


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
    return InCall(name, action, lambda: GCP_HOLD.arm(action), GCP_HOLD.held, GCP_HOLD.release)


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


@pytest.fixture(scope="module")
def gcp_kills() -> KillLog:
    return KillLog()


def in_calls(log: KillLog, operation: str) -> list[str]:
    return [k.point for k in log.kills if k.operation == operation and k.in_flight == "in-call"]


def sizes(env: GcpDevEnv) -> dict[str, int]:
    """Instances of each GCP region's stable MIG (managed instances listed by the API)."""
    return {r: env.gcp.region_state(SERVICE, r).instances for r in GCP_REGIONS}


async def test_rollout_on_gcp_completes_after_worker_kills_inside_compute_calls(
    gcp_env: GcpDevEnv, gcp_kills: KillLog
) -> None:
    env, log = gcp_env, gcp_kills
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
    assert len(in_calls(log, "rollout")) == 3


async def test_failover_on_gcp_completes_after_worker_kills_inside_compute_calls(
    gcp_env: GcpDevEnv, gcp_kills: KillLog
) -> None:
    env, log = gcp_env, gcp_kills
    before = env.gcp.traffic(SERVICE).weights
    assert before[CENTRAL] > 0, before
    wid = f"failover:{SERVICE}:{CENTRAL}"
    started = env.run("failover", "start", "--service", SERVICE, "--from", CENTRAL, "--to", EUROPE)
    assert started.returncode == 0, started.stdout + started.stderr
    await crash_at(
        env,
        log,
        "failover",
        wid,
        [
            gcp_in_call("POST resize", f"in call: {EUROPE} MIG resized (pre-scale), held"),
            gcp_in_call("PATCH backendServices", "in call: backend weights patched, answer held"),
        ],
    )
    assert await finished(env, wid) == COMPLETED
    report = ok_json(env, "failover", "status", wid, "--json")
    assert report["status"] == "succeeded", report
    moved = before[CENTRAL]
    expected = {r: 0.0 if r == CENTRAL else w + moved if r == EUROPE else w for r, w in before.items()}
    assert env.gcp.traffic(SERVICE).weights == pytest.approx(expected)  # moved once, not twice
    shifted = [s for s in report["steps"] if s.startswith("traffic shifted")]
    scaled = [s for s in report["steps"] if f"{EUROPE}: pre-scaled" in s]
    assert len(shifted) == 1 and len(scaled) == 1, report["steps"]  # once each, not once per restart
    words = scaled[0].split()  # "europe-west1: pre-scaled 4 → 8 instances"
    was, needed = int(words[-4]), int(words[-2])
    assert was == 4 < needed, scaled
    assert sizes(env) == {CENTRAL: 4, EUROPE: needed, ASIA: 4}  # the MIGs: nothing made twice
    print("\n" + log.summary("failover"))
    assert len(in_calls(log, "failover")) == 2


async def test_drill_on_gcp_cleans_up_after_worker_kills_inside_compute_calls(
    gcp_env: GcpDevEnv, gcp_kills: KillLog
) -> None:
    env, log = gcp_env, gcp_kills
    # asia-southeast1 recovers into europe-west1 (GCP_BACKUP); both keep their traffic whatever ran before.
    backup = ok_json(env, "backup", "run", "--service", SERVICE, "--region", ASIA, "--wait", "--json")
    assert backup["status"] == "succeeded", backup
    instances, weights = sizes(env), env.gcp.traffic(SERVICE).weights
    snapshots = {r: sorted(s.id for s in env.gcp.list_snapshots(SERVICE, r)) for r in GCP_REGIONS}
    started = ok_json(env, "drill", "run", "--service", SERVICE, "--region", ASIA, "--json")
    wid = started["workflow_id"]
    await crash_at(
        env,
        log,
        "drill",
        wid,
        [
            gcp_in_call("POST disks", f"in call: {EUROPE} disk made from the snapshot, held"),
            gcp_in_call("POST instances", f"in call: {EUROPE} drill instance made, held"),
        ],
    )
    await finished(env, wid)
    report = await (await env.connect()).get_workflow_handle(wid).query("report")
    assert report["verdict"] == "pass", report
    assert report["leftover_resources"] == 0
    assert env.gcp.list_resources(SERVICE) == []  # no drill disk or instance left, in any GCP region
    assert sizes(env) == instances  # production untouched: its MIGs and its traffic
    assert env.gcp.traffic(SERVICE).weights == weights
    assert {r: sorted(s.id for s in env.gcp.list_snapshots(SERVICE, r)) for r in GCP_REGIONS} == snapshots
    print("\n" + log.summary("drill"))
    assert len(in_calls(log, "drill")) == 2
