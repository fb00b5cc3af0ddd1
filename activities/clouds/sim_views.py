"""Read-only views of the sim for the CLI and tests: status rows and an inventory to diff."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

from activities.clouds import sim_groups as groups
from activities.clouds import sim_storage as storage
from activities.clouds import sim_store as store
from activities.clouds import sim_traffic as traffic


def status_rows(conn: sqlite3.Connection, service: str) -> list[dict[str, Any]]:
    """Per region, by name: releases (instances per release in each group), canary, health and traffic
    (API faults do not apply)."""
    rows = []
    for region in store.seeded_regions(conn, service):
        state = groups.state(conn, service, region)
        sample = groups.sample(conn, service, region)
        stable = store.instances(conn, service, region, "stable")
        canary = store.instances(conn, service, region, "canary")
        rows.append(
            {
                "region": region,
                "release": state.release,
                "releases": state.releases,
                "stable_releases": dict(Counter(i.release for i in stable)),
                "groups": {
                    "stable": dict(sorted(Counter(i.release for i in stable).items())),
                    "canary": dict(sorted(Counter(i.release for i in canary).items())),
                },
                "healthy": state.healthy,
                "instances": state.instances,
                "traffic": state.traffic,
                "error_rate": sample.error_rate,
                "latency_ms": sample.latency_p99_ms,
                "canary_release": state.canary_release,
                "canary_weight": state.canary_weight,
                "canary_instances": state.canary_instances,
            }
        )
    return rows


def inventory(conn: sqlite3.Connection) -> dict[str, Any]:
    """Summary counts, to diff: instances per service/region/release (both groups) and per
    service/region/group/release, the total, canary weights above 0, global traffic
    weights per service/region, the ledger size, snapshots per service/region and recovery
    resources per environment (and their total)."""
    tree: dict[str, dict[str, dict[str, int]]] = {}
    by_group: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    rows = store.counts(conn)
    for service, region, group, release, n in rows:
        per_release = tree.setdefault(service, {}).setdefault(region, {})
        per_release[release] = per_release.get(release, 0) + n
        by_group.setdefault(service, {}).setdefault(region, {}).setdefault(group, {})[release] = n
    resources = storage.resource_counts(conn)
    weights: dict[str, dict[str, float]] = {}
    for service, region, weight in store.canary_weights(conn):
        weights.setdefault(service, {})[region] = weight
    return {
        "instances": tree,
        "groups": by_group,
        "canary_weights": weights,
        "traffic": traffic.all_weights(conn),
        "total_instances": sum(n for *_, n in rows),
        "ledger": store.ledger_size(conn),
        "snapshots": storage.snapshot_counts(conn),
        "resources": resources,
        "total_resources": sum(resources.values()),
    }
