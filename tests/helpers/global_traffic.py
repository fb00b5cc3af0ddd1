"""A small mixed topology behind a global traffic layer (Route 53 on moto, Cloud DNS on the GCP test
server, or the sim), its clouds and records set up afresh, and a worker whose traffic activities log
every weight change they make through the layer (tests/integration/mixed/test_global_traffic.py)."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.clouds.aws import AwsCloud
from activities.clouds.cloud_dns_layer import CloudDnsLayer
from activities.clouds.gcp import GcpCloud
from activities.clouds.global_traffic import GlobalLayers, GlobalTrafficPort, default_layer
from activities.clouds.registry import CloudRegistry
from activities.clouds.route53_layer import Route53Layer
from activities.clouds.sim import SimCloud
from activities.traffic_activities import TrafficActivities
from config.models import Topology
from config.traffic import GlobalTraffic
from contracts.cloud import TrafficState
from tests.helpers.aws.moto_server import reset_moto
from tests.helpers.aws.provision import aws_config, provision, put_metrics
from tests.helpers.gcp import PROJECT, gcp_topology
from tests.helpers.gcp_monitoring import recent, replica_lag
from tests.helpers.gcp_server.server import ComputeTestServer
from workers.main import WORKFLOWS, activity_functions

SERVICE = "checkout"
AWS = ("us-east-1", "eu-west-1")
GCP = ("us-central1", "europe-west1")
SIM = ("us-west-2",)
#: Regions with a weighted record in the layer: us-west-2 (sim, US) has none, so the layer cannot
#: move traffic there and target choice must say so.
RECORDED = (*AWS, *GCP)
ZONE = "globalops.example."
#: The records are created with this TTL; every weight change must rewrite them with the topology's.
BOOT_TTL = 300


def layer_config(kind: str, moto: str, gcp: ComputeTestServer, ttl: int) -> GlobalTraffic:
    if kind == "route53":
        return GlobalTraffic(provider="route53", zone=ZONE, ttl=ttl, endpoint_url=moto)
    return GlobalTraffic(provider="cloud_dns", zone=ZONE, ttl=ttl, project=PROJECT, api_endpoint=gcp.url)


def small_topology(
    base: Topology, moto: str, gcp: ComputeTestServer, queue: str, layer: GlobalTraffic
) -> Topology:
    """Five regions with residency on: AWS us-east-1 (US) and eu-west-1 (EU) on moto, GCP us-central1 (US)
    and europe-west1 (EU) on the test server, the sim's us-west-2 (US); two instances each."""
    topo = gcp_topology(base, gcp, queue)
    regions: list[dict[str, Any]] = []
    for region in topo.regions:
        if region.name not in (*AWS, *GCP, *SIM):
            continue
        update: dict[str, Any] = {"instances": 2, "backup_region": None}
        if region.name in AWS:
            update |= {"provider": "aws", "aws": aws_config(moto)}
        if region.gcp is not None:
            update["gcp"] = region.gcp.model_copy(
                update={"replica_database": f"{PROJECT}:{region.name}-replica"}
            )
        regions.append(region.model_copy(update=update).model_dump())
    return Topology.model_validate(
        {
            "services": [{**s.model_dump(), "data_residency": True} for s in topo.services],
            "default_task_queue": queue,
            "regions": regions,
            "waves": [
                {"name": "validate"},
                {"name": "core", "regions": ["us-east-1", "us-central1", "eu-west-1"]},
                {"name": "edge", "regions": ["europe-west1", "us-west-2"]},
            ],
            "jurisdiction_groups": topo.model_dump()["jurisdiction_groups"],
            "traffic": layer.model_dump(),
        }
    )


def set_up(
    base: Topology, moto: str, gcp_server: ComputeTestServer, tmp_path: Path, ttl: int = 30
) -> tuple[dict[str, Topology], CloudRegistry]:
    """Fresh clouds for the small topology, one topology per layer (route53, cloud_dns), and both
    layers' records: each region's own endpoint (the ALB's DNS name, a GCP load balancer address) and
    equal weights, created with TTL `BOOT_TTL` (the topology's is `ttl`)."""
    reset_moto(moto)
    gcp_server.reset()
    queue = f"layer-{uuid.uuid4().hex[:8]}"
    topos = {
        kind: small_topology(base, moto, gcp_server, queue, layer_config(kind, moto, gcp_server, ttl))
        for kind in ("route53", "cloud_dns")
    }
    topo = topos["route53"]
    made = provision(topo, moto)
    aws, gcp = AwsCloud(topo), GcpCloud(topo)
    gcp.bootstrap_topology()
    refresh_signals(topo, moto, gcp_server)
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topo)
    endpoints = {name: str(made[name]["dns"]) for name in AWS}
    endpoints |= {name: f"203.0.113.{i + 10}" for i, name in enumerate(GCP)}
    shares = {name: 1 / len(RECORDED) for name in RECORDED}
    r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=moto)
    r53.create_hosted_zone(Name=ZONE, CallerReference=uuid.uuid4().hex)  # the zone is the operator's
    for kind, layered in topos.items():
        assert layered.traffic is not None
        boot = layered.traffic.model_copy(update={"ttl": BOOT_TTL})
        adapter = Route53Layer(boot) if kind == "route53" else CloudDnsLayer(boot)
        adapter.ensure_records(SERVICE, endpoints, shares)
    return topos, CloudRegistry({"sim": lambda: sim, "aws": lambda: aws, "gcp": lambda: gcp})


def refresh_signals(topo: Topology, moto: str, gcp_server: ComputeTestServer) -> None:
    """Recent metrics of the AWS regions (the ALB's, CPU, replica lag) and the GCP replicas' lag."""
    put_metrics(topo, moto)
    for region in GCP:
        replica_lag(gcp_server, f"{PROJECT}:{region}-replica", recent(), 2.0)


@dataclass
class ShiftLog:
    """Every set_traffic through the layer, in order: the weights the layer answered with."""

    changes: list[dict[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Logged:
    def __init__(self, inner: GlobalTrafficPort, log: ShiftLog) -> None:
        self._inner, self._log = inner, log

    def traffic(self, service: str) -> TrafficState:
        return self._inner.traffic(service)

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        state = self._inner.set_traffic(service, weights, key)
        with self._log.lock:
            self._log.changes.append(dict(state.weights))
        return state


def layer_worker(
    client: Client,
    topo: Topology,
    registry: CloudRegistry,
    executor: concurrent.futures.Executor,
    log: ShiftLog,
) -> Worker:
    """A worker of every workflow and activity; get/set_traffic go through a logged layer adapter."""
    layers = GlobalLayers(registry, lambda cfg, clouds: _Logged(default_layer(cfg, clouds), log))
    traffic = TrafficActivities(registry, layers)
    mine = {"get_traffic": traffic.get_traffic, "set_traffic": traffic.set_traffic}
    acts = [
        mine.get(activity._Definition.must_from_callable(fn).name, fn) for fn in activity_functions(registry)
    ]
    return Worker(
        client,
        task_queue=topo.default_task_queue,
        workflows=WORKFLOWS,
        activities=acts,
        activity_executor=executor,
    )
