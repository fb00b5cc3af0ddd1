"""Health samples, metric series and replica lag of GCP regions: Cloud Monitoring, or a metrics_url.

Cloud Monitoring (`activities.cloud_monitoring`) is the source unless the region's block names a
`metrics_url` (a JSON source per group, kept for services that publish their own numbers). Either
way a number that did not arrive is None, never 0: the workflows treat it as no data.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from activities import cloud_monitoring as cm
from activities.clouds.gcp_api import Place
from activities.clouds.gcp_groups import Member, majority
from contracts.cloud import Group, HealthSample, MetricSeries
from contracts.errors import Unavailable

#: `HealthSample.source` when the region's numbers come from its `metrics_url`.
URL_SOURCE = "metrics-url"
#: Points asked of a metrics_url per window.
METRIC_POINTS = 60
GROUPS: tuple[Group, ...] = ("stable", "canary")


def target(p: Place, lb: Place) -> cm.Target:
    """Where the region's signals are: its groups' backends in the load balancer of `lb`."""
    cfg = p.cfg
    return cm.Target(
        project=p.project,
        lb_project=lb.project,
        region=p.region,
        backend_service=lb.backend_service,
        groups={g: p.mig(g) for g in GROUPS},
        endpoint=cfg.monitoring_endpoint,
        call_retry_s=cfg.call_retry_s,
        period_s=cfg.monitoring_period_s,
        window_s=cfg.monitoring_window_s,
        database_id=cfg.replica_database,
    )


def _zone(member: Member) -> str:
    """The zone of a managed instance ('projects/p/zones/<zone>/instances/<name>')."""
    parts = member.url.split("/")
    return parts[parts.index("zones") + 1] if "zones" in parts else ""


def health(
    p: Place, where: cm.Target, stable: list[Member], canary: list[Member], canary_share: float
) -> HealthSample:
    """RUNNING instances are healthy; the numbers of both groups' traffic from the region's source."""
    members = [*stable, *canary]
    healthy = sum(1 for m in members if m.running)
    if healthy == 0:  # nothing serves: every request fails, whatever a metrics source says
        return HealthSample(
            region=p.region, healthy_instances=0, instances=len(members), error_rate=1.0, source="instances"
        )
    if p.cfg.metrics_url:
        return _url_health(p, stable, canary, canary_share, healthy)
    groups = ["stable", "canary"] if canary else ["stable"]
    newest = cm.lb_series(where, groups, where.window_s).newest
    cpu = cm.cpu(where, [(_zone(m), m.name) for m in members if m.running])
    return HealthSample(
        region=p.region,
        healthy_instances=healthy,
        instances=len(members),
        error_rate=newest.error_rate if newest else None,
        latency_p99_ms=newest.p99_ms if newest else None,
        cpu=cpu,
        requests=newest.requests if newest else None,
        source=cm.SOURCE,
    )


def series(
    p: Place, where: cm.Target, group: Group, members: list[Member], loaded: bool, window_s: float
) -> MetricSeries:
    """A group's points over the window; empty without instances."""
    if not members:
        return MetricSeries(region=p.region, group=group, release=None)
    release = majority(members, None)
    if not p.cfg.metrics_url:
        return cm.group_series(where, group, release, window_s)
    data = fetch(p, group, release, loaded)
    return MetricSeries(
        region=p.region,
        group=group,
        release=release,
        error_rate=[float(v) for v in data.get("error_rate", [])],
        latency_p99_ms=[float(v) for v in data.get("latency_p99_ms", [])],
        requests=int(data.get("requests", 0)),
    )


# --- the metrics_url source ----------------------------------------------------------------------


def fetch(p: Place, group: Group, release: str | None, loaded: bool) -> dict[str, Any]:
    """One group's numbers from the configured JSON source."""
    assert p.cfg.metrics_url is not None
    base = p.cfg.metrics_url.format(project=p.project, region=p.region, service=p.service)
    query = urllib.parse.urlencode(
        {"group": group, "release": release or "", "loaded": "1" if loaded else "0", "points": METRIC_POINTS}
    )
    try:
        with urllib.request.urlopen(f"{base}?{query}", timeout=10) as resp:  # noqa: S310 - configured URL
            data: dict[str, Any] = json.loads(resp.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise Unavailable(f"gcp: metrics source {base}: {exc}") from exc
    return data


def _mean(values: Any) -> float | None:
    """Mean of a JSON list of numbers; None when absent or empty (no data, not 0)."""
    if not isinstance(values, list) or not values:
        return None
    return math.fsum(float(v) for v in values) / len(values)


def _url_health(
    p: Place, stable: list[Member], canary: list[Member], canary_share: float, healthy: int
) -> HealthSample:
    """Both groups' numbers from the metrics_url, weighted by their share of the region's traffic."""
    c = canary_share if canary else 0.0
    err: float | None = 0.0
    lat: float | None = 0.0
    cpu: float | None = 0.0
    requests: int | None = 0
    for group, members, share in (("stable", stable, 1.0 - c), ("canary", canary, c)):
        if not members or share <= 0:
            continue
        data = fetch(p, group, majority(members, None), True)  # type: ignore[arg-type]
        e, la, cp = _mean(data.get("error_rate")), _mean(data.get("latency_p99_ms")), _mean(data.get("cpu"))
        err = None if err is None or e is None else err + share * e
        lat = None if lat is None or la is None else lat + share * la
        cpu = None if cpu is None or cp is None else cpu + share * cp
        n = data.get("requests")
        requests = None if requests is None or n is None else requests + int(n)
    return HealthSample(
        region=p.region,
        healthy_instances=healthy,
        instances=len(stable) + len(canary),
        error_rate=None if err is None else min(1.0, err),
        latency_p99_ms=lat,
        cpu=cpu,
        requests=requests,
        source=URL_SOURCE,
    )
