"""Benchmark inputs: zero-wait policies, and generated topologies (100 services, 100 regions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.loader import load_policies, load_topology
from config.models import Policies, Topology

ROOT = Path(__file__).resolve().parents[1]
DEMO_POLICIES = ROOT / "config" / "policies.demo.yaml"


def zero_wait_policies() -> Policies:
    """The demo policies with every bake 0 and one health sample per gate: only orchestration is left."""
    data = load_policies(DEMO_POLICIES).model_dump(mode="json")
    data["bake"] = {"validate": 0, "core": 0, "edge": 0}
    data["pilot_bake"] = 0
    data["region_bake"] = 0
    data["health"]["samples"] = 1
    return Policies.model_validate(data, extra="forbid")


def failover_policies(probe_interval_s: float = 1.0) -> Policies:
    """The demo policies with the monitor probing every `probe_interval_s` (B4)."""
    data = load_policies(DEMO_POLICIES).model_dump(mode="json")
    data["failover"]["probe_interval"] = probe_interval_s
    return Policies.model_validate(data, extra="forbid")


def dr_policies() -> Policies:
    """The demo policies with the shortest drill soak (B3 counts events, it does not wait)."""
    data = load_policies(DEMO_POLICIES).model_dump(mode="json")
    data["dr"]["drill"]["soak"] = 0
    return Policies.model_validate(data, extra="forbid")


def default_topology(queue: str) -> Topology:
    """The shipped 16 regions, on the bench's task queue."""
    return load_topology().model_copy(update={"default_task_queue": queue})


def one_service(topology: Topology, service: str) -> Topology:
    """`topology` serving only `service` (each B2 rollout is its own service: `rollout:<service>`)."""
    base = topology.services[0]
    return topology.model_copy(update={"services": [base.model_copy(update={"name": service})]})


def many_services(topology: Topology, names: list[str]) -> Topology:
    """`topology` serving every name in `names` (the worker's sim seeds them all)."""
    base = topology.services[0]
    return topology.model_copy(update={"services": [base.model_copy(update={"name": n}) for n in names]})


def wide_topology(queue: str, regions: int = 100, core: int = 20) -> Topology:
    """`regions` sim regions: `core` primaries (pilot first, 5 at a time), the rest edge (10 at a time)."""
    names = [f"sim-{i:03d}" for i in range(regions)]
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "cloud": "aws",
            "provider": "sim",
            "tier": "primary" if i < core else "edge",
            "jurisdiction": "US",
            "backup_region": names[(i + 1) % regions],
            "instances": 4,
            "latency_ms": 20 + i % 50,
        }
        for i, name in enumerate(names)
    ]
    data = {
        "services": [{"name": "wide", "initial_release": "1.0.0", "data_residency": True}],
        "default_task_queue": queue,
        "regions": rows,
        "waves": [
            {"name": "validate"},
            {"name": "core", "pilot": names[0], "concurrency": 5, "regions": names[:core]},
            {"name": "edge", "concurrency": 10, "regions": names[core:]},
        ],
    }
    return Topology.model_validate(data, extra="forbid")


def write_topology(topology: Topology, path: Path) -> Path:
    """Write `topology` as YAML the loader accepts (for a worker process: GLOBALOPS_TOPOLOGY)."""
    path.write_text(yaml.safe_dump(topology.model_dump(mode="json", exclude_none=True), sort_keys=False))
    load_topology(path)  # the worker must accept it: fail here, not in the worker
    return path
