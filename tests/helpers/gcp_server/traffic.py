"""The test server's traffic model: the metrics real GCP would record for the Compute state it holds.

For each managed instance group with RUNNING instances, per period of the query:

* load balancer (`https_lb_rule`, labels `backend_target_name` = the backend service,
  `backend_name` = the group, `backend_scope` = its region): `request_count` per
  `response_code_class` (200 and 500; 600 requests per instance and period, times the backend's
  capacity scaler) and `backend_latencies` (a distribution in the API's exponential buckets:
  scale 1 ms, growth 1.4, 66 finite buckets). A release's error rate and added latency come from
  `ComputeState.release_faults` (default 0.2 % errors, p99 about 80 ms). A group that serves no
  load-balanced traffic (a backend at capacity scaler 0, i.e. a drained region, or a group that is
  no backend yet, blue-green's green before the switch) gets a preview load (as many requests
  per instance as a live backend, as if smoke tests reached it through a preview route: with half
  as many, integer error counts made green's median error rate read 20 % above blue's one run in
  eight, and a good release failed its pre-promotion analysis), attributed to the backend
  service that has a backend in its region. Real GCP records nothing for such a group: there it
  reads as no data (docs/clouds.md, "Limits, honestly").
* instances (`gce_instance`, metric label `instance_name`): `cpu/utilization` around
  `MonitoringState.cpu`.

The model has no memory: it reports the current fleet for any past period asked, so a test's
seconds stand for the minutes a real window would need. Values are drawn from a generator seeded by
the series and the period, so asking twice gives the same answer. `MonitoringState.generate =
False` turns the model off; a region in `MonitoringState.silent` gets none of its metrics.
"""

from __future__ import annotations

import math
import random
import zlib
from datetime import datetime, timedelta
from typing import Any

from tests.helpers.gcp_server.monitoring import Dist, MonitoringState, Series
from tests.helpers.gcp_server.state import ComputeState, rel

REQUEST_COUNT = "loadbalancing.googleapis.com/https/request_count"
BACKEND_LATENCIES = "loadbalancing.googleapis.com/https/backend_latencies"
CPU = "compute.googleapis.com/instance/cpu/utilization"
LATENCY_BUCKETS = {"exponentialBuckets": {"numFiniteBuckets": 66, "growthFactor": 1.4, "scale": 1.0}}
REQUESTS_PER_INSTANCE = 600
PREVIEW_PER_INSTANCE = REQUESTS_PER_INSTANCE
DEFAULT_FAULT = (0.002, 0.0)
#: Latency samples drawn per period (bucket counts are scaled to the period's requests).
SAMPLES = 200


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(str(p) for p in parts).encode()))


def _bucket(value_ms: float) -> int:
    """Index of the exponential bucket (1.4^(i-1) <= v < 1.4^i) holding a value; 0 is underflow."""
    if value_ms < 1.0:
        return 0
    return min(67, int(math.log(value_ms) / math.log(1.4)) + 1)


def _latency(rng: random.Random, requests: int, p99_ms: float) -> Dist:
    """A log-normal latency distribution whose 99th percentile is about `p99_ms`."""
    sigma = 0.5
    median = p99_ms / math.exp(2.326 * sigma)
    counts = [0] * 68
    draws = [rng.lognormvariate(math.log(median), sigma) for _ in range(SAMPLES)]
    for d in draws:
        counts[_bucket(d)] += 1
    scaled = [c * requests // SAMPLES for c in counts]
    scaled[_bucket(median)] += requests - sum(scaled)  # the rounding remainder goes to the middle
    return Dist(LATENCY_BUCKETS, scaled, mean=math.fsum(draws) / SAMPLES)


def _groups(compute: ComputeState, project: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(region, group name, RUNNING instances) of every regional managed instance group."""
    out = []
    for coll, names in compute.items.items():
        parts = coll.split("/")
        if parts[1] != project or not coll.endswith("/instanceGroupManagers"):
            continue
        for name in names:
            running = [i for _, i in compute.instances_of(f"{coll}/{name}") if i.get("status") == "RUNNING"]
            if running:
                out.append((parts[3], name, running))
    return out


def _backends(compute: ComputeState, project: str) -> dict[tuple[str, str], tuple[str, float]]:
    """(region, group) -> (backend service, capacity scaler) of every backend in the project."""
    found: dict[tuple[str, str], tuple[str, float]] = {}
    for bs in compute.coll(f"projects/{project}/global/backendServices").values():
        for backend in bs.get("backends", []):
            parts = rel(backend.get("group", "")).split("/")
            if "regions" in parts:
                region = parts[parts.index("regions") + 1]
                found[(region, parts[-1])] = (bs["name"], float(backend.get("capacityScaler", 1.0)))
    return found


def _release(instance: dict[str, Any]) -> str:
    for item in instance.get("metadata", {}).get("items", []):
        if item.get("key") == "globalops-release":
            return str(item.get("value"))
    return ""


def _ends(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out, at = [], end
    while at > start:
        out.append(at)
        at -= step
    return out


def modelled(
    compute: ComputeState,
    mon: MonitoringState,
    project: str,
    metric: str,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[Series]:
    """The model's series of one metric in a project, with a point every `step` in (start, end]."""
    if not mon.generate or metric not in (REQUEST_COUNT, BACKEND_LATENCIES, CPU):
        return []
    ends = _ends(start, end, step)
    out: list[Series] = []
    backends = _backends(compute, project)
    by_region: dict[str, str] = {region: bs for (region, _), (bs, _) in backends.items()}
    for region, group, running in _groups(compute, project):
        if region in mon.silent:
            continue
        if metric == CPU:
            out += [_cpu(mon, project, inst, ends) for inst in running]
            continue
        service, scaler = backends.get((region, group), (by_region.get(region, ""), 0.0))
        if not service:
            continue
        per_instance = REQUESTS_PER_INSTANCE * scaler if scaler > 0 else PREVIEW_PER_INSTANCE
        labels = {
            "project_id": project,
            "region": "global",
            "backend_target_name": service,
            "backend_target_type": "BACKEND_SERVICE",
            "backend_name": group,
            "backend_type": "INSTANCE_GROUP",
            "backend_scope": region,
            "backend_scope_type": "REGION",
        }
        out += _lb(compute, metric, labels, running, per_instance, ends)
    return out


def _lb(
    compute: ComputeState,
    metric: str,
    labels: dict[str, str],
    running: list[dict[str, Any]],
    per_instance: float,
    ends: list[datetime],
) -> list[Series]:
    ok = Series(metric, "https_lb_rule", labels, {"response_code_class": "200"}, "DELTA", "INT64")
    bad = Series(metric, "https_lb_rule", labels, {"response_code_class": "500"}, "DELTA", "INT64")
    latency = Series(metric, "https_lb_rule", labels, {}, "DELTA", "DISTRIBUTION")
    for at in ends:
        rng = _rng(labels["backend_name"], labels["backend_scope"], at.timestamp())
        requests = errors = 0
        worst = 0.0
        for inst in running:
            err, added = compute.release_faults.get(_release(inst), DEFAULT_FAULT)
            n = round(per_instance)
            requests += n
            # Jitter of +-10 %, rounded to the nearest count: the default 0.2 % stays one error in 600
            # at every point (a healthy release is not judged by noise), a fault's share moves with it.
            errors += min(n, round(n * err * rng.uniform(0.9, 1.1)))
            worst = max(worst, added)
        ok.points.append((at, requests - errors))
        if errors:
            bad.points.append((at, errors))
        latency.points.append((at, _latency(rng, requests, (80.0 + worst) * rng.uniform(0.93, 1.07))))
    if metric == BACKEND_LATENCIES:
        return [latency]
    return [ok, bad] if bad.points else [ok]


def _cpu(mon: MonitoringState, project: str, inst: dict[str, Any], ends: list[datetime]) -> Series:
    zone = rel(inst["zone"]).rsplit("/", 1)[-1]
    series = Series(
        CPU,
        "gce_instance",
        {"project_id": project, "instance_id": str(inst["id"]), "zone": zone},
        {"instance_name": inst["name"]},
        "GAUGE",
        "DOUBLE",
    )
    for at in ends:
        rng = _rng(inst["name"], at.timestamp())
        series.points.append((at, min(1.0, max(0.0, mon.cpu * rng.uniform(0.9, 1.1)))))
    return series
