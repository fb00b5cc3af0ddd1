"""In-memory Compute resources of the test server, changed only by operations that reach DONE."""

from __future__ import annotations

import copy
import random
import re
import secrets
import threading
from collections import Counter
from typing import Any

from tests.helpers.gcp_server.dns import DnsState
from tests.helpers.gcp_server.monitoring import MonitoringState
from tests.helpers.gcp_server.ops import BASE, ApiError, Operation, Operations, next_id, now_rfc3339

_FILTER = re.compile(r'labels\.([a-z0-9_-]+)\s*=\s*"?([^"\s)]*)"?')


def link(path: str) -> str:
    return f"{BASE}{path}"


def rel(url: str) -> str:
    """'projects/...' from a full or partial resource URL."""
    if url.startswith(BASE):
        return url[len(BASE) :]
    return url.split("/compute/v1/", 1)[-1]


def public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in resource.items() if not k.startswith("_")}


def matches(resource: dict[str, Any], flt: str | None) -> bool:
    """The subset of Compute's list filter the adapter uses: `labels.k = "v"` clauses joined by AND."""
    if not flt:
        return True
    labels = resource.get("labels", {})
    return all(labels.get(k) == v for k, v in _FILTER.findall(flt))


def valid_scaler(value: float) -> bool:
    return value == 0 or 0.1 <= value <= 1.0


#: Region quotas when a test sets none (generous: the existing tests never come near them).
DEFAULT_QUOTAS = {"INSTANCES": 1000.0, "CPUS": 2400.0}
_SHARED_CORE = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2, "f1-micro": 1, "g1-small": 1}


def vcpus(machine_type: str) -> int | None:
    """Guest CPUs of a machine type name ('e2-small', 'n2-standard-8', 'custom-4-16384'); None: unknown."""
    name = machine_type.rsplit("/", 1)[-1]
    if name in _SHARED_CORE:
        return _SHARED_CORE[name]
    parts = name.split("-")
    if parts[0] == "custom" and len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    if len(parts) == 3 and parts[2].isdigit():
        return int(parts[2])
    return None


class ComputeState:
    """Resources by collection path ('projects/p/zones/z/disks') and name; a lock around everything."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ops = Operations(self.lock)
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        self.created: Counter[str] = Counter()  # resources created, by collection kind ("disks", ...)
        self.calls: Counter[str] = Counter()  # requests served, by "METHOD route"
        self.fault_rate = 0.0
        self.fault_codes: tuple[int, ...] = (429, 503)
        self.faults_injected = 0
        self.release_faults: dict[str, tuple[float, float]] = {}
        self.rng = random.Random(7)
        self.monitoring = MonitoringState()
        self.dns = DnsState()
        # (project, region) -> quota metric -> (limit, usage by things outside this server's state)
        self.quotas: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}

    # --- admin -----------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.ops.reset()
            self.items.clear()
            self.created.clear()
            self.calls.clear()
            self.fault_rate, self.faults_injected = 0.0, 0
            self.release_faults.clear()
            self.monitoring.reset()
            self.dns.reset()
            self.quotas.clear()

    def inject_faults(self, rate: float, codes: tuple[int, ...] = (429, 503)) -> None:
        with self.lock:
            self.fault_rate, self.fault_codes = rate, codes

    def roll_fault(self) -> int | None:
        with self.lock:
            if self.fault_rate and self.rng.random() < self.fault_rate:
                self.faults_injected += 1
                return self.rng.choice(self.fault_codes)
            return None

    def count(self, kind: str, flt: str | None = None) -> int:
        """Live resources of one kind (the last path segment of their collection) matching a filter."""
        with self.lock:
            return sum(
                1
                for coll, names in self.items.items()
                if coll.rsplit("/", 1)[-1] == kind
                for res in names.values()
                if matches(res, flt)
            )

    # --- generic collection helpers ----------------------------------------------------------------

    def coll(self, path: str) -> dict[str, dict[str, Any]]:
        return self.items.setdefault(path, {})

    def get(self, coll: str, name: str) -> dict[str, Any]:
        found = self.coll(coll).get(name)
        if found is None:
            raise ApiError(404, f"The resource '{coll}/{name}' was not found", "notFound")
        return found

    def put(self, coll: str, resource: dict[str, Any]) -> dict[str, Any]:
        name = resource["name"]
        resource.setdefault("id", str(next_id()))
        resource.setdefault("creationTimestamp", now_rfc3339())
        resource["selfLink"] = link(f"{coll}/{name}")
        self.coll(coll)[name] = resource
        self.created[coll.rsplit("/", 1)[-1]] += 1
        return resource

    def require_new(self, coll: str, name: str | None) -> str:
        if not name or not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'", "invalid")
        if name in self.coll(coll):
            raise ApiError(409, f"The resource '{coll}/{name}' already exists", "alreadyExists")
        return name

    def start(self, scope: str, op_type: str, target: str, apply: Any, request_id: str | None) -> Operation:
        op, _ = self.ops.start(scope, op_type, link(target), apply, request_id)
        return op

    # --- instances (also the members of managed instance groups) ---------------------------------

    def new_instance(
        self, zone_path: str, name: str, template: dict[str, Any] | None, mig: str | None
    ) -> dict[str, Any]:
        props = (template or {}).get("properties", {})
        meta = copy.deepcopy(props.get("metadata", {"items": []}))
        if mig:
            meta.setdefault("items", []).append({"key": "created-by", "value": link(mig)})
        inst = {
            "kind": "compute#instance",
            "name": name,
            "zone": link(zone_path),
            "status": "RUNNING",
            "machineType": props.get("machineType", "e2-small"),
            "labels": dict(props.get("labels", {})),
            "labelFingerprint": secrets.token_hex(4),
            "metadata": meta,
            "disks": copy.deepcopy(props.get("disks", [])),
            "_mig": mig,
            "_template": template["selfLink"] if template else None,
        }
        return self.put(f"{zone_path}/instances", inst)

    def instances_of(self, mig_path: str) -> list[tuple[str, dict[str, Any]]]:
        """(zone collection, instance) of a group, oldest first."""
        out: list[tuple[str, dict[str, Any]]] = []
        for coll, names in self.items.items():
            if coll.endswith("/instances"):
                out.extend((coll, inst) for inst in names.values() if inst.get("_mig") == mig_path)
        return sorted(out, key=lambda pair: int(pair[1]["id"]))

    def region_zones(self, mig: dict[str, Any]) -> list[str]:
        region_path = rel(mig["region"])
        project, region = region_path.split("/")[1], region_path.split("/")[3]
        zones = [
            rel(z["zone"]).rsplit("/", 1)[-1] for z in mig.get("distributionPolicy", {}).get("zones", [])
        ]
        return [f"projects/{project}/zones/{zone}" for zone in zones or [f"{region}-b"]]

    def grow(self, mig_path: str, mig: dict[str, Any], n: int) -> None:
        template = self.get_template(mig["instanceTemplate"])
        zones = self.region_zones(mig)
        have = len(self.instances_of(mig_path))
        for i in range(n):
            zone = zones[(have + i) % len(zones)]
            name = f"{mig['baseInstanceName']}-{secrets.token_hex(2)}"
            self.new_instance(zone, name, template, mig_path)

    def get_template(self, url: str) -> dict[str, Any]:
        path = rel(url)
        coll, name = path.rsplit("/", 1)
        return self.get(coll, name)

    def delete_instance(self, coll: str, name: str) -> None:
        self.coll(coll).pop(name, None)

    # --- region quotas ----------------------------------------------------------------------------

    def set_quota(
        self, project: str, region: str, metric: str, limit: float, other_usage: float = 0.0
    ) -> None:
        """A region quota's limit, and usage that the server's own instances do not account for."""
        with self.lock:
            self.quotas.setdefault((project, region), {})[metric] = (limit, other_usage)

    def region_quotas(self, project: str, region: str) -> list[dict[str, Any]]:
        """Quotas as `Region.quotas` reports them: usage counts the region's live instances."""
        own: Counter[str] = Counter()
        for coll, names in self.items.items():
            parts = coll.split("/")
            if coll.endswith("/instances") and parts[1] == project and parts[3].rsplit("-", 1)[0] == region:
                for inst in names.values():
                    machine = str(inst.get("machineType", "")).rsplit("/", 1)[-1]
                    cpus = vcpus(machine) or 0
                    own["INSTANCES"] += 1
                    own["CPUS"] += cpus
                    own[f"{machine.split('-', 1)[0].upper()}_CPUS"] += cpus  # the family's quota (E2_CPUS)
        limits = {m: (limit, 0.0) for m, limit in DEFAULT_QUOTAS.items()}
        limits.update(self.quotas.get((project, region), {}))
        return [
            {"metric": metric, "limit": limit, "usage": float(own[metric]) + other}
            for metric, (limit, other) in sorted(limits.items())
        ]

    # --- metrics (not a Compute API: the adapter's metrics source) --------------------------------

    def series(self, release: str | None, loaded: bool, points: int) -> dict[str, Any]:
        err, lat = self.release_faults.get(release or "", (0.002, 0.0))
        # Faults show under preview traffic too (no `under_load` modelling, unlike the sim).
        rng = random.Random(hash((release, loaded, points)) ^ self.rng.randrange(1 << 30))
        return {
            "error_rate": [min(1.0, err * rng.uniform(0.8, 1.2)) for _ in range(points)],
            "latency_p99_ms": [(80.0 + lat) * rng.uniform(0.93, 1.07) for _ in range(points)],
            "cpu": [self.monitoring.cpu * rng.uniform(0.9, 1.1) for _ in range(points)],
            "requests": 2000 if loaded else 200,
        }
