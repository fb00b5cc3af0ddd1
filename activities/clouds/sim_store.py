"""SQLite storage of the simulated cloud, shared safely by the worker's threads and CLI processes."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS regions (
        name TEXT PRIMARY KEY,
        outage INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS instances (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        release TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by_key TEXT)""",
    "CREATE INDEX IF NOT EXISTS instances_by_place ON instances(service, region)",
    """CREATE TABLE IF NOT EXISTS traffic (
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        weight REAL NOT NULL,
        PRIMARY KEY (service, region))""",
    """CREATE TABLE IF NOT EXISTS release_faults (
        release TEXT PRIMARY KEY,
        error_rate REAL NOT NULL,
        latency_ms REAL NOT NULL,
        regions TEXT)""",
    """CREATE TABLE IF NOT EXISTS api_faults (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        error_rate REAL NOT NULL,
        throttle INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger (
        key TEXT PRIMARY KEY,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
)
TABLES = ("regions", "instances", "traffic", "release_faults", "api_faults", "ledger")


@dataclass(frozen=True)
class Instance:
    """One simulated VM of a service in a region."""

    seq: int
    id: str
    release: str


@dataclass(frozen=True)
class ReleaseFault:
    """A bad release: its error rate and extra latency, in `regions` (None = everywhere)."""

    release: str
    error_rate: float
    latency_ms: float
    regions: frozenset[str] | None

    def applies(self, release: str, region: str) -> bool:
        """True if instances on `release` in `region` suffer this fault."""
        return self.release == release and (self.regions is None or region in self.regions)


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat()


class SimStore:
    """One SQLite file in WAL mode; a fresh connection per call, BEGIN IMMEDIATE for writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        with self.write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot of the whole cloud."""
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        return self._transaction("BEGIN IMMEDIATE")


# --- queries (each takes a connection inside a transaction) ---------------------------------


def is_seeded(conn: sqlite3.Connection, service: str, region: str) -> bool:
    """True if the service was ever seeded in the region."""
    row = conn.execute("SELECT 1 FROM traffic WHERE service = ? AND region = ?", (service, region)).fetchone()
    return row is not None


def seeded_regions(conn: sqlite3.Connection, service: str) -> list[str]:
    """Regions where the service is seeded, by name."""
    rows = conn.execute("SELECT region FROM traffic WHERE service = ? ORDER BY region", (service,)).fetchall()
    return [str(r["region"]) for r in rows]


def traffic_weight(conn: sqlite3.Connection, service: str, region: str) -> float:
    """The region's share of the service's global traffic (0 if not seeded)."""
    row = conn.execute(
        "SELECT weight FROM traffic WHERE service = ? AND region = ?", (service, region)
    ).fetchone()
    return float(row["weight"]) if row else 0.0


def set_traffic_weight(conn: sqlite3.Connection, service: str, region: str, weight: float) -> None:
    """Insert or update the region's traffic share."""
    conn.execute(
        "INSERT INTO traffic (service, region, weight) VALUES (?, ?, ?) "
        "ON CONFLICT (service, region) DO UPDATE SET weight = excluded.weight",
        (service, region, weight),
    )


def ensure_region(conn: sqlite3.Connection, region: str) -> None:
    """Make the region known (no outage) if it is not yet."""
    conn.execute("INSERT OR IGNORE INTO regions (name, outage) VALUES (?, 0)", (region,))


def has_outage(conn: sqlite3.Connection, region: str) -> bool:
    """True if an outage is injected in the region."""
    row = conn.execute("SELECT outage FROM regions WHERE name = ?", (region,)).fetchone()
    return bool(row and row["outage"])


def set_outage(conn: sqlite3.Connection, region: str) -> None:
    """Mark the region as down."""
    conn.execute(
        "INSERT INTO regions (name, outage) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET outage = 1",
        (region,),
    )


def instances(conn: sqlite3.Connection, service: str, region: str) -> list[Instance]:
    """The service's instances in the region, oldest first."""
    rows = conn.execute(
        "SELECT seq, id, release FROM instances WHERE service = ? AND region = ? ORDER BY seq",
        (service, region),
    ).fetchall()
    return [Instance(int(r["seq"]), str(r["id"]), str(r["release"])) for r in rows]


def add_instances(
    conn: sqlite3.Connection,
    service: str,
    region: str,
    release: str,
    n: int,
    key: str | None,
) -> None:
    """Create `n` new instances on `release`."""
    created = now_iso()
    conn.executemany(
        "INSERT INTO instances (id, service, region, release, created_at, created_by_key) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(f"i-{secrets.token_hex(6)}", service, region, release, created, key) for _ in range(n)],
    )


def delete_instances(conn: sqlite3.Connection, seqs: list[int]) -> None:
    """Terminate the instances with these sequence numbers."""
    conn.executemany("DELETE FROM instances WHERE seq = ?", [(s,) for s in seqs])


def release_faults(conn: sqlite3.Connection) -> list[ReleaseFault]:
    """Every injected release fault."""
    rows = conn.execute("SELECT release, error_rate, latency_ms, regions FROM release_faults")
    return [
        ReleaseFault(
            str(r["release"]),
            float(r["error_rate"]),
            float(r["latency_ms"]),
            None if r["regions"] is None else frozenset(json.loads(r["regions"])),
        )
        for r in rows.fetchall()
    ]


def put_release_fault(conn: sqlite3.Connection, fault: ReleaseFault) -> None:
    """Inject (or replace) the fault of one release."""
    regions = None if fault.regions is None else json.dumps(sorted(fault.regions))
    conn.execute(
        "INSERT OR REPLACE INTO release_faults (release, error_rate, latency_ms, regions) "
        "VALUES (?, ?, ?, ?)",
        (fault.release, fault.error_rate, fault.latency_ms, regions),
    )


def api_fault(conn: sqlite3.Connection) -> tuple[float, bool] | None:
    """The injected API fault as (error_rate, throttle), if any."""
    row = conn.execute("SELECT error_rate, throttle FROM api_faults WHERE id = 1").fetchone()
    return (float(row["error_rate"]), bool(row["throttle"])) if row else None


def put_api_fault(conn: sqlite3.Connection, error_rate: float, throttle: bool) -> None:
    """Inject (or replace) the API fault."""
    conn.execute(
        "INSERT OR REPLACE INTO api_faults (id, error_rate, throttle) VALUES (1, ?, ?)",
        (error_rate, int(throttle)),
    )


def clear_faults(conn: sqlite3.Connection) -> None:
    """Remove release, outage and API faults."""
    conn.execute("DELETE FROM release_faults")
    conn.execute("DELETE FROM api_faults")
    conn.execute("UPDATE regions SET outage = 0")


def wipe(conn: sqlite3.Connection) -> None:
    """Delete every row of every table."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names, never input


def ledger_get(conn: sqlite3.Connection, key: str) -> str | None:
    """The stored JSON result of a keyed call, if the key was seen."""
    row = conn.execute("SELECT result FROM ledger WHERE key = ?", (key,)).fetchone()
    return str(row["result"]) if row else None


def ledger_put(conn: sqlite3.Connection, key: str, result: str) -> None:
    """Record the JSON result of a keyed call."""
    conn.execute(
        "INSERT INTO ledger (key, result, created_at) VALUES (?, ?, ?)",
        (key, result, now_iso()),
    )


def ledger_size(conn: sqlite3.Connection) -> int:
    """How many keyed calls the ledger holds."""
    return int(conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])


def counts(conn: sqlite3.Connection) -> list[tuple[str, str, str, int]]:
    """Instance counts as (service, region, release, n)."""
    rows = conn.execute(
        "SELECT service, region, release, COUNT(*) AS n FROM instances "
        "GROUP BY service, region, release ORDER BY service, region, release"
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]
