"""The sim's storage half (StoragePort): snapshots, cross-region copies and recovery resources."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from activities.clouds import sim_store as store
from contracts.errors import (
    InvalidRequest,
    NotFound,
    RegionUnavailable,
)
from contracts.storage import (
    PROD,
    Resource,
    ResourceKind,
    Snapshot,
    SnapshotVerification,
    VolumeCheck,
)

# What a keyed call returns, and so what its ledger entry holds.
Result = TypeVar("Result", bound=BaseModel)
# A keyed result that names the service and region it was made for.
Placed = TypeVar("Placed", Snapshot, Resource)

CORRUPT_PREFIX = "corrupt-"
_SNAPSHOT_COLUMNS = "id, service, region, source_region, taken_at, checksum, watermark, copy_of, key, kms_key"
_RESOURCE_COLUMNS = "id, kind, service, region, env, snapshot_id, key"


class Launch(BaseModel):
    """The ledger entry of launch_instances: the instances it created."""

    instances: list[Resource]


# --- queries and changes (each takes a connection inside a transaction) ---------------------


def require_up(conn: sqlite3.Connection, region: str) -> None:
    """RegionUnavailable if the region is in an outage (its API is unreachable)."""
    if store.has_outage(conn, region):
        raise RegionUnavailable(f"sim: region '{region}' is down (outage)")


def watermark(taken_at: datetime) -> int:
    """The data sequence number at `taken_at`: its epoch milliseconds (naive means UTC)."""
    return int(_utc(taken_at).timestamp() * 1000)


def checksum(service: str, region: str, mark: int) -> str:
    """The checksum of the service's data in `region` up to sequence `mark`."""
    return hashlib.sha256(f"{service}/{region}/{mark}".encode()).hexdigest()


def stored_snapshots(conn: sqlite3.Connection, service: str, region: str | None) -> list[Snapshot]:
    """Snapshots stored in `region` (None = every region, by name), newest first."""
    rows = conn.execute(
        f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE service = ? AND (? IS NULL OR region = ?) "  # noqa: S608 - fixed columns
        "ORDER BY region, taken_at DESC, seq DESC",
        (service, region, region),
    ).fetchall()
    return [_snapshot(r) for r in rows]


def find_snapshot(conn: sqlite3.Connection, service: str, region: str, snapshot_id: str) -> Snapshot | None:
    """The snapshot `snapshot_id` if it is stored in `region`."""
    row = conn.execute(
        f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE service = ? AND region = ? AND id = ?",  # noqa: S608 - fixed columns
        (service, region, snapshot_id),
    ).fetchone()
    return _snapshot(row) if row else None


def snapshot_by_key(conn: sqlite3.Connection, service: str, region: str, key: str) -> Snapshot | None:
    """The snapshot stored in `region` tagged with `key` (the look-up before a copy)."""
    row = conn.execute(
        f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE service = ? AND region = ? AND key = ? "  # noqa: S608 - fixed columns
        "ORDER BY seq LIMIT 1",
        (service, region, key),
    ).fetchone()
    return _snapshot(row) if row else None


def take(
    conn: sqlite3.Connection,
    service: str,
    region: str,
    taken_at: datetime,
    key: str,
    kms_key: str | None = None,
) -> Snapshot:
    """Store a new original snapshot of the service's data in `region` as of `taken_at`, encrypted
    with `kms_key` (None: unencrypted)."""
    mark = watermark(taken_at)
    snap = Snapshot(
        id=_new_id("snap"),
        service=service,
        region=region,
        source_region=region,
        taken_at=_utc(taken_at),
        checksum=checksum(service, region, mark),
        watermark=mark,
        key=key,
        encrypted=kms_key is not None,
        kms_key=kms_key,
    )
    _insert_snapshot(conn, snap)
    return snap


def copy(
    conn: sqlite3.Connection, source: Snapshot, dest_region: str, key: str, kms_key: str | None = None
) -> Snapshot:
    """Store a copy of `source` in `dest_region`, tagged `key`; copy_of names the first original.

    With `kms_key` the copy is (re-)encrypted with it, as EBS CopySnapshot with a KmsKeyId does;
    without, it keeps the source's encryption.
    """
    snap = source.model_copy(
        update={
            "id": _new_id("snap"),
            "region": dest_region,
            "copy_of": source.copy_of or source.id,
            "key": key,
            **({"encrypted": True, "kms_key": kms_key} if kms_key is not None else {}),
        }
    )
    _insert_snapshot(conn, snap)
    return snap


def delete_snapshot(conn: sqlite3.Connection, service: str, region: str, snapshot_id: str) -> bool:
    """Delete a snapshot stored in `region`; False if there was none."""
    cur = conn.execute(
        "DELETE FROM snapshots WHERE service = ? AND region = ? AND id = ?", (service, region, snapshot_id)
    )
    return cur.rowcount > 0


def restore(conn: sqlite3.Connection, snap: Snapshot, env: str, key: str) -> Resource:
    """A new volume from `snap` in its region; its checksum is spoiled under a corrupt fault."""
    spoiled = is_corrupt(conn, snap.region)
    volume = Resource(
        id=_new_id("vol"),
        kind="volume",
        service=snap.service,
        region=snap.region,
        env=env,
        snapshot_id=snap.id,
        key=key,
    )
    _insert_resource(conn, volume, (CORRUPT_PREFIX if spoiled else "") + snap.checksum, snap.watermark)
    return volume


def find_volume(conn: sqlite3.Connection, service: str, region: str, volume_id: str) -> VolumeCheck | None:
    """What the volume `volume_id` in `region` holds, if it exists."""
    row = conn.execute(
        "SELECT id, region, checksum, watermark FROM dr_resources "
        "WHERE service = ? AND region = ? AND id = ? AND kind = 'volume'",
        (service, region, volume_id),
    ).fetchone()
    if row is None:
        return None
    return VolumeCheck(
        volume_id=str(row["id"]),
        region=str(row["region"]),
        checksum=str(row["checksum"]),
        watermark=int(row["watermark"]),
    )


def launch(
    conn: sqlite3.Connection,
    service: str,
    release: str,
    count: int,
    volume: VolumeCheck,
    env: str,
    key: str,
) -> list[Resource]:
    """`count` instances on the volume; in prod they also join the region's stable group."""
    created = [
        Resource(id=_new_id("i"), kind="instance", service=service, region=volume.region, env=env, key=key)
        for _ in range(count)
    ]
    for instance in created:
        _insert_resource(conn, instance, volume.checksum, volume.watermark)
    if env == PROD:
        now = store.now_iso()
        conn.executemany(
            "INSERT INTO instances (id, service, region, release, created_at, created_by_key, grp) "
            "VALUES (?, ?, ?, ?, ?, ?, 'stable')",
            [(i.id, service, i.region, release, now, key) for i in created],
        )
    return created


def tagged_resources(conn: sqlite3.Connection, service: str, env: str | None) -> list[Resource]:
    """The service's recovery resources in every region (of one environment, or all), oldest first."""
    rows = conn.execute(
        f"SELECT {_RESOURCE_COLUMNS} FROM dr_resources WHERE service = ? AND (? IS NULL OR env = ?) "  # noqa: S608 - fixed columns
        "ORDER BY seq",
        (service, env, env),
    ).fetchall()
    return [_resource(r) for r in rows]


def delete_resource(conn: sqlite3.Connection, service: str, region: str, resource_id: str) -> bool:
    """Delete a recovery resource (a prod instance leaves the serving group too); False if gone."""
    row = conn.execute(
        "SELECT kind, env FROM dr_resources WHERE service = ? AND region = ? AND id = ?",
        (service, region, resource_id),
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM dr_resources WHERE id = ?", (resource_id,))
    if row["kind"] == "instance" and row["env"] == PROD:
        conn.execute(
            "DELETE FROM instances WHERE service = ? AND region = ? AND id = ?",
            (service, region, resource_id),
        )
    return True


def is_corrupt(conn: sqlite3.Connection, region: str) -> bool:
    """True if volumes restored in the region come out corrupt (an injected DR fault)."""
    row = conn.execute("SELECT corrupt FROM dr_faults WHERE region = ?", (region,)).fetchone()
    return bool(row and row["corrupt"])


def put_dr_fault(conn: sqlite3.Connection, region: str, corrupt: bool) -> None:
    """Inject (or replace) the DR fault of a region."""
    conn.execute(
        "INSERT INTO dr_faults (region, corrupt) VALUES (?, ?) "
        "ON CONFLICT (region) DO UPDATE SET corrupt = excluded.corrupt",
        (region, int(corrupt)),
    )


def snapshot_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Snapshots stored per service and region: {service: {region: n}}."""
    rows = conn.execute(
        "SELECT service, region, COUNT(*) FROM snapshots GROUP BY service, region ORDER BY service, region"
    ).fetchall()
    tree: dict[str, dict[str, int]] = {}
    for service, region, n in rows:
        tree.setdefault(str(service), {})[str(region)] = int(n)
    return tree


def resource_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Recovery resources of every service per environment: {env: n}."""
    rows = conn.execute("SELECT env, COUNT(*) FROM dr_resources GROUP BY env ORDER BY env").fetchall()
    return {str(env): int(n) for env, n in rows}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def _snapshot(row: sqlite3.Row) -> Snapshot:
    return Snapshot(
        id=str(row["id"]),
        service=str(row["service"]),
        region=str(row["region"]),
        source_region=str(row["source_region"]),
        taken_at=datetime.fromisoformat(str(row["taken_at"])),
        checksum=str(row["checksum"]),
        watermark=int(row["watermark"]),
        copy_of=None if row["copy_of"] is None else str(row["copy_of"]),
        key=str(row["key"]),
        encrypted=row["kms_key"] is not None,
        kms_key=None if row["kms_key"] is None else str(row["kms_key"]),
    )


def _insert_snapshot(conn: sqlite3.Connection, snap: Snapshot) -> None:
    # fixed-width UTC text, so ORDER BY taken_at is chronological
    taken_at = _utc(snap.taken_at).isoformat(timespec="microseconds")
    conn.execute(
        f"INSERT INTO snapshots ({_SNAPSHOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed columns
        (
            snap.id,
            snap.service,
            snap.region,
            snap.source_region,
            taken_at,
            snap.checksum,
            snap.watermark,
            snap.copy_of,
            snap.key,
            snap.kms_key if snap.encrypted else None,
        ),
    )


def _resource(row: sqlite3.Row) -> Resource:
    kind: ResourceKind = "volume" if row["kind"] == "volume" else "instance"
    return Resource(
        id=str(row["id"]),
        kind=kind,
        service=str(row["service"]),
        region=str(row["region"]),
        env=str(row["env"]),
        snapshot_id=None if row["snapshot_id"] is None else str(row["snapshot_id"]),
        key=str(row["key"]),
    )


def _insert_resource(conn: sqlite3.Connection, res: Resource, data_checksum: str, mark: int) -> None:
    conn.execute(
        f"INSERT INTO dr_resources ({_RESOURCE_COLUMNS}, checksum, watermark) "  # noqa: S608 - fixed columns
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (res.id, res.kind, res.service, res.region, res.env, res.snapshot_id, res.key, data_checksum, mark),
    )


def _same_place(key: str, previous: Placed, service: str, region: str) -> Placed:
    """A replayed result, unless its key was first used for another service or region."""
    if (previous.service, previous.region) != (service, region):
        raise InvalidRequest(
            f"sim: key '{key}' was already used for '{previous.service}' in '{previous.region}'"
        )
    return previous


def _missing(kind: str, resource_id: str, service: str, region: str) -> NotFound:
    return NotFound(f"sim: {kind} '{resource_id}' of '{service}' does not exist in region '{region}'")


def _check_env(env: str) -> None:
    if not env:
        raise InvalidRequest("sim: env must not be empty (use 'prod' or an isolated one like 'drill-1')")


# --- the StoragePort methods of SimCloud ----------------------------------------------------


class SimStorage:
    """StoragePort for SimCloud: thin methods over the functions above, in SimCloud's transactions."""

    if TYPE_CHECKING:  # provided by SimCloud
        _store: store.SimStore

        @staticmethod
        def _api_gate(conn: sqlite3.Connection) -> None: ...

        @staticmethod
        def _require_seeded(conn: sqlite3.Connection, service: str, region: str) -> None: ...

        def _keyed(
            self,
            op: str,
            key: str,
            replay: Callable[[sqlite3.Connection, str], Result],
            apply: Callable[[sqlite3.Connection], Result],
        ) -> Result: ...

    def snapshot_volume(
        self, service: str, region: str, taken_at: datetime, key: str, kms_key: str | None = None
    ) -> Snapshot:
        """Snapshot the service's data volume in `region` as of `taken_at`, recorded as encrypted with
        `kms_key` (None: unencrypted); once per key.

        The sim has no data clock: it stamps the snapshot with the caller's `taken_at` (the
        workflow's clock), so time-skipping tests can simulate weeks of backups in seconds. A
        repeated key returns the same Snapshot, even if it was deleted since.
        """

        def apply(conn: sqlite3.Connection) -> Snapshot:
            self._require_seeded(conn, service, region)
            require_up(conn, region)
            return take(conn, service, region, taken_at, key, kms_key)

        def replay(conn: sqlite3.Connection, payload: str) -> Snapshot:
            return _same_place(key, Snapshot.model_validate_json(payload), service, region)

        return self._keyed("snapshot_volume", key, replay, apply)

    def copy_snapshot(
        self,
        service: str,
        snapshot_id: str,
        region: str,
        dest_region: str,
        key: str,
        kms_key: str | None = None,
    ) -> Snapshot:
        """Copy a snapshot stored in `region` to `dest_region`, re-encrypted with `kms_key` (None: as
        the source); once per key, by looking before acting.

        Like EBS CopySnapshot (no client token) the copy is tagged with its key and a retry finds
        it in `dest_region` instead of copying again: the ledger is not used. Both regions must be
        up (reading the source needs its region), unless the copy already exists.
        """
        with self._store.write() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, dest_region)
            require_up(conn, dest_region)
            source = find_snapshot(conn, service, region, snapshot_id)
            existing = snapshot_by_key(conn, service, dest_region, key)
            if existing is not None:
                origins = {snapshot_id} if source is None else {snapshot_id, source.copy_of or source.id}
                if existing.copy_of is None or (source is not None and existing.copy_of not in origins):
                    raise InvalidRequest(f"sim: key '{key}' already tags snapshot {existing.id} there")
                return existing
            if source is None:
                raise _missing("snapshot", snapshot_id, service, region)
            require_up(conn, region)
            return copy(conn, source, dest_region, key, kms_key)

    def list_snapshots(self, service: str, region: str) -> list[Snapshot]:
        """Snapshots stored in `region`, newest first; RegionUnavailable in an outage (use the copies)."""
        with self._store.read() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            require_up(conn, region)
            return stored_snapshots(conn, service, region)

    def delete_snapshot(self, service: str, region: str, snapshot_id: str) -> bool:
        """Delete a snapshot stored in `region`; False if already gone (deleting is idempotent, no key)."""
        with self._store.write() as conn:
            self._api_gate(conn)
            self._require_seeded(conn, service, region)
            require_up(conn, region)
            return delete_snapshot(conn, service, region, snapshot_id)

    def restore_volume(self, service: str, region: str, snapshot_id: str, env: str, key: str) -> Resource:
        """A new volume tagged `env` from a snapshot stored in `region`; once per key.

        Under an injected corrupt fault (inject_dr_fault) the volume's checksum is spoiled, so
        an integrity check of it fails.
        """
        _check_env(env)

        def apply(conn: sqlite3.Connection) -> Resource:
            self._require_seeded(conn, service, region)
            require_up(conn, region)
            snap = find_snapshot(conn, service, region, snapshot_id)
            if snap is None:
                raise _missing("snapshot", snapshot_id, service, region)
            return restore(conn, snap, env, key)

        def replay(conn: sqlite3.Connection, payload: str) -> Resource:
            return _same_place(key, Resource.model_validate_json(payload), service, region)

        return self._keyed("restore_volume", key, replay, apply)

    def launch_instances(
        self, service: str, region: str, release: str, count: int, volume_id: str, env: str, key: str
    ) -> list[Resource]:
        """`count` instances on `release` using the volume, tagged `env`; once per key.

        Prod instances join the region's stable group (region_state and health count them);
        any other environment is isolated and leaves production's tables untouched.
        """
        _check_env(env)
        if count < 1:
            raise InvalidRequest(f"sim: count must be >= 1, got {count}")
        if not release:
            raise InvalidRequest("sim: release artifact '' does not exist")

        def apply(conn: sqlite3.Connection) -> Launch:
            self._require_seeded(conn, service, region)
            require_up(conn, region)
            volume = find_volume(conn, service, region, volume_id)
            if volume is None:
                raise _missing("volume", volume_id, service, region)
            return Launch(instances=launch(conn, service, release, count, volume, env, key))

        def replay(conn: sqlite3.Connection, payload: str) -> Launch:
            previous = Launch.model_validate_json(payload)
            _same_place(key, previous.instances[0], service, region)
            return previous

        return self._keyed("launch_instances", key, replay, apply).instances

    def check_volume(self, service: str, region: str, volume_id: str) -> VolumeCheck:
        """Read back a volume's checksum and data watermark; RegionUnavailable in an outage."""
        with self._store.read() as conn:
            self._api_gate(conn)
            require_up(conn, region)
            found = find_volume(conn, service, region, volume_id)
            if found is None:
                raise _missing("volume", volume_id, service, region)
            return found

    def verify_snapshot(self, service: str, region: str, snapshot_id: str) -> SnapshotVerification:
        """Recompute the checksum of the data the snapshot says it holds (its source region up to its
        watermark) and compare it with the one stored; RegionUnavailable in an outage."""
        with self._store.read() as conn:
            self._api_gate(conn)
            require_up(conn, region)
            snap = find_snapshot(conn, service, region, snapshot_id)
        if snap is None:
            raise _missing("snapshot", snapshot_id, service, region)
        want = checksum(service, snap.source_region, snap.watermark)
        ok = snap.checksum == want
        return SnapshotVerification(
            snapshot_id=snapshot_id,
            region=region,
            checked=True,
            ok=ok,
            method="sim: data checksum recomputed",
            reason=None
            if ok
            else f"snapshot {snapshot_id}: checksum {snap.checksum[:16]} ≠ its data's {want[:16]}",
        )

    def list_resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Recovery resources of the service in every region, oldest first; works during outages (cleanup)."""
        with self._store.read() as conn:
            self._api_gate(conn)
            return tagged_resources(conn, service, env)

    def delete_resource(self, service: str, region: str, resource_id: str) -> bool:
        """Delete a volume or instance; False if already gone.

        Works during an outage of `region`: the sim's control plane stays reachable, so the
        cleanup after a drill or a failover never waits for a recovery.
        """
        with self._store.write() as conn:
            self._api_gate(conn)
            return delete_resource(conn, service, region, resource_id)

    # --- faults and views (no API faults) ----------------------------------------------------

    def inject_dr_fault(self, region: str, corrupt: bool = True) -> None:
        """Make volumes restored in `region` fail integrity checks (until clear_faults)."""
        with self._store.write() as conn:
            put_dr_fault(conn, region, corrupt)

    def snapshots(self, service: str) -> list[Snapshot]:
        """Every snapshot of the service, by region then newest first (even in an outage)."""
        with self._store.read() as conn:
            return stored_snapshots(conn, service, None)

    def resources(self, service: str, env: str | None = None) -> list[Resource]:
        """Recovery resources of the service (of one environment, or all), oldest first."""
        with self._store.read() as conn:
            return tagged_resources(conn, service, env)
