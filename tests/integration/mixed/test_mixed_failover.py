"""A failover in the mixed topology (AWS on moto, GCP on the local Compute server, the sim) stays on
the failed region's provider: without a global traffic layer no other provider's traffic manager
knows its regions (issue 18). Before, us-east-1 (AWS) chose us-central1 (GCP) on a latency tie and
failed after pre-scaling with NotFound."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from config.models import Topology
from contracts.failover import FailoverReport, FailoverRequest
from tests.helpers.aws.workflow_runs import fast_policies
from tests.helpers.gcp_server.server import ComputeTestServer
from tests.helpers.mixed import mixed_clouds, mixed_worker
from workers.client import register_search_attributes
from workflows.failover import RegionFailoverWorkflow

pytestmark = pytest.mark.slow

SERVICE = "checkout"
FAILED = "us-east-1"
NO_REACH = "can only move within aws (no global traffic layer)"


def with_residency(topo: Topology) -> Topology:
    """Residency on, as in the default topology: us-east-1's group is us-west-2 (sim) and
    us-central1 (GCP), which ties us-west-2 at 25 ms and would win the tie by name."""
    services = [s.model_copy(update={"data_residency": True}) for s in topo.services]
    return topo.model_copy(update={"services": services})


@pytest.mark.parametrize("residency", [True, False], ids=["residency", "no-residency"])
async def test_a_failover_of_an_aws_region_never_picks_another_provider(
    ts_env: WorkflowEnvironment,
    moto_endpoint: str,
    gcp_server: ComputeTestServer,
    tmp_path: Path,
    topology: Topology,
    residency: bool,
) -> None:
    await register_search_attributes(ts_env.client)
    topo, registry = mixed_clouds(topology, moto_endpoint, gcp_server, tmp_path)
    if residency:
        topo = with_residency(topo)
    aws, gcp = registry.get("aws"), registry.get("gcp")
    weights_before = aws.traffic(SERVICE).weights
    central_before = gcp.region_state(SERVICE, "us-central1")
    request = FailoverRequest(
        service=SERVICE,
        from_region=FAILED,
        topology=topo,
        policies=fast_policies(),
        request_id=uuid.uuid4().hex[:8],
    )
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        async with mixed_worker(ts_env.client, topo, registry, pool):
            report: FailoverReport = await ts_env.client.execute_workflow(
                RegionFailoverWorkflow.run,
                request,
                id=f"failover:{SERVICE}:{FAILED}:{uuid.uuid4().hex[:6]}",
                task_queue=topo.default_task_queue,
            )

    reasons = {r.region: r.reason for r in report.rejected_candidates}
    assert reasons["us-central1"] == f"on gcp: traffic of {FAILED} (aws) {NO_REACH}"
    assert report.to_region != "us-central1"
    assert gcp.region_state(SERVICE, "us-central1") == central_before  # never pre-scaled
    if residency:
        # us-east-1's group has no other AWS region: refused before any step, nothing changed
        assert report.status == "refused", report
        assert report.to_region is None
        assert reasons["us-west-2"] == f"on sim: traffic of {FAILED} (aws) {NO_REACH}"
        assert reasons["eu-west-1"] == "jurisdiction EU is outside group US (data residency)"
        assert report.steps == [] and report.weights_after == {}
        assert aws.traffic(SERVICE).weights == weights_before
    else:
        # every other region is a candidate: the only other AWS one, eu-west-1, takes the traffic
        assert report.status == "succeeded", report.reason
        assert report.to_region == "eu-west-1"
        assert set(reasons) == {r.name for r in topo.regions} - {FAILED, "eu-west-1"}
        assert all(NO_REACH in reason for reason in reasons.values())
        after = aws.traffic(SERVICE).weights
        assert after[FAILED] == 0 and after["eu-west-1"] == pytest.approx(sum(weights_before.values()))
