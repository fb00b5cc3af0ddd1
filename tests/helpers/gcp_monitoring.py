"""Cloud Monitoring points for GCP tests, written into the local server's state as GCP records them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from activities import cloud_monitoring as cm
from contracts.ids import region_deployment_id, rollout_id
from contracts.rollout import RegionOutcome
from tests.helpers.gcp import PROJECT, SERVICE
from tests.helpers.gcp_server import ComputeTestServer
from tests.helpers.gcp_server.monitoring import Dist, Series
from tests.helpers.gcp_server.traffic import LATENCY_BUCKETS
from tests.helpers.temporal import progress_if_running


def recent(seconds_ago: float = 30.0) -> datetime:
    """A point's end time inside the newest period of a query made now."""
    return datetime.now(UTC) - timedelta(seconds=seconds_ago)


def latencies(counts: dict[int, int]) -> Dist:
    """A backend_latencies distribution in the load balancer's buckets: bucket index -> count."""
    size = max(counts) + 1 if counts else 0
    return Dist(LATENCY_BUCKETS, [counts.get(i, 0) for i in range(size)])


def lb_traffic(
    server: ComputeTestServer,
    region: str,
    group: str,
    at: datetime,
    ok: int,
    errors: int = 0,
    latency: Dist | None = None,
) -> None:
    """One period of a group's load-balanced requests (2xx and 5xx) and, optionally, their latencies."""
    labels = {
        "project_id": PROJECT,
        "region": "global",
        "backend_target_name": SERVICE,
        "backend_name": f"{SERVICE}-{group}",
        "backend_scope": region,
        "backend_scope_type": "REGION",
    }
    write = server.state.monitoring.write
    for code, n in (("200", ok), ("500", errors)):
        if n:
            series = Series(cm.REQUEST_COUNT, "https_lb_rule", dict(labels), {"response_code_class": code})
            series.kind, series.value_type, series.points = "DELTA", "INT64", [(at, n)]
            write(series)
    if latency is not None:
        series = Series(cm.BACKEND_LATENCIES, "https_lb_rule", dict(labels), {}, "DELTA", "DISTRIBUTION")
        series.points = [(at, latency)]
        write(series)


def instances(server: ComputeTestServer, region: str, group: str) -> list[tuple[str, str]]:
    """(zone, name) of a group's instances in the server's state."""
    path = f"projects/{PROJECT}/regions/{region}/instanceGroupManagers/{SERVICE}-{group}"
    with server.state.lock:
        return [(coll.split("/")[3], inst["name"]) for coll, inst in server.state.instances_of(path)]


def cpu(server: ComputeTestServer, zone: str, name: str, at: datetime, value: float) -> None:
    series = Series(
        cm.CPU_UTILIZATION,
        "gce_instance",
        {"project_id": PROJECT, "zone": zone, "instance_id": uuid.uuid4().hex[:8]},
        {"instance_name": name},
    )
    series.points = [(at, value)]
    server.state.monitoring.write(series)


def replica_lag(server: ComputeTestServer, database_id: str, at: datetime, seconds: float) -> None:
    series = Series(
        cm.REPLICA_LAG,
        "cloudsql_database",
        {"project_id": PROJECT, "database_id": database_id, "region": "europe-west1"},
    )
    series.points = [(at, seconds)]
    server.state.monitoring.write(series)


async def child_state(env: WorkflowEnvironment, region: str) -> RegionOutcome | None:
    """The progress of a region's deploy in the rollout of the test service, None before it starts."""
    return await progress_if_running(env, region_deployment_id(rollout_id(SERVICE), region))


async def wait_child(
    env: WorkflowEnvironment, region: str, predicate: Callable[[RegionOutcome], bool]
) -> RegionOutcome:
    """Poll a region's deploy, moving the test clock 30 s at a time, until the predicate holds."""
    for _ in range(3000):
        found = await child_state(env, region)
        if found is not None and predicate(found):
            return found
        await env.sleep(30)
    raise AssertionError(f"{region}'s deploy never reached the expected state")
