"""GCP health, canary metrics, replica lag and quotas read through the real clients from the local server.

The traffic model is off in most of these tests (`monitoring.generate = False`): every point a test
expects is one it wrote, shaped as GCP records it, and what nobody wrote is no data (None).
"""

from __future__ import annotations

import concurrent.futures
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.clouds.gcp import GcpCloud
from activities.clouds.sim import SimCloud
from activities.metrics import metrics_provider
from config.models import Policies, Topology
from contracts.errors import InvalidRequest
from contracts.rollout import RegionDeployInput
from tests.helpers.gcp import PROJECT, SERVICE, gcp_worker
from tests.helpers.gcp_monitoring import cpu, instances, latencies, lb_traffic, recent, replica_lag
from tests.helpers.gcp_server import ComputeTestServer
from workflows.region_deployment import RegionDeploymentWorkflow

REGION = "europe-west1"


@pytest.fixture
def quiet(gcp_server: ComputeTestServer, gcp: GcpCloud) -> GcpCloud:
    """The bootstrapped GCP regions, with only the points a test writes."""
    gcp_server.state.monitoring.generate = False
    return gcp


def test_health_reads_the_newest_period_of_the_regions_backends(
    quiet: GcpCloud, gcp_server: ComputeTestServer
) -> None:
    now, older = recent(30), recent(150)
    lb_traffic(gcp_server, REGION, "stable", now, ok=950, errors=50, latency=latencies({10: 90, 11: 10}))
    lb_traffic(gcp_server, REGION, "stable", older, ok=10, errors=990)  # an older period: not the sample
    lb_traffic(gcp_server, "us-central1", "stable", now, ok=1, errors=999)  # another region's backend
    for (zone, name), value in zip(
        instances(gcp_server, REGION, "stable"), (0.2, 0.4, 0.6, 0.8), strict=True
    ):
        cpu(gcp_server, zone, name, now, value)
    cpu(gcp_server, "us-central1-b", "checkout-stable-ffff", now, 1.0)  # not one of the region's instances

    sample = quiet.health(SERVICE, REGION)

    assert sample.source == "cloud-monitoring"
    assert (sample.healthy_instances, sample.instances) == (4, 4)
    assert sample.requests == 1000
    assert sample.error_rate == pytest.approx(0.05)  # 5xx / all of the newest period
    assert sample.latency_p99_ms == pytest.approx(1.4**10 + (1.4**11 - 1.4**10) * 0.9)  # from the buckets
    assert sample.cpu == pytest.approx(0.5)  # mean of the group's instances
    assert sample.missing() == []


def test_a_region_whose_metrics_did_not_arrive_reads_none_never_zero(quiet: GcpCloud) -> None:
    sample = quiet.health(SERVICE, REGION)
    assert (sample.error_rate, sample.latency_p99_ms, sample.cpu, sample.requests) == (None, None, None, None)
    assert sample.missing() == ["error rate", "p99 latency", "cpu", "request count"]
    assert sample.source == "cloud-monitoring"


def test_requests_without_latencies_leave_only_p99_missing(
    quiet: GcpCloud, gcp_server: ComputeTestServer
) -> None:
    lb_traffic(gcp_server, REGION, "stable", recent(), ok=100)
    sample = quiet.health(SERVICE, REGION)
    assert sample.error_rate == 0.0 and sample.requests == 100  # 100 requests, none failed: a real 0
    assert sample.latency_p99_ms is None and "p99 latency" in sample.missing()


def test_canary_and_stable_are_read_from_their_own_backends(
    quiet: GcpCloud, gcp_server: ComputeTestServer, sim: SimCloud
) -> None:
    for seconds_ago in (30, 90, 150):
        lb_traffic(
            gcp_server, REGION, "canary", recent(seconds_ago), ok=180, errors=20, latency=latencies({12: 10})
        )
        lb_traffic(gcp_server, REGION, "stable", recent(seconds_ago), ok=1000, latency=latencies({10: 10}))
    provider = metrics_provider("cloud_monitoring", quiet)

    canary = provider.series(SERVICE, REGION, "canary", "2.0.0", 300)
    stable = provider.series(SERVICE, REGION, "stable", "1.0.0", 300)

    assert canary.error_rate == pytest.approx([0.1, 0.1, 0.1]) and canary.requests == 600
    assert stable.error_rate == [0.0, 0.0, 0.0] and stable.requests == 3000
    assert canary.latency_p99_ms[0] > stable.latency_p99_ms[0]
    assert (canary.release, stable.release) == ("2.0.0", "1.0.0")
    with pytest.raises(InvalidRequest, match="GCP regions only"):
        metrics_provider("cloud_monitoring", sim)


def test_replica_lag_is_none_unless_configured_and_reported(
    quiet: GcpCloud, gcp_server: ComputeTestServer, gtopo: Topology
) -> None:
    asked = gcp_server.state.monitoring.requests
    assert quiet.replica_lag(SERVICE, REGION) is None  # no replica_database: unknown, and nothing asked
    assert gcp_server.state.monitoring.requests == asked

    database = f"{PROJECT}:checkout-replica-eu"
    region = gtopo.region(REGION)
    assert region.gcp is not None
    cfg = region.gcp.model_copy(update={"replica_database": database})
    regions = [r.model_copy(update={"gcp": cfg}) if r.name == REGION else r for r in gtopo.regions]
    cloud = GcpCloud(gtopo.model_copy(update={"regions": regions}))
    assert cloud.replica_lag(SERVICE, REGION) is None  # configured, but no point arrived
    replica_lag(gcp_server, database, recent(900), 1.0)
    assert cloud.replica_lag(SERVICE, REGION) is None  # older than the window: no data
    replica_lag(gcp_server, database, recent(30), 4.5)
    assert cloud.replica_lag(SERVICE, REGION) == 4.5


def test_a_metrics_url_stays_an_option(gcp_server: ComputeTestServer, gtopo: Topology) -> None:
    gcp_server.reset()
    regions = []
    for r in gtopo.regions:
        if r.gcp is not None:
            r = r.model_copy(
                update={"gcp": r.gcp.model_copy(update={"metrics_url": gcp_server.metrics_url()})}
            )
        regions.append(r)
    cloud = GcpCloud(gtopo.model_copy(update={"regions": regions}))
    cloud.bootstrap_topology()
    gcp_server.state.monitoring.generate = False  # not read: the metrics_url replaces Cloud Monitoring
    sample = cloud.health(SERVICE, REGION)
    assert sample.source == "metrics-url" and sample.missing() == []


def test_a_short_cpu_quota_fails_preflight_naming_it(quiet: GcpCloud, gcp_server: ComputeTestServer) -> None:
    # 4 × e2-small (2 vCPUs) run in the region: 8 in use, plus 12 used by something else.
    gcp_server.state.set_quota(PROJECT, REGION, "CPUS", 24, other_usage=12)

    fits = quiet.preflight(SERVICE, REGION, "2.0.0", surge=2)  # 4 vCPUs of 4 free
    short = quiet.preflight(SERVICE, REGION, "2.0.0", surge=4)

    assert fits.ok and fits.checks["quota_cpus"] and fits.checks["quota_instances"]
    assert not short.ok and not short.checks["quota_cpus"] and short.checks["quota_instances"]
    assert short.problems == [f"quota 'CPUS' in {REGION}: needs 8, 4 free of 24 (20 in use)"]
    assert "capacity" not in short.checks and "quota" not in short.checks  # no constant checks


def test_the_machine_familys_quota_and_instances_are_checked_too(
    quiet: GcpCloud, gcp_server: ComputeTestServer
) -> None:
    gcp_server.state.set_quota(PROJECT, REGION, "E2_CPUS", 10)
    gcp_server.state.set_quota(PROJECT, REGION, "INSTANCES", 5)
    report = quiet.preflight(SERVICE, REGION, "2.0.0", surge=2)
    assert not report.ok
    assert report.checks["quota_e2_cpus"] is False and report.checks["quota_instances"] is False
    assert report.problems == [
        f"quota 'INSTANCES' in {REGION}: needs 2, 1 free of 5 (4 in use)",
        f"quota 'E2_CPUS' in {REGION}: needs 4, 2 free of 10 (8 in use)",
    ]
    assert quiet.preflight(SERVICE, REGION, "2.0.0", surge=0).ok  # nothing added: nothing to fit


async def test_canary_analysis_with_the_cloud_monitoring_provider_catches_a_bad_canary(
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    gcp: GcpCloud,
    gcp_server: ComputeTestServer,
    gtopo: Topology,
    policies: Policies,
    executor: concurrent.futures.Executor,
) -> None:
    gcp_server.state.release_faults["3.0.0"] = (0.08, 0.0)
    analysis = policies.analysis.model_copy(update={"provider": "cloud_monitoring"})
    inp = RegionDeployInput(
        service=SERVICE,
        release="3.0.0",
        region=gtopo.region(REGION),
        task_queue="globalops",
        wave=gtopo.wave_of(REGION),
        policies=policies.model_copy(update={"analysis": analysis}),
        key_prefix=f"deploy:gcp/{uuid.uuid4().hex[:8]}",
        strategy="canary",
    )
    async with gcp_worker(ts_env.client, sim, gcp, executor, "globalops"):
        result = await ts_env.client.execute_workflow(
            RegionDeploymentWorkflow.run, inp, id=f"deploy:{uuid.uuid4().hex[:8]}", task_queue="globalops"
        )
    assert result.status == "rolled_back", result.detail
    judged = result.analysis[0]
    assert (judged.weight, judged.verdict, judged.samples) == (5, "fail", 60), judged
    assert any(r.startswith("error rate") for r in judged.reasons), judged.reasons
    assert gcp.region_state(SERVICE, REGION).releases == {"1.0.0": 4}
