"""The simulated cloud: a real CloudPort backed by SQLite, for demos, game days and benchmarks."""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from activities.clouds import sim_groups as groups
from activities.clouds import sim_store as store
from activities.clouds import sim_traffic as traffic
from activities.clouds import sim_views as views
from activities.clouds.sim_hold import hold_after
from activities.clouds.sim_storage import SimStorage
from activities.heartbeat import pause
from config.paths import state_dir
from contracts.cloud import (
    DeployResult,
    Group,
    HealthSample,
    MetricSeries,
    PreflightReport,
    RegionState,
    TrafficState,
)
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
    Throttled,
    Unavailable,
)

#: Instances every service together may run in one simulated region, unless `sim fault quota` says
#: otherwise; each simulated instance counts as VCPUS_PER_INSTANCE vCPUs.
DEFAULT_INSTANCE_QUOTA = 200
VCPUS_PER_INSTANCE = 2

#: What a healthy release does in the sim: the share of requests that fail and the p99 latency in ms.
#: A release fault replaces the error rate and adds to the latency.
BASELINE_ERROR_RATE = groups.BASELINE_ERROR_RATE
BASELINE_LATENCY_MS = groups.BASELINE_LATENCY_MS

# What a keyed call returns, and so what its ledger entry holds.
Result = TypeVar("Result", bound=BaseModel)
# What a keyed call on one region returns.
RegionResult = TypeVar("RegionResult", DeployResult, RegionState)


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


class SimCloud(SimStorage):
    """The embedded cloud: instances, traffic, faults and snapshots in `<state_dir>/sim.db`.

    Every method opens its own connection, so one object is safe to share between the
    worker's activity threads, and several processes (worker, CLI) can use one file.
    """

    def __init__(self, db_path: Path | None = None) -> None:
        self.db_path = db_path if db_path is not None else state_dir() / "sim.db"
        self._store = store.SimStore(self.db_path)

    # --- CloudPort ---------------------------------------------------------------------------

    def preflight(self, service: str, region: str, release: str, surge: int = 0) -> PreflightReport:
        """Reachable, the release artifact exists, and `surge` more instances fit the region's quota."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            reachable = not store.has_outage(conn, region)
            quota = store.instance_quota(conn, region)
            limit = DEFAULT_INSTANCE_QUOTA if quota is None else quota
            in_use = store.instances_in_region(conn, region)
        free = max(0, limit - in_use)
        checks = {
            "region_reachable": reachable,
            "quota_instances": surge <= free,
            "quota_vcpus": surge * VCPUS_PER_INSTANCE <= free * VCPUS_PER_INSTANCE,
            "artifact": bool(release),
        }
        problems = []
        if not reachable:
            problems.append("region outage")
        if surge > free:
            problems.append(
                f"quota 'instances' in {region}: the rollout needs {surge} more"
                f" ({surge * VCPUS_PER_INSTANCE} vCPUs), {free} free of {limit} ({in_use} in use)"
            )
        if not release:
            problems.append("release artifact missing (empty release)")
        return PreflightReport(region=region, ok=all(checks.values()), checks=checks, problems=problems)

    def region_state(self, service: str, region: str) -> RegionState:
        """Which releases the region runs, how many instances are healthy, its traffic share."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            return groups.state(conn, service, region)

    def ensure_release(self, service: str, region: str, release: str, count: int, key: str) -> DeployResult:
        """Replace the oldest other stable instances until at least `count` run `release`; once per key."""
        _check_count(count, release)

        def apply(conn: sqlite3.Connection) -> DeployResult:
            current = store.instances(conn, service, region, "stable")
            target = min(count, len(current))
            missing = max(0, target - sum(1 for i in current if i.release == release))
            victims = [i.seq for i in current if i.release != release][:missing]
            store.delete_instances(conn, victims)
            store.add_instances(conn, service, region, release, len(victims), key)
            return DeployResult(key=key, changed=len(victims), state=groups.state(conn, service, region))

        return self._once("ensure_release", key, service, region, DeployResult, apply)

    def health(self, service: str, region: str) -> HealthSample:
        """One noisy health sample (both groups, by traffic), shaped by the faults injected."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            return groups.sample(conn, service, region)

    def scale_group(
        self, service: str, region: str, group: Group, release: str, count: int, key: str
    ) -> DeployResult:
        """Make `group` exactly `count` instances on `release` (0 removes it); once per key."""
        group = groups.check_group(group)
        _check_count(count, release)

        def apply(conn: sqlite3.Connection) -> DeployResult:
            changed = groups.reshape(conn, service, region, group, release, count, key)
            return DeployResult(key=key, changed=changed, state=groups.state(conn, service, region))

        return self._once("scale_group", key, service, region, DeployResult, apply)

    def set_canary_weight(self, service: str, region: str, weight: float, key: str) -> RegionState:
        """Route `weight` (0..1) of the region's traffic to the canary / green group; once per key."""
        if not 0.0 <= weight <= 1.0:
            raise InvalidRequest(f"sim: canary weight must be within 0..1, got {weight}")

        def apply(conn: sqlite3.Connection) -> RegionState:
            if weight > 0 and not store.instances(conn, service, region, "canary"):
                raise InvalidRequest("sim: no canary instances to send traffic to")
            store.set_canary_weight(conn, service, region, weight)
            return groups.state(conn, service, region)

        return self._once("set_canary_weight", key, service, region, RegionState, apply)

    def promote_canary(self, service: str, region: str, key: str) -> RegionState:
        """Delete the stable group, make the canary / green group stable, weight 0; once per key."""

        def apply(conn: sqlite3.Connection) -> RegionState:
            if not store.instances(conn, service, region, "canary"):
                raise InvalidRequest("sim: no canary instances to promote")
            stable = store.instances(conn, service, region, "stable")
            store.delete_instances(conn, [i.seq for i in stable])
            store.relabel_group(conn, service, region, "canary", "stable")
            store.set_canary_weight(conn, service, region, 0.0)
            return groups.state(conn, service, region)

        return self._once("promote_canary", key, service, region, RegionState, apply)

    def restore(self, service: str, region: str, release: str, count: int, key: str) -> RegionState:
        """Weight 0, canary group deleted, exactly `count` stable instances on `release`; once per key."""
        _check_count(count, release)

        def apply(conn: sqlite3.Connection) -> RegionState:
            groups.reshape(conn, service, region, "canary", release, 0, key)
            groups.reshape(conn, service, region, "stable", release, count, key)
            return groups.state(conn, service, region)

        return self._once("restore", key, service, region, RegionState, apply)

    def metrics(self, service: str, region: str, group: Group, window_s: float) -> MetricSeries:
        """`groups.METRIC_POINTS` points of a group, one per window_s / 60 s; empty if it has no instances."""
        group = groups.check_group(group)
        if not window_s > 0:
            raise InvalidRequest(f"sim: window_s must be > 0, got {window_s}")
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            if store.has_outage(conn, region):
                raise RegionUnavailable(f"sim: region '{region}' is down (outage)")
            return groups.series(conn, service, region, group)

    def traffic(self, service: str) -> TrafficState:
        """The service's share of global traffic per seeded region (NotFound if seeded nowhere)."""
        with self._store.read() as conn:
            self._api_gate(conn)
            return traffic.state(conn, service)

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Set the named regions' weights (others keep theirs); the split must sum to 1; once per key.

        Regions in an outage may be given traffic: deciding what is safe is the caller's job.
        A refused call changes nothing; a repeated key reports the current split.
        """
        traffic.check_weights(weights)

        def replay(conn: sqlite3.Connection, payload: str) -> TrafficState:
            used_for = TrafficState.model_validate_json(payload).service
            if used_for != service:
                raise InvalidRequest(f"sim: key '{key}' was already used for service '{used_for}'")
            return traffic.state(conn, service)

        return self._keyed("set_traffic", key, replay, lambda conn: traffic.apply(conn, service, weights))

    def replica_lag(self, service: str, region: str) -> float | None:
        """Seconds the region's replica is behind (1.0 unless injected; None: unknown); RegionUnavailable
        in an outage."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            if store.has_outage(conn, region):
                raise RegionUnavailable(f"sim: region '{region}' is down (outage): replica unreadable")
            return traffic.replica_lag(conn, region)

    # --- seeding and admin -------------------------------------------------------------------

    def seed(self, service: str, regions: list[tuple[str, int]], release: str) -> list[str]:
        """Put `service` on `release` in each (region, instance_count) not seeded yet; returns those.

        The first seeding of a service splits its traffic equally; regions added later
        start at weight 0, so the split still sums to 1 and keeps any weights set since.
        """
        with self._store.write() as conn:
            fresh = dict(r for r in regions if not store.is_seeded(conn, service, r[0]))
            if not fresh:
                return []
            first = not store.seeded_regions(conn, service)
            for region, n in fresh.items():
                store.ensure_region(conn, region)
                store.add_instances(conn, service, region, release, n, None)
                store.set_traffic_weight(conn, service, region, 1.0 / len(fresh) if first else 0.0)
            return list(fresh)

    def seed_topology(self, topology: TopologyLike) -> dict[str, list[str]]:
        """Seed every service of the topology on its initial release in every region not seeded yet;
        returns the regions seeded now, per service."""
        regions = [(r.name, r.instances) for r in topology.regions]
        return {s.name: self.seed(s.name, regions, s.initial_release) for s in topology.services}

    def reset(self) -> None:
        """Delete everything: instances, traffic, faults, snapshots, DR resources and the ledger."""
        with self._store.write() as conn:
            store.wipe(conn)

    def clear_faults(self) -> None:
        """Remove release, outage, API, replica lag and DR faults and sim alarms (instances, traffic, ledger
        stay)."""
        with self._store.write() as conn:
            store.clear_faults(conn)

    def inject_release_fault(
        self,
        release: str,
        error_rate: float | None = None,
        latency_ms: float = 0.0,
        regions: list[str] | None = None,
        under_load: bool = False,
    ) -> None:
        """Make instances on `release` fail and slow down, in `regions` (None = everywhere).

        `error_rate` is absolute: the share of requests they fail, instead of BASELINE_ERROR_RATE
        (None: the baseline, so the fault only slows them); `latency_ms` is added to the p99 of
        BASELINE_LATENCY_MS. The fault replaces any earlier one of the same release.

        With `under_load` the fault hits a group only while it serves live traffic (canary:
        weight > 0; stable: weight < 1): preview traffic to a 0-weight green group is clean.
        """
        rate = BASELINE_ERROR_RATE if error_rate is None else error_rate
        _check_rate(rate)
        if latency_ms < 0:
            raise InvalidRequest(f"sim: latency_ms must be >= 0, got {latency_ms}")
        fault = store.ReleaseFault(
            release,
            rate,
            latency_ms,
            None if regions is None else frozenset(regions),
            under_load,
        )
        with self._store.write() as conn:
            store.put_release_fault(conn, fault)

    def inject_outage(self, region: str) -> None:
        """Take a whole region down: unreachable, nothing healthy, deploys refused."""
        with self._store.write() as conn:
            store.set_outage(conn, region)

    def clear_outage(self, region: str) -> None:
        """Bring a region back up (a recovery); its other faults stay."""
        with self._store.write() as conn:
            store.clear_outage(conn, region)

    def inject_metrics_gap(self, region: str) -> None:
        """Stop the region's metrics: it keeps serving, but health and analysis read no data."""
        with self._store.write() as conn:
            store.set_metrics_gap(conn, region, True)

    def clear_metrics_gap(self, region: str) -> None:
        """Let the region's metrics arrive again."""
        with self._store.write() as conn:
            store.set_metrics_gap(conn, region, False)

    def inject_quota(self, region: str, instances: int | None) -> None:
        """Set the region's instance quota (every service together); None: back to the default."""
        if instances is not None and instances < 0:
            raise InvalidRequest(f"sim: an instance quota must be >= 0, got {instances}")
        with self._store.write() as conn:
            store.set_instance_quota(conn, region, instances)

    def inject_replica_lag(self, region: str, seconds: float | None) -> None:
        """Make the region's data replica `seconds` behind (None: its lag unknown) until clear_faults."""
        if seconds is not None and not (seconds >= 0 and math.isfinite(seconds)):
            raise InvalidRequest(f"sim: replica lag must be >= 0 seconds, got {seconds}")
        with self._store.write() as conn:
            traffic.put_replica_lag(conn, region, seconds)

    def inject_api_fault(self, error_rate: float, throttle: bool, delay_s: float = 0.0) -> None:
        """Make every CloudPort call fail with probability `error_rate` (Throttled or Unavailable), and
        every mutating call take `delay_s` seconds before it acts (heartbeating: a long cloud call)."""
        _check_rate(error_rate)
        if not (delay_s >= 0 and math.isfinite(delay_s)):
            raise InvalidRequest(f"sim: an API delay must be >= 0 seconds, got {delay_s}")
        with self._store.write() as conn:
            store.put_api_fault(conn, error_rate, throttle, delay_s)

    def set_alarm(self, name: str, region: str | None = None) -> None:
        """Make sim alarm `name` fire in `region` (None: every region) until cleared."""
        if not name.strip():
            raise InvalidRequest("sim: an alarm needs a name")
        with self._store.write() as conn:
            store.set_alarm(conn, name.strip(), region)

    def clear_alarm(self, name: str, region: str | None = None) -> bool:
        """Stop sim alarm `name` in `region` (None: everywhere); False when it was not firing there."""
        with self._store.write() as conn:
            return store.clear_alarm(conn, name.strip(), region) > 0

    def alarms(self) -> list[dict[str, Any]]:
        """Every firing sim alarm: {name, region} (region None: every region)."""
        with self._store.read() as conn:
            return [{"name": name, "region": region} for name, region in store.alarms(conn)]

    def firing_alarms(self, region: str) -> list[str]:
        """Names of the sim alarms firing in `region` (API faults do not apply: a read of state)."""
        with self._store.read() as conn:
            return store.firing_alarms(conn, region)

    # --- views for the CLI and tests ---------------------------------------------------------

    def status(self, service: str) -> list[dict[str, Any]]:
        """Per region, by name: releases, canary, health and traffic (API faults do not apply)."""
        with self._store.read() as conn:
            return views.status_rows(conn, service)

    def release_faults(self) -> list[dict[str, Any]]:
        """Every injected release fault, by release: error rate, added p99 ms, regions (None: all)."""
        with self._store.read() as conn:
            faults = store.release_faults(conn)
        return [
            {
                "release": f.release,
                "error_rate": f.error_rate,
                "added_latency_ms": f.latency_ms,
                "regions": None if f.regions is None else sorted(f.regions),
                "under_load": f.under_load,
            }
            for f in sorted(faults, key=lambda f: f.release)
        ]

    def inventory(self) -> dict[str, Any]:
        """Counts to diff: instances, groups, canary weights, traffic, total, ledger, snapshots, resources."""
        with self._store.read() as conn:
            return views.inventory(conn)

    def ledger_size(self) -> int:
        """How many keyed mutating calls were recorded."""
        with self._store.read() as conn:
            return store.ledger_size(conn)

    def instance_ids(self, service: str, region: str, group: Group | None = None) -> list[str]:
        """Instance ids of the service in the region (one group, or both), oldest first."""
        with self._store.read() as conn:
            return [i.id for i in store.instances(conn, service, region, group)]

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
            raise NotFound(store.not_seeded(service, f"region '{region}'"))

    def _once(
        self,
        op: str,
        key: str,
        service: str,
        region: str,
        kind: type[RegionResult],
        apply: Callable[[sqlite3.Connection], RegionResult],
    ) -> RegionResult:
        """A keyed change of one region: it must be seeded and up; a replay shows its current state.

        A replayed DeployResult keeps the change it made the first time.
        """

        def replay(conn: sqlite3.Connection, payload: str) -> RegionResult:
            seeded = store.is_seeded(conn, service, region)
            return _replay(kind, payload, groups.state(conn, service, region) if seeded else None)

        def guarded(conn: sqlite3.Connection) -> RegionResult:
            self._require_seeded(conn, service, region)
            if store.has_outage(conn, region):
                raise RegionUnavailable(f"sim: region '{region}' is down (outage)")
            return apply(conn)

        return self._keyed(op, key, replay, guarded)

    def _keyed(
        self,
        op: str,
        key: str,
        replay: Callable[[sqlite3.Connection, str], Result],
        apply: Callable[[sqlite3.Connection], Result],
    ) -> Result:
        """Run `apply` once per key in one write transaction; a repeated key gives `replay`'s answer.

        A key already used by another kind of call is refused (InvalidRequest). An error in
        `apply` rolls everything back and records nothing, so the key may be used again.
        An injected API delay is spent first, outside the transaction, heartbeating like a real
        long call: a worker killed in it leaves the change undone, and the retry makes it once.
        """
        with self._store.read() as conn:
            delay = store.api_delay(conn)
        if delay > 0:
            pause(delay, f"sim: {op} in progress ({delay:g}s API delay)")
        with self._store.write() as conn:
            self._api_gate(conn)
            stored = store.ledger_get(conn, key)
            if stored is not None:
                stored_op, payload = stored
                if stored_op != op:
                    raise InvalidRequest(f"sim: key '{key}' was already used by {stored_op}, not {op}")
                return replay(conn, payload)
            result = apply(conn)
            store.ledger_put(conn, key, op, result.model_dump_json())
        hold_after(op)  # tests only (GLOBALOPS_SIM_HOLD): the change is made, its answer held
        return result


def _replay(kind: type[RegionResult], payload: str, current: RegionState | None) -> RegionResult:
    """The stored result of a keyed call, brought up to the region's current state."""
    previous = kind.model_validate_json(payload)
    if isinstance(previous, DeployResult):
        return previous.model_copy(update={"state": current or previous.state})
    return current or previous


def _check_count(count: int, release: str) -> None:
    if count < 0:
        raise InvalidRequest(f"sim: count must be >= 0, got {count}")
    if not release:
        raise InvalidRequest("sim: release artifact '' does not exist")


def _check_rate(error_rate: float) -> None:
    if not 0.0 <= error_rate <= 1.0:
        raise InvalidRequest(f"sim: error_rate must be within 0..1, got {error_rate}")
