"""Cloud DNS v1 REST of the test server: managed zones, resource record sets (with routingPolicy.wrr)
and changes, which answer `pending` and are `done` at the next read, as the real API's do.

Additions of a name and type that exists (and is not deleted in the same change) fail 409
alreadyExists; a deletion that does not match the stored record set exactly fails 412
conditionNotMet, so a writer that read a stale record set is caught.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

from tests.helpers.gcp_server.ops import ApiError

Json = dict[str, Any]
_ZONES = re.compile(r"^/dns/v1/projects/(?P<project>[^/]+)/managedZones(?:/(?P<zone>[^/]+))?$")
_RRSETS = re.compile(r"^/dns/v1/projects/(?P<project>[^/]+)/managedZones/(?P<zone>[^/]+)/rrsets$")
_CHANGES = re.compile(
    r"^/dns/v1/projects/(?P<project>[^/]+)/managedZones/(?P<zone>[^/]+)/changes(?:/(?P<change>[^/]+))?$"
)
_ids = itertools.count(1)


def now_rfc3339() -> str:
    """A timestamp as Cloud DNS writes it (milliseconds, 'Z'), which google-cloud-dns parses."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class DnsState:
    """Zones by (project, name); each zone's record sets by (name, type) and its changes by id."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.zones: dict[tuple[str, str], Json] = {}
        self.rrsets: dict[tuple[str, str], dict[tuple[str, str], Json]] = {}
        self.changes: dict[tuple[str, str], dict[str, Json]] = {}
        self.calls = 0

    def reset(self) -> None:
        with self.lock:
            self.zones.clear()
            self.rrsets.clear()
            self.changes.clear()
            self.calls = 0

    def record_set(self, project: str, zone: str, name: str, kind: str) -> Json | None:
        """A stored record set (a copy), for tests to read back."""
        with self.lock:
            found = self.rrsets.get((project, zone), {}).get((name, kind))
            return copy.deepcopy(found) if found else None


def handles(path: str) -> bool:
    return path.startswith("/dns/v1/")


def dispatch(state: DnsState, method: str, path: str, query: dict[str, str], body: Json) -> Json:
    with state.lock:
        state.calls += 1
        if m := _RRSETS.match(path):
            if method == "GET":
                return _list_rrsets(state, _zone_key(state, m), query)
        elif m := _CHANGES.match(path):
            key = _zone_key(state, m)
            if method == "POST" and not m["change"]:
                return _apply(state, key, body)
            if method == "GET" and m["change"]:
                change = state.changes[key].get(m["change"])
                if change is None:
                    raise ApiError(404, f"change {m['change']} not found", "notFound")
                change["status"] = "done"
                return copy.deepcopy(change)
        elif m := _ZONES.match(path):
            if method == "GET" and m["zone"]:
                return copy.deepcopy(state.zones[_zone_key(state, m)])
            if method == "GET":
                zones = [z for (p, _), z in state.zones.items() if p == m["project"]]
                return {"kind": "dns#managedZonesListResponse", "managedZones": copy.deepcopy(zones)}
            if method == "POST":
                return _create_zone(state, m["project"], body)
    raise ApiError(404, f"no Cloud DNS route for {method} {path}", "notFound")


def _zone_key(state: DnsState, m: re.Match[str]) -> tuple[str, str]:
    key = (m["project"], m["zone"])
    if key not in state.zones:
        raise ApiError(
            404, f"The 'parameters.managedZone' resource named '{m['zone']}' does not exist.", "notFound"
        )
    return key


def _create_zone(state: DnsState, project: str, body: Json) -> Json:
    name, dns_name = str(body.get("name", "")), str(body.get("dnsName", ""))
    if not name or not dns_name.endswith("."):
        raise ApiError(400, "a managed zone needs a name and a dnsName ending in '.'", "invalid")
    if (project, name) in state.zones:
        raise ApiError(409, f"The resource '{name}' already exists", "alreadyExists")
    zone = {
        "kind": "dns#managedZone",
        "name": name,
        "dnsName": dns_name,
        "description": body.get("description") or "",
        "id": str(next(_ids)),
        "creationTime": now_rfc3339(),
        "nameServers": ["ns-cloud-a1.googledomains.com."],
    }
    state.zones[(project, name)] = zone
    state.rrsets[(project, name)] = {}
    state.changes[(project, name)] = {}
    return copy.deepcopy(zone)


def _list_rrsets(state: DnsState, key: tuple[str, str], query: dict[str, str]) -> Json:
    found = [
        rs
        for (name, kind), rs in sorted(state.rrsets[key].items())
        if query.get("name", name) == name and query.get("type", kind) == kind
    ]
    return {"kind": "dns#resourceRecordSetsListResponse", "rrsets": copy.deepcopy(found)}


def _canonical(rs: Json) -> str:
    keep = {k: rs[k] for k in ("name", "type", "ttl", "rrdatas", "routingPolicy") if k in rs}
    return json.dumps(keep, sort_keys=True)


def _checked(zone: Json, rs: Json) -> Json:
    name, kind = str(rs.get("name", "")), str(rs.get("type", ""))
    if not (name == zone["dnsName"] or name.endswith("." + zone["dnsName"])):
        raise ApiError(400, f"'{name}' is not within the zone '{zone['dnsName']}'", "invalid")
    if not kind or not isinstance(rs.get("ttl"), int) or rs["ttl"] < 0:
        raise ApiError(400, f"record set '{name}': type and a ttl >= 0 are required", "invalid")
    has_data, policy = bool(rs.get("rrdatas")), rs.get("routingPolicy")
    if has_data == bool(policy):
        raise ApiError(400, f"record set '{name}': exactly one of rrdatas or routingPolicy", "invalid")
    if policy:
        items = policy.get("wrr", {}).get("items")
        if not items:
            raise ApiError(400, f"record set '{name}': routingPolicy.wrr.items required", "invalid")
        for item in items:
            weight = item.get("weight")
            if not isinstance(weight, int | float) or weight < 0 or not item.get("rrdatas"):
                raise ApiError(
                    400, f"record set '{name}': each wrr item needs a weight >= 0 and rrdatas", "invalid"
                )
    datas = list(rs.get("rrdatas") or []) + [
        d for i in (policy or {}).get("wrr", {}).get("items", []) for d in i["rrdatas"]
    ]
    if kind == "CNAME" and any(not str(d).endswith(".") for d in datas):
        raise ApiError(400, f"record set '{name}': a CNAME's data must be a name ending in '.'", "invalid")
    out = {"kind": "dns#resourceRecordSet", **{k: v for k, v in rs.items() if k != "kind"}}
    return copy.deepcopy(out)


def _apply(state: DnsState, key: tuple[str, str], body: Json) -> Json:
    zone, sets = state.zones[key], state.rrsets[key]
    after = dict(sets)
    for rs in body.get("deletions") or []:
        ident = (str(rs.get("name")), str(rs.get("type")))
        if ident not in after or _canonical(after[ident]) != _canonical(rs):
            raise ApiError(
                412, f"deletion of '{ident[0]}' {ident[1]} does not match the record set", "conditionNotMet"
            )
        del after[ident]
    for rs in body.get("additions") or []:
        checked = _checked(zone, rs)
        ident = (checked["name"], checked["type"])
        if ident in after:
            raise ApiError(409, f"The resource '{ident[0]}' {ident[1]} already exists", "alreadyExists")
        after[ident] = checked
    sets.clear()
    sets.update(after)
    change_id = str(len(state.changes[key]) + 1)
    change = {
        "kind": "dns#change",
        "id": change_id,
        "startTime": now_rfc3339(),
        "status": "pending",
        "additions": copy.deepcopy(body.get("additions") or []),
        "deletions": copy.deepcopy(body.get("deletions") or []),
    }
    state.changes[key][change_id] = change
    return copy.deepcopy(change)
