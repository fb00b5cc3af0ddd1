"""SQLite storage of the simulated cloud, shared safely by the worker's threads and CLI processes."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from contracts.errors import SIM_SEED_COMMAND

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
        created_by_key TEXT,
        grp TEXT NOT NULL DEFAULT 'stable')""",
    "CREATE INDEX IF NOT EXISTS instances_by_place ON instances(service, region)",
    """CREATE TABLE IF NOT EXISTS traffic (
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        weight REAL NOT NULL,
        PRIMARY KEY (service, region))""",
    """CREATE TABLE IF NOT EXISTS canary_weights (
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        weight REAL NOT NULL,
        PRIMARY KEY (service, region))""",
    """CREATE TABLE IF NOT EXISTS release_faults (
        release TEXT PRIMARY KEY,
        error_rate REAL NOT NULL,
        latency_ms REAL NOT NULL,
        regions TEXT,
        under_load INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS api_faults (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        error_rate REAL NOT NULL,
        throttle INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS replica_lag (
        region TEXT PRIMARY KEY,
        seconds REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger (
        key TEXT PRIMARY KEY,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL,
        op TEXT NOT NULL DEFAULT 'ensure_release')""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        source_region TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        checksum TEXT NOT NULL,
        watermark INTEGER NOT NULL,
        copy_of TEXT,
        key TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS snapshots_by_place ON snapshots(service, region)",
    """CREATE TABLE IF NOT EXISTS dr_resources (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        service TEXT NOT NULL,
        region TEXT NOT NULL,
        env TEXT NOT NULL,
        snapshot_id TEXT,
        key TEXT NOT NULL,
        checksum TEXT NOT NULL,
        watermark INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS dr_resources_by_service ON dr_resources(service, env)",
    """CREATE TABLE IF NOT EXISTS dr_faults (
        region TEXT PRIMARY KEY,
        corrupt INTEGER NOT NULL DEFAULT 1)""",
    # A firing sim alarm: NAME fires in `region` ('*': in every region) until cleared.
    """CREATE TABLE IF NOT EXISTS sim_alarms (
        name TEXT NOT NULL,
        region TEXT NOT NULL,
        PRIMARY KEY (name, region))""",
)
# Columns added after the first release: (table, column, definition). A sim.db made before
# gets them by ALTER TABLE; the defaults give old rows their old meaning (every instance was
# stable, every fault hit under any load, ensure_release was the only keyed call).
ADDED_COLUMNS = (
    ("instances", "grp", "TEXT NOT NULL DEFAULT 'stable'"),
    ("release_faults", "under_load", "INTEGER NOT NULL DEFAULT 0"),
    ("ledger", "op", "TEXT NOT NULL DEFAULT 'ensure_release'"),
    ("regions", "metrics_gap", "INTEGER NOT NULL DEFAULT 0"),
    ("regions", "instance_quota", "INTEGER"),
    ("api_faults", "delay_s", "REAL NOT NULL DEFAULT 0"),
    ("snapshots", "kms_key", "TEXT"),  # NULL: stored unencrypted (as every snapshot before it)
)
TABLES = (
    "regions",
    "instances",
    "traffic",
    "canary_weights",
    "release_faults",
    "api_faults",
    "replica_lag",
    "ledger",
    "snapshots",
    "dr_resources",
    "dr_faults",
    "sim_alarms",
)


@dataclass(frozen=True)
class Instance:
    """One simulated VM of a service in a region."""

    seq: int
    id: str
    release: str
    group: str = "stable"


@dataclass(frozen=True)
class ReleaseFault:
    """A bad release: its error rate and extra latency, in `regions` (None = everywhere).

    An `under_load` fault is a load-dependent bug: it shows only on a group that serves live
    traffic, so preview traffic to a 0-weight green group looks clean.
    """

    release: str
    error_rate: float
    latency_ms: float
    regions: frozenset[str] | None
    under_load: bool = False

    def applies(self, release: str, region: str, loaded: bool = True) -> bool:
        """True if instances on `release` in `region` suffer this fault (`loaded`: live traffic)."""
        return (
            self.release == release
            and (self.regions is None or region in self.regions)
            and (loaded or not self.under_load)
        )


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat()


class SimStore:
    """One SQLite file in WAL mode, BEGIN IMMEDIATE for writes; each thread keeps one connection open.

    Opening a connection (and its PRAGMAs) for every call was 8 % of a busy worker's Python CPU
    (bench B2's profile); a thread reuses its own. A transaction inside another one of the same
    thread gets a connection of its own, as before.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        with self.write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            _add_missing_columns(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _checkout(self) -> tuple[sqlite3.Connection, bool]:
        """This thread's kept connection when it is free, else a new one (kept if the thread has none)."""
        kept: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if kept is not None and not kept.in_transaction:
            return kept, True
        conn = self._connect()
        if kept is None:
            self._local.conn = conn
            return conn, True
        return conn, False

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn, kept = self._checkout()
        try:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if not kept or conn.in_transaction:  # a connection left inside a transaction is not kept
                if kept:
                    self._local.conn = None
                conn.close()

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot of the whole cloud."""
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        return self._transaction("BEGIN IMMEDIATE")


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Migrate a sim.db made by an older version (inside the schema's write transaction)."""
    for table, column, definition in ADDED_COLUMNS:
        have = {str(r["name"]) for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            # fixed names from ADDED_COLUMNS, never input
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def not_seeded(service: str, where: str) -> str:
    """Why a call on a service the sim never seeded (in `where`) fails, and the command that fixes it.

    The sim holds what it was seeded with: the topology of the worker (GLOBALOPS_TOPOLOGY) or of a
    `globalops sim ...` command. An operation started with another topology names services or
    regions it has never seen.
    """
    return (
        f"sim: service '{service}' was never seeded in {where}: seed the sim from your topology"
        f" with `{SIM_SEED_COMMAND} --topology FILE`"
    )


# --- queries (each takes a connection inside a transaction) ---------------------------------


def is_seeded(conn: sqlite3.Connection, service: str, region: str) -> bool:
    """True if the service was ever seeded in the region."""
    row = conn.execute("SELECT 1 FROM traffic WHERE service = ? AND region = ?", (service, region)).fetchone()
    return row is not None


def seeded_regions(conn: sqlite3.Connection, service: str) -> list[str]:
    """Regions where the service is seeded, by name."""
    rows = conn.execute("SELECT region FROM traffic WHERE service = ? ORDER BY region", (service,)).fetchall()
    return [str(r["region"]) for r in rows]


def seeded_services(conn: sqlite3.Connection) -> list[str]:
    """Services seeded in at least one region, by name."""
    rows = conn.execute("SELECT DISTINCT service FROM traffic ORDER BY service").fetchall()
    return [str(r["service"]) for r in rows]


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


def clear_outage(conn: sqlite3.Connection, region: str) -> None:
    """Mark the region as up again (other faults stay)."""
    conn.execute("UPDATE regions SET outage = 0 WHERE name = ?", (region,))


def has_metrics_gap(conn: sqlite3.Connection, region: str) -> bool:
    """True if the region's metrics stop arriving (it is up; nothing reports how it does)."""
    row = conn.execute("SELECT metrics_gap FROM regions WHERE name = ?", (region,)).fetchone()
    return bool(row and row["metrics_gap"])


def set_metrics_gap(conn: sqlite3.Connection, region: str, gap: bool) -> None:
    """Stop (or restart) the region's metrics."""
    ensure_region(conn, region)
    conn.execute("UPDATE regions SET metrics_gap = ? WHERE name = ?", (int(gap), region))


def instance_quota(conn: sqlite3.Connection, region: str) -> int | None:
    """The region's injected instance quota (every service together); None: the default."""
    row = conn.execute("SELECT instance_quota FROM regions WHERE name = ?", (region,)).fetchone()
    return None if row is None or row["instance_quota"] is None else int(row["instance_quota"])


def set_instance_quota(conn: sqlite3.Connection, region: str, quota: int | None) -> None:
    """Set (None: reset to the default) the region's instance quota."""
    ensure_region(conn, region)
    conn.execute("UPDATE regions SET instance_quota = ? WHERE name = ?", (quota, region))


def instances_in_region(conn: sqlite3.Connection, region: str) -> int:
    """Instances of every service in the region (what counts against its quota)."""
    row = conn.execute("SELECT COUNT(*) AS n FROM instances WHERE region = ?", (region,)).fetchone()
    return int(row["n"])


def instances(
    conn: sqlite3.Connection, service: str, region: str, group: str | None = None
) -> list[Instance]:
    """The service's instances in the region (of one group, or all), oldest first."""
    rows = conn.execute(
        "SELECT seq, id, release, grp FROM instances WHERE service = ? AND region = ? "
        "AND (? IS NULL OR grp = ?) ORDER BY seq",
        (service, region, group, group),
    ).fetchall()
    return [Instance(int(r["seq"]), str(r["id"]), str(r["release"]), str(r["grp"])) for r in rows]


def add_instances(
    conn: sqlite3.Connection,
    service: str,
    region: str,
    release: str,
    n: int,
    key: str | None,
    group: str = "stable",
) -> None:
    """Create `n` new instances on `release` in `group`."""
    created = now_iso()
    conn.executemany(
        "INSERT INTO instances (id, service, region, release, created_at, created_by_key, grp) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(f"i-{secrets.token_hex(6)}", service, region, release, created, key, group) for _ in range(n)],
    )


def relabel_group(conn: sqlite3.Connection, service: str, region: str, src: str, dst: str) -> None:
    """Move every instance of group `src` to group `dst` (same ids, same releases)."""
    conn.execute(
        "UPDATE instances SET grp = ? WHERE service = ? AND region = ? AND grp = ?",
        (dst, service, region, src),
    )


def canary_weight(conn: sqlite3.Connection, service: str, region: str) -> float:
    """The share of the region's traffic routed to the canary / green group (0 if never set)."""
    row = conn.execute(
        "SELECT weight FROM canary_weights WHERE service = ? AND region = ?", (service, region)
    ).fetchone()
    return float(row["weight"]) if row else 0.0


def set_canary_weight(conn: sqlite3.Connection, service: str, region: str, weight: float) -> None:
    """Insert or update the region's canary weight."""
    conn.execute(
        "INSERT INTO canary_weights (service, region, weight) VALUES (?, ?, ?) "
        "ON CONFLICT (service, region) DO UPDATE SET weight = excluded.weight",
        (service, region, weight),
    )


def delete_instances(conn: sqlite3.Connection, seqs: list[int]) -> None:
    """Terminate the instances with these sequence numbers."""
    conn.executemany("DELETE FROM instances WHERE seq = ?", [(s,) for s in seqs])


def canary_weights(conn: sqlite3.Connection) -> list[tuple[str, str, float]]:
    """Every canary weight above 0 as (service, region, weight)."""
    rows = conn.execute(
        "SELECT service, region, weight FROM canary_weights WHERE weight > 0 ORDER BY service, region"
    ).fetchall()
    return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]


def release_faults(conn: sqlite3.Connection) -> list[ReleaseFault]:
    """Every injected release fault."""
    rows = conn.execute("SELECT release, error_rate, latency_ms, regions, under_load FROM release_faults")
    return [
        ReleaseFault(
            str(r["release"]),
            float(r["error_rate"]),
            float(r["latency_ms"]),
            None if r["regions"] is None else frozenset(json.loads(r["regions"])),
            bool(r["under_load"]),
        )
        for r in rows.fetchall()
    ]


def put_release_fault(conn: sqlite3.Connection, fault: ReleaseFault) -> None:
    """Inject (or replace) the fault of one release."""
    regions = None if fault.regions is None else json.dumps(sorted(fault.regions))
    conn.execute(
        "INSERT OR REPLACE INTO release_faults (release, error_rate, latency_ms, regions, under_load) "
        "VALUES (?, ?, ?, ?, ?)",
        (fault.release, fault.error_rate, fault.latency_ms, regions, int(fault.under_load)),
    )


def api_fault(conn: sqlite3.Connection) -> tuple[float, bool] | None:
    """The injected API fault as (error_rate, throttle), if any."""
    row = conn.execute("SELECT error_rate, throttle FROM api_faults WHERE id = 1").fetchone()
    return (float(row["error_rate"]), bool(row["throttle"])) if row else None


def put_api_fault(conn: sqlite3.Connection, error_rate: float, throttle: bool, delay_s: float = 0.0) -> None:
    """Inject (or replace) the API fault."""
    conn.execute(
        "INSERT OR REPLACE INTO api_faults (id, error_rate, throttle, delay_s) VALUES (1, ?, ?, ?)",
        (error_rate, int(throttle), delay_s),
    )


def api_delay(conn: sqlite3.Connection) -> float:
    """Seconds every mutating call takes before it acts (a slow cloud API), 0 unless injected."""
    row = conn.execute("SELECT delay_s FROM api_faults WHERE id = 1").fetchone()
    return float(row["delay_s"]) if row else 0.0


def clear_faults(conn: sqlite3.Connection) -> None:
    """Remove release, outage, metrics-gap, quota, API, replica lag and DR faults, and sim alarms."""
    conn.execute("DELETE FROM release_faults")
    conn.execute("DELETE FROM dr_faults")
    conn.execute("DELETE FROM replica_lag")
    conn.execute("DELETE FROM api_faults")
    conn.execute("DELETE FROM sim_alarms")
    conn.execute("UPDATE regions SET outage = 0, metrics_gap = 0, instance_quota = NULL")


#: The `region` of a sim alarm that fires in every region.
EVERY_REGION = "*"


def set_alarm(conn: sqlite3.Connection, name: str, region: str | None) -> None:
    """Make alarm `name` fire in `region` (None: in every region)."""
    conn.execute(
        "INSERT OR IGNORE INTO sim_alarms (name, region) VALUES (?, ?)", (name, region or EVERY_REGION)
    )


def clear_alarm(conn: sqlite3.Connection, name: str, region: str | None) -> int:
    """Stop alarm `name` firing in `region` (None: everywhere it fires); how many rows went."""
    if region is None:
        return conn.execute("DELETE FROM sim_alarms WHERE name = ?", (name,)).rowcount
    return conn.execute("DELETE FROM sim_alarms WHERE name = ? AND region = ?", (name, region)).rowcount


def alarms(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    """Every firing sim alarm as (name, region or None for every region), by name then region."""
    rows = conn.execute("SELECT name, region FROM sim_alarms ORDER BY name, region").fetchall()
    return [(str(r[0]), None if r[1] == EVERY_REGION else str(r[1])) for r in rows]


def firing_alarms(conn: sqlite3.Connection, region: str) -> list[str]:
    """Names of the sim alarms that fire in `region` (its own or every region's), sorted."""
    rows = conn.execute(
        "SELECT DISTINCT name FROM sim_alarms WHERE region IN (?, ?) ORDER BY name", (region, EVERY_REGION)
    ).fetchall()
    return [str(r[0]) for r in rows]


def wipe(conn: sqlite3.Connection) -> None:
    """Delete every row of every table."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names, never input


def ledger_get(conn: sqlite3.Connection, key: str) -> tuple[str, str] | None:
    """The call (`op`) and stored JSON result of a keyed call, if the key was seen."""
    row = conn.execute("SELECT op, result FROM ledger WHERE key = ?", (key,)).fetchone()
    return (str(row["op"]), str(row["result"])) if row else None


def ledger_put(conn: sqlite3.Connection, key: str, op: str, result: str) -> None:
    """Record the JSON result of a keyed call of `op`."""
    conn.execute(
        "INSERT INTO ledger (key, result, created_at, op) VALUES (?, ?, ?, ?)",
        (key, result, now_iso(), op),
    )


def ledger_size(conn: sqlite3.Connection) -> int:
    """How many keyed calls the ledger holds."""
    return int(conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])


def counts(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, int]]:
    """Instance counts as (service, region, group, release, n)."""
    rows = conn.execute(
        "SELECT service, region, grp, release, COUNT(*) AS n FROM instances "
        "GROUP BY service, region, grp, release ORDER BY service, region, grp, release"
    ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]
