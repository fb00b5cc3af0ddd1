"""The simulated cloud: a real CloudPort backed by SQLite, for demos, game days and benchmarks."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from activities.clouds import sim_store as store
from activities.clouds.base import (
    DeployResult,
    HealthSample,
    InvalidRequest,
    NotFound,
    PreflightReport,
    RegionState,
    RegionUnavailable,
    Throttled,
    Unavailable,
)
from config.paths import state_dir

BASELINE_ERROR_RATE = 0.002
BASELINE_LATENCY_MS = 80.0
OUTAGE_LATENCY_MS = 30_000.0
REQUESTS_PER_REGION = 2000


class _ServiceLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def initial_release(self) -> str: ...


class _RegionLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def instances(self) -> int: ...


class TopologyLike(Protocol):
    """What `seed_topology` needs of a `config.models.Topology`."""

    @property
    def services(self) -> Sequence[_ServiceLike]: ...
    @property
    def regions(self) -> Sequence[_RegionLike]: ...


class SimCloud:
    """The embedded cloud: instances, traffic and faults in `<state_dir>/sim.db`.

    Every method opens its own connection, so one object is safe to share between the
    worker's activity threads, and several processes (worker, CLI) can use one file.
    """

    def __init__(self, db_path: Path | None = None) -> None:
        self.db_path = db_path if db_path is not None else state_dir() / "sim.db"
        self._store = store.SimStore(self.db_path)

    # --- CloudPort ---------------------------------------------------------------------------

    def preflight(self, service: str, region: str, release: str) -> PreflightReport:
        """Check the region is reachable and the release artifact exists."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            reachable = not store.has_outage(conn, region)
        checks = {
            "region_reachable": reachable,
            "capacity": True,
            "quota": True,
            "config": True,
            "artifact": bool(release),
        }
        problems = []
        if not reachable:
            problems.append("region outage")
        if not release:
            problems.append("release artifact missing (empty release)")
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    def region_state(self, service: str, region: str) -> RegionState:
        """Which releases the region runs, how many instances are healthy, its traffic share."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            return self._state(conn, service, region)

    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """Replace the oldest other instances until at least `count` run `release`; once per key."""
        if count < 0:
            raise InvalidRequest(f"sim: count must be >= 0, got {count}")
        if not release:
            raise InvalidRequest("sim: release artifact '' does not exist")
        with self._store.write() as conn:
            self._api_gate(conn)
            stored = store.ledger_get(conn, key)
            if stored is not None:
                previous = DeployResult.model_validate_json(stored)
                state = (
                    self._state(conn, service, region)
                    if store.is_seeded(conn, service, region)
                    else previous.state
                )
                return DeployResult(key=key, changed=previous.changed, state=state)
            self._require_seeded(conn, service, region)
            if store.has_outage(conn, region):
                raise RegionUnavailable(f"sim: region '{region}' is down (outage)")
            current = store.instances(conn, service, region)
            target = min(count, len(current))
            missing = max(0, target - sum(1 for i in current if i.release == release))
            victims = [i.seq for i in current if i.release != release][:missing]
            store.delete_instances(conn, victims)
            store.add_instances(conn, service, region, release, len(victims), key)
            result = DeployResult(key=key, changed=len(victims), state=self._state(conn, service, region))
            store.ledger_put(conn, key, result.model_dump_json())
            return result

    def health(self, service: str, region: str) -> HealthSample:
        """One noisy health sample, shaped by the release faults and outages injected."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            return self._sample(conn, service, region)

    # --- seeding and admin -------------------------------------------------------------------

    def seed(self, service: str, regions: list[tuple[str, int]], release: str) -> None:
        """Put `service` on `release` in each (region, instance_count) not seeded yet."""
        with self._store.write() as conn:
            fresh = [(r, n) for r, n in regions if not store.is_seeded(conn, service, r)]
            if not fresh:
                return
            total = len(set(store.seeded_regions(conn, service)) | {r for r, _ in fresh})
            for region, n in fresh:
                store.ensure_region(conn, region)
                store.add_instances(conn, service, region, release, n, None)
                store.set_traffic_weight(conn, service, region, 1.0 / total)

    def seed_topology(self, topology: TopologyLike) -> None:
        """Seed every service of the topology on its initial release in every region."""
        regions = [(r.name, r.instances) for r in topology.regions]
        for service in topology.services:
            self.seed(service.name, regions, service.initial_release)

    def reset(self) -> None:
        """Delete everything: instances, traffic, faults and the ledger."""
        with self._store.write() as conn:
            store.wipe(conn)

    def clear_faults(self) -> None:
        """Remove release, outage and API faults (instances and ledger stay)."""
        with self._store.write() as conn:
            store.clear_faults(conn)

    def inject_release_fault(
        self,
        release: str,
        error_rate: float,
        latency_ms: float = 0.0,
        regions: list[str] | None = None,
    ) -> None:
        """Make instances on `release` fail and slow down, in `regions` (None = everywhere)."""
        _check_rate(error_rate)
        if latency_ms < 0:
            raise InvalidRequest(f"sim: latency_ms must be >= 0, got {latency_ms}")
        fault = store.ReleaseFault(
            release,
            error_rate,
            latency_ms,
            None if regions is None else frozenset(regions),
        )
        with self._store.write() as conn:
            store.put_release_fault(conn, fault)

    def inject_outage(self, region: str) -> None:
        """Take a whole region down: unreachable, nothing healthy, deploys refused."""
        with self._store.write() as conn:
            store.set_outage(conn, region)

    def inject_api_fault(self, error_rate: float, throttle: bool) -> None:
        """Make every CloudPort call fail with probability `error_rate` (Throttled or Unavailable)."""
        _check_rate(error_rate)
        with self._store.write() as conn:
            store.put_api_fault(conn, error_rate, throttle)

    # --- views for the CLI and tests ---------------------------------------------------------

    def status(self, service: str) -> list[dict[str, Any]]:
        """Per region, by name: releases, health and traffic (API faults do not apply)."""
        with self._store.read() as conn:
            rows = []
            for region in store.seeded_regions(conn, service):
                state = self._state(conn, service, region)
                sample = self._sample(conn, service, region)
                rows.append(
                    {
                        "region": region,
                        "release": state.release,
                        "releases": state.releases,
                        "healthy": state.healthy,
                        "instances": state.instances,
                        "traffic": state.traffic,
                        "error_rate": sample.error_rate,
                        "latency_ms": sample.latency_p99_ms,
                    }
                )
            return rows

    def inventory(self) -> dict[str, Any]:
        """Summary counts: instances per service/region/release, totals, ledger size."""
        with self._store.read() as conn:
            tree: dict[str, dict[str, dict[str, int]]] = {}
            for service, region, release, n in store.counts(conn):
                tree.setdefault(service, {}).setdefault(region, {})[release] = n
            return {
                "instances": tree,
                "total_instances": sum(n for *_, n in store.counts(conn)),
                "ledger": store.ledger_size(conn),
            }

    def ledger_size(self) -> int:
        """How many keyed mutating calls were recorded."""
        with self._store.read() as conn:
            return store.ledger_size(conn)

    def instance_ids(self, service: str, region: str) -> list[str]:
        """Instance ids of the service in the region, oldest first."""
        with self._store.read() as conn:
            return [i.id for i in store.instances(conn, service, region)]

    # --- internals ---------------------------------------------------------------------------

    @staticmethod
    def _api_gate(conn: sqlite3.Connection) -> None:
        fault = store.api_fault(conn)
        if fault is None:
            return
        rate, throttle = fault
        if random.random() < rate:
            message = f"sim: injected API error (rate {rate:g})"
            raise Throttled(message) if throttle else Unavailable(message)

    @staticmethod
    def _require_seeded(conn: sqlite3.Connection, service: str, region: str) -> None:
        if not store.is_seeded(conn, service, region):
            raise NotFound(f"sim: service '{service}' is not deployed in region '{region}'")

    @staticmethod
    def _state(conn: sqlite3.Connection, service: str, region: str) -> RegionState:
        current = store.instances(conn, service, region)
        releases = Counter(i.release for i in current)
        # instances come oldest first, so each release maps to its newest instance
        newest = {i.release: i.seq for i in current}
        majority = max(releases, key=lambda r: (releases[r], newest[r])) if releases else None
        return RegionState(
            region=region,
            service=service,
            release=majority,
            releases=dict(releases),
            instances=len(current),
            healthy=0 if store.has_outage(conn, region) else len(current),
            traffic=store.traffic_weight(conn, service, region),
        )

    @staticmethod
    def _sample(conn: sqlite3.Connection, service: str, region: str) -> HealthSample:
        current = store.instances(conn, service, region)
        if store.has_outage(conn, region):
            return HealthSample(
                region=region,
                healthy_instances=0,
                instances=len(current),
                error_rate=1.0,
                latency_p99_ms=OUTAGE_LATENCY_MS,
                cpu=0.0,
                requests=0,
            )
        faults = store.release_faults(conn)
        errors, latencies = [], []
        for inst in current:
            fault = next((f for f in faults if f.applies(inst.release, region)), None)
            errors.append(fault.error_rate if fault else BASELINE_ERROR_RATE)
            latencies.append(fault.latency_ms if fault else 0.0)
        n = max(1, len(current))
        error_rate = min(1.0, sum(errors) / n * random.uniform(0.9, 1.1))
        latency = (BASELINE_LATENCY_MS + sum(latencies) / n) * random.uniform(0.95, 1.05)
        weight = store.traffic_weight(conn, service, region)
        n_regions = len(store.seeded_regions(conn, service))
        return HealthSample(
            region=region,
            healthy_instances=len(current),
            instances=len(current),
            error_rate=error_rate,
            latency_p99_ms=latency,
            cpu=random.uniform(0.35, 0.45),
            requests=int(REQUESTS_PER_REGION * weight * n_regions),
        )


def _check_rate(error_rate: float) -> None:
    if not 0.0 <= error_rate <= 1.0:
        raise InvalidRequest(f"sim: error_rate must be within 0..1, got {error_rate}")
