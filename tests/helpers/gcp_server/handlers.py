"""The Compute REST calls the GCP adapter uses, over the in-memory state (JSON in, JSON out)."""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from tests.helpers.gcp_server.ops import ApiError
from tests.helpers.gcp_server.state import ComputeState, link, matches, public, rel, valid_scaler, vcpus

Json = dict[str, Any]
Handler = Callable[[ComputeState, dict[str, str], dict[str, str], Json], Json]

P = "projects/(?P<project>[^/]+)"
G = P + "/global"
R = P + "/regions/(?P<region>[^/]+)"
Z = P + "/zones/(?P<zone>[^/]+)"


def _g(m: dict[str, str]) -> str:
    return f"projects/{m['project']}/global"


def _r(m: dict[str, str]) -> str:
    return f"projects/{m['project']}/regions/{m['region']}"


def _z(m: dict[str, str]) -> str:
    return f"projects/{m['project']}/zones/{m['zone']}"


def _list(items: list[Json], kind: str) -> Json:
    return {"kind": kind, "items": [public(i) for i in items]}


# --- operations ----------------------------------------------------------------------------------


def op_get(scope: Callable[[dict[str, str]], str]) -> Handler:
    def handle(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
        op = s.ops.find(scope(m), m["op"])
        s.ops.poll(op)
        return op.to_json()

    return handle


def op_wait(scope: Callable[[dict[str, str]], str]) -> Handler:
    def handle(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
        op = s.ops.find(scope(m), m["op"])
        s.lock.release()  # a wait blocks a little without holding up other requests
        try:
            time.sleep(0.005)
        finally:
            s.lock.acquire()
        s.ops.advance(op)  # wait returns on DONE or when its deadline passes: one step here
        return op.to_json()

    return handle


# --- instance templates ----------------------------------------------------------------------------


def template_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_g(m)}/instanceTemplates"
    name = s.require_new(coll, b.get("name"))
    body = copy.deepcopy(b)
    body["kind"] = "compute#instanceTemplate"

    def apply() -> None:
        if name in s.coll(coll):
            raise ApiError(409, f"The resource '{coll}/{name}' already exists", "alreadyExists")
        s.put(coll, body)

    return s.start(_g(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def template_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(s.get(f"{_g(m)}/instanceTemplates", m["name"]))


# --- regional managed instance groups --------------------------------------------------------------


def _mig(s: ComputeState, m: dict[str, str]) -> tuple[str, Json]:
    coll = f"{_r(m)}/instanceGroupManagers"
    return f"{coll}/{m['name']}", s.get(coll, m["name"])


def mig_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_r(m)}/instanceGroupManagers"
    name = s.require_new(coll, b.get("name"))
    s.get_template(b.get("instanceTemplate", ""))
    body = copy.deepcopy(b)
    body.update(
        kind="compute#instanceGroupManager",
        region=link(_r(m)),
        instanceGroup=link(f"{_r(m)}/instanceGroups/{name}"),
        status={"isStable": True},
        fingerprint=secrets.token_hex(4),
    )
    body.setdefault("baseInstanceName", name)
    body.setdefault("targetSize", 0)

    def apply() -> None:
        mig = s.put(coll, body)
        s.grow(f"{coll}/{name}", mig, int(mig["targetSize"]))

    return s.start(_r(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def mig_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(_mig(s, m)[1])


def mig_delete(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, _ = _mig(s, m)

    def apply() -> None:
        for coll, inst in s.instances_of(path):
            s.delete_instance(coll, inst["name"])
        s.coll(path.rsplit("/", 1)[0]).pop(m["name"], None)

    return s.start(_r(m), "delete", path, apply, q.get("requestId")).to_json()


def mig_list_managed(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, _ = _mig(s, m)
    managed = [
        {
            "instance": inst["selfLink"],
            "name": inst["name"],
            "id": inst["id"],
            "instanceStatus": inst["status"],
            "currentAction": "NONE",
            "version": {"instanceTemplate": inst["_template"]},
        }
        for _, inst in s.instances_of(path)
    ]
    return {"managedInstances": managed}


def mig_set_template(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, mig = _mig(s, m)
    template = s.get_template(b.get("instanceTemplate", ""))

    def apply() -> None:
        mig["instanceTemplate"] = template["selfLink"]

    return s.start(_r(m), "setInstanceTemplate", path, apply, q.get("requestId")).to_json()


def _members(s: ComputeState, path: str, urls: list[str]) -> list[tuple[str, Json]]:
    by_path = {f"{coll}/{inst['name']}": (coll, inst) for coll, inst in s.instances_of(path)}
    picked = []
    for url in urls:
        found = by_path.get(rel(url))
        if found is None:
            raise ApiError(400, f"Instance '{url}' is not a member of '{path}'", "invalid")
        picked.append(found)
    return picked


def mig_recreate(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, mig = _mig(s, m)
    picked = _members(s, path, list(b.get("instances", [])))

    def apply() -> None:
        template = s.get_template(mig["instanceTemplate"])
        for coll, inst in picked:
            if inst["name"] in s.coll(coll):
                s.delete_instance(coll, inst["name"])
                s.new_instance(coll.rsplit("/", 1)[0], inst["name"], template, path)

    return s.start(_r(m), "recreateInstances", path, apply, q.get("requestId")).to_json()


def mig_delete_instances(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, mig = _mig(s, m)
    picked = _members(s, path, list(b.get("instances", [])))

    def apply() -> None:
        for coll, inst in picked:
            if inst["name"] in s.coll(coll):
                s.delete_instance(coll, inst["name"])
                mig["targetSize"] = max(0, int(mig["targetSize"]) - 1)

    return s.start(_r(m), "deleteInstances", path, apply, q.get("requestId")).to_json()


def mig_resize(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, mig = _mig(s, m)
    try:
        size = int(q["size"])
    except (KeyError, ValueError):
        raise ApiError(400, "Required parameter 'size' is missing or invalid", "required") from None
    if size < 0:
        raise ApiError(400, "Invalid value for field 'size'", "invalid")

    def apply() -> None:
        members = s.instances_of(path)
        for coll, inst in reversed(members[size:]):
            s.delete_instance(coll, inst["name"])
        if size > len(members):
            s.grow(path, mig, size - len(members))
        mig["targetSize"] = size

    return s.start(_r(m), "compute.instanceGroupManagers.resize", path, apply, q.get("requestId")).to_json()


def mig_create_instances(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    path, mig = _mig(s, m)
    wanted = list(b.get("instances", []))
    zone = s.region_zones(mig)[0]
    for item in wanted:
        s.require_new(f"{zone}/instances", item.get("name"))

    def apply() -> None:
        template = s.get_template(mig["instanceTemplate"])
        for item in wanted:
            inst = s.new_instance(zone, item["name"], template, path)
            for disk in (item.get("preservedState") or {}).get("disks", {}).values():
                inst["disks"].append({"source": disk.get("source"), "mode": disk.get("mode", "READ_WRITE")})
            mig["targetSize"] = int(mig["targetSize"]) + 1

    return s.start(_r(m), "createInstances", path, apply, q.get("requestId")).to_json()


# --- global backend services ---------------------------------------------------------------------


def _check_backends(b: Json) -> None:
    for backend in b.get("backends", []):
        scaler = float(backend.get("capacityScaler", 1.0))
        if not valid_scaler(scaler):
            raise ApiError(
                400,
                f"Invalid value for field 'resource.backends.capacityScaler': '{scaler}'."
                " Must be 0 or in the range [0.1, 1.0].",
                "invalid",
            )


def backend_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_g(m)}/backendServices"
    name = s.require_new(coll, b.get("name"))
    _check_backends(b)
    body = copy.deepcopy(b)
    body.update(kind="compute#backendService", fingerprint=secrets.token_hex(4))

    def apply() -> None:
        s.put(coll, body)

    return s.start(_g(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def backend_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(s.get(f"{_g(m)}/backendServices", m["name"]))


def backend_patch(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_g(m)}/backendServices"
    rid = q.get("requestId")
    if rid and (m["project"], rid) in s.ops.by_request:  # a replay: the first operation, nothing new
        return s.ops.by_request[(m["project"], rid)].to_json()
    current = s.get(coll, m["name"])
    if b.get("fingerprint") and b["fingerprint"] != current["fingerprint"]:
        raise ApiError(
            412, "Supplied fingerprint does not match current resource fingerprint", "conditionNotMet"
        )
    _check_backends(b)
    patch = {k: copy.deepcopy(v) for k, v in b.items() if k not in ("fingerprint", "name", "selfLink", "id")}
    fingerprint = secrets.token_hex(4)
    current["fingerprint"] = fingerprint  # the new fingerprint is taken at once: a racing patch gets 412

    def apply() -> None:
        current.update(patch)

    return s.start(_g(m), "patch", f"{coll}/{m['name']}", apply, rid).to_json()


# --- snapshots (global), disks and instances (zonal) -----------------------------------------------

_CRYPTO_KEY = re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")


def _customer_key(body: Json, field: str) -> None:
    """A CMEK as GCE keeps it: the key name checked, the version it encrypted with appended on read."""
    name = (body.get(field) or {}).get("kmsKeyName")
    if name is None:
        return
    if not _CRYPTO_KEY.fullmatch(name):
        raise ApiError(400, f"Invalid value for field 'resource.{field}.kmsKeyName': '{name}'", "invalid")
    body[field] = {"kmsKeyName": f"{name}/cryptoKeyVersions/1"}


def snapshot_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_g(m)}/snapshots"
    name = s.require_new(coll, b.get("name"))
    source = rel(b.get("sourceDisk", ""))
    disk_coll, _, disk_name = source.rpartition("/")
    disk = s.get(disk_coll, disk_name)
    body = copy.deepcopy(b)
    _customer_key(body, "snapshotEncryptionKey")
    body.update(
        kind="compute#snapshot",
        status="READY",
        sourceDisk=disk["selfLink"],
        sourceDiskId=disk["id"],
        diskSizeGb=disk.get("sizeGb", "10"),
        labelFingerprint=secrets.token_hex(4),
    )
    body.setdefault("storageLocations", [rel(disk["zone"]).split("/")[-1].rsplit("-", 1)[0]])

    def apply() -> None:
        if name in s.coll(coll):
            raise ApiError(409, f"The resource '{coll}/{name}' already exists", "alreadyExists")
        s.put(coll, body)

    return s.start(_g(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def snapshot_list(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    items = [i for i in s.coll(f"{_g(m)}/snapshots").values() if matches(i, q.get("filter"))]
    return _list(items, "compute#snapshotList")


def snapshot_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(s.get(f"{_g(m)}/snapshots", m["name"]))


def snapshot_delete(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_g(m)}/snapshots"
    s.get(coll, m["name"])

    def apply() -> None:
        s.coll(coll).pop(m["name"], None)

    return s.start(_g(m), "delete", f"{coll}/{m['name']}", apply, q.get("requestId")).to_json()


def disk_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_z(m)}/disks"
    name = s.require_new(coll, b.get("name"))
    body = copy.deepcopy(b)
    _customer_key(body, "diskEncryptionKey")
    if b.get("sourceSnapshot"):
        snap_coll, _, snap_name = rel(b["sourceSnapshot"]).rpartition("/")
        snap = s.get(snap_coll, snap_name)
        body.update(sourceSnapshot=snap["selfLink"], sourceSnapshotId=snap["id"])
        body.setdefault("sizeGb", snap.get("diskSizeGb", "10"))
    body.update(kind="compute#disk", zone=link(_z(m)), status="READY", labelFingerprint=secrets.token_hex(4))
    body.setdefault("sizeGb", "10")

    def apply() -> None:
        if name in s.coll(coll):
            raise ApiError(409, f"The resource '{coll}/{name}' already exists", "alreadyExists")
        s.put(coll, body)

    return s.start(_z(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def disk_list(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    items = [i for i in s.coll(f"{_z(m)}/disks").values() if matches(i, q.get("filter"))]
    return _list(items, "compute#diskList")


def disk_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(s.get(f"{_z(m)}/disks", m["name"]))


def disk_delete(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_z(m)}/disks"
    disk = s.get(coll, m["name"])
    for inst in s.coll(f"{_z(m)}/instances").values():
        if any(rel(d.get("source", "")) == rel(disk["selfLink"]) for d in inst.get("disks", [])):
            raise ApiError(
                400,
                f"The disk resource '{rel(disk['selfLink'])}' is already being used by '{inst['name']}'",
                "resourceInUseByAnotherResource",
            )

    def apply() -> None:
        s.coll(coll).pop(m["name"], None)

    return s.start(_z(m), "delete", f"{coll}/{m['name']}", apply, q.get("requestId")).to_json()


def instance_insert(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_z(m)}/instances"
    name = s.require_new(coll, b.get("name"))
    for disk in b.get("disks", []):
        if disk.get("source"):
            disk_coll, _, disk_name = rel(disk["source"]).rpartition("/")
            s.get(disk_coll, disk_name)
    body = copy.deepcopy(b)

    def apply() -> None:
        if name in s.coll(coll):
            raise ApiError(409, f"The resource '{coll}/{name}' already exists", "alreadyExists")
        inst = s.new_instance(_z(m), name, {"properties": body, "selfLink": None}, None)
        inst["_template"] = None

    return s.start(_z(m), "insert", f"{coll}/{name}", apply, q.get("requestId")).to_json()


def instance_list(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    items = [i for i in s.coll(f"{_z(m)}/instances").values() if matches(i, q.get("filter"))]
    return _list(items, "compute#instanceList")


def instance_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return public(s.get(f"{_z(m)}/instances", m["name"]))


def instance_delete(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_z(m)}/instances"
    s.get(coll, m["name"])

    def apply() -> None:
        s.delete_instance(coll, m["name"])

    return s.start(_z(m), "delete", f"{coll}/{m['name']}", apply, q.get("requestId")).to_json()


def instance_set_labels(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    coll = f"{_z(m)}/instances"
    inst = s.get(coll, m["name"])
    if b.get("labelFingerprint") and b["labelFingerprint"] != inst["labelFingerprint"]:
        raise ApiError(
            412, "Labels fingerprint either invalid or resource labels have changed", "conditionNotMet"
        )
    labels = dict(b.get("labels", {}))

    def apply() -> None:
        inst["labels"] = labels
        inst["labelFingerprint"] = secrets.token_hex(4)

    return s.start(_z(m), "setLabels", f"{coll}/{m['name']}", apply, q.get("requestId")).to_json()


# --- regions (quotas) and machine types ------------------------------------------------------------


def region_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    project, region = m["project"], m["region"]
    return {
        "kind": "compute#region",
        "name": region,
        "status": "UP",
        "selfLink": link(_r(m)),
        "zones": [link(f"projects/{project}/zones/{region}-{z}") for z in ("a", "b", "c")],
        "quotas": s.region_quotas(project, region),
    }


def machine_type_get(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    cpus = vcpus(m["name"])
    if cpus is None:
        raise ApiError(404, f"The resource '{_z(m)}/machineTypes/{m['name']}' was not found", "notFound")
    return {
        "kind": "compute#machineType",
        "name": m["name"],
        "guestCpus": cpus,
        "memoryMb": cpus * 4096,
        "zone": m["zone"],
        "selfLink": link(f"{_z(m)}/machineTypes/{m['name']}"),
    }


# --- the adapter's metrics source (not Compute) ------------------------------------------------------


def metrics(s: ComputeState, m: dict[str, str], q: dict[str, str], b: Json) -> Json:
    return s.series(q.get("release"), q.get("loaded", "1") == "1", int(q.get("points", "60")))


IGM = R + "/instanceGroupManagers/(?P<name>[^/]+)"
ROUTES: list[tuple[str, str, Handler, bool]] = [
    # method, path regex (after /compute/v1/), handler, mutating
    ("GET", G + "/operations/(?P<op>[^/]+)", op_get(_g), False),
    ("POST", G + "/operations/(?P<op>[^/]+)/wait", op_wait(_g), False),
    ("GET", R + "/operations/(?P<op>[^/]+)", op_get(_r), False),
    ("POST", R + "/operations/(?P<op>[^/]+)/wait", op_wait(_r), False),
    ("GET", Z + "/operations/(?P<op>[^/]+)", op_get(_z), False),
    ("POST", Z + "/operations/(?P<op>[^/]+)/wait", op_wait(_z), False),
    ("POST", G + "/instanceTemplates", template_insert, True),
    ("GET", G + "/instanceTemplates/(?P<name>[^/]+)", template_get, False),
    ("POST", R + "/instanceGroupManagers", mig_insert, True),
    ("GET", IGM, mig_get, False),
    ("DELETE", IGM, mig_delete, True),
    ("POST", IGM + "/listManagedInstances", mig_list_managed, False),
    ("POST", IGM + "/setInstanceTemplate", mig_set_template, True),
    ("POST", IGM + "/recreateInstances", mig_recreate, True),
    ("POST", IGM + "/deleteInstances", mig_delete_instances, True),
    ("POST", IGM + "/resize", mig_resize, True),
    ("POST", IGM + "/createInstances", mig_create_instances, True),
    ("POST", G + "/backendServices", backend_insert, True),
    ("GET", G + "/backendServices/(?P<name>[^/]+)", backend_get, False),
    ("PATCH", G + "/backendServices/(?P<name>[^/]+)", backend_patch, True),
    ("POST", G + "/snapshots", snapshot_insert, True),
    ("GET", G + "/snapshots", snapshot_list, False),
    ("GET", G + "/snapshots/(?P<name>[^/]+)", snapshot_get, False),
    ("DELETE", G + "/snapshots/(?P<name>[^/]+)", snapshot_delete, True),
    ("POST", Z + "/disks", disk_insert, True),
    ("GET", Z + "/disks", disk_list, False),
    ("GET", Z + "/disks/(?P<name>[^/]+)", disk_get, False),
    ("DELETE", Z + "/disks/(?P<name>[^/]+)", disk_delete, True),
    ("POST", Z + "/instances", instance_insert, True),
    ("GET", Z + "/instances", instance_list, False),
    ("GET", Z + "/instances/(?P<name>[^/]+)", instance_get, False),
    ("DELETE", Z + "/instances/(?P<name>[^/]+)", instance_delete, True),
    ("POST", Z + "/instances/(?P<name>[^/]+)/setLabels", instance_set_labels, True),
    ("GET", R, region_get, False),
    ("GET", Z + "/machineTypes/(?P<name>[^/]+)", machine_type_get, False),
]
