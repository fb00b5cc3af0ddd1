"""The sim's global traffic split (DNS / load-balancer weights per region) and replica lag."""

from __future__ import annotations

import math
import sqlite3

from activities.clouds import sim_store as store
from contracts.cloud import TrafficState
from contracts.errors import (
    InvalidRequest,
    NotFound,
)

SUM_TOLERANCE = 1e-6
DEFAULT_REPLICA_LAG_S = 1.0


def weights(conn: sqlite3.Connection, service: str) -> dict[str, float]:
    """Every seeded region of the service and its share of global traffic, by region name."""
    rows = conn.execute(
        "SELECT region, weight FROM traffic WHERE service = ? ORDER BY region", (service,)
    ).fetchall()
    return {str(r["region"]): float(r["weight"]) for r in rows}


def all_weights(conn: sqlite3.Connection) -> dict[str, dict[str, float]]:
    """Traffic weights of every service: {service: {region: weight}}."""
    rows = conn.execute("SELECT service, region, weight FROM traffic ORDER BY service, region").fetchall()
    tree: dict[str, dict[str, float]] = {}
    for service, region, weight in rows:
        tree.setdefault(str(service), {})[str(region)] = float(weight)
    return tree


def state(conn: sqlite3.Connection, service: str) -> TrafficState:
    """The service's traffic split, or NotFound if it is seeded nowhere."""
    current = weights(conn, service)
    if not current:
        raise NotFound(store.not_seeded(service, "any region"))
    return TrafficState(service=service, weights=current)


def check_weights(requested: dict[str, float]) -> None:
    """InvalidRequest unless every requested weight is a number within 0..1."""
    for region, weight in requested.items():
        if not (isinstance(weight, int | float) and 0.0 <= weight <= 1.0):
            raise InvalidRequest(f"sim: traffic weight of '{region}' must be within 0..1, got {weight}")


def apply(conn: sqlite3.Connection, service: str, requested: dict[str, float]) -> TrafficState:
    """Set the named regions' weights (others keep theirs) if the new split sums to 1.

    Everything is checked before anything is written, so a refused call changes nothing.
    """
    check_weights(requested)
    current = state(conn, service).weights
    unknown = sorted(r for r in requested if r not in current)
    if unknown:
        raise NotFound(store.not_seeded(service, f"region(s) {', '.join(unknown)}"))
    merged = {**current, **{r: float(w) for r, w in requested.items()}}
    total = math.fsum(merged.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InvalidRequest(f"sim: weights must sum to 1, got {total:.6g}")
    conn.executemany(
        "UPDATE traffic SET weight = ? WHERE service = ? AND region = ?",
        [(merged[r], service, r) for r in requested],
    )
    return TrafficState(service=service, weights=merged)


#: How the table stores "the database reports no lag" (its column is NOT NULL).
UNKNOWN_LAG = -1.0


def replica_lag(conn: sqlite3.Connection, region: str) -> float | None:
    """Seconds the region's replica is behind: the injected lag, else DEFAULT_REPLICA_LAG_S; None: unknown."""
    row = conn.execute("SELECT seconds FROM replica_lag WHERE region = ?", (region,)).fetchone()
    if row is None:
        return DEFAULT_REPLICA_LAG_S
    return None if float(row["seconds"]) < 0 else float(row["seconds"])


def put_replica_lag(conn: sqlite3.Connection, region: str, seconds: float | None) -> None:
    """Inject (or replace) the replica lag of a region (None: the database stops reporting it)."""
    seconds = UNKNOWN_LAG if seconds is None else seconds
    conn.execute(
        "INSERT INTO replica_lag (region, seconds) VALUES (?, ?) "
        "ON CONFLICT (region) DO UPDATE SET seconds = excluded.seconds",
        (region, seconds),
    )
