"""Cloud DNS as the global traffic layer: one weighted round robin record set, one item per region.

The service's name (`<record>.<zone>`) is a CNAME record set whose routingPolicy.wrr has one item
per region, each pointing at the region's own name `<region>.<record>.<zone>` (which holds the
region's endpoint: an ALB's DNS name, a GCP load balancer's address, a sim address). Cloud DNS
weights are numbers, so a region's weight is its exact share. A change replaces the record set
(deletion of what was read + addition) and is done when Cloud DNS reports it `done`.

google-cloud-dns gives the credentials, the endpoint and the HTTP connection; its ResourceRecordSet
has no routingPolicy (a WRR record set has no rrdatas and cannot even be listed through it), so
record sets and changes travel as the REST API's JSON over the client's connection.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Mapping
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import dns  # type: ignore[attr-defined]

from activities.google_errors import translated
from activities.heartbeat import pause
from config.traffic import GlobalTraffic
from contracts.cloud import TrafficState
from contracts.errors import InvalidRequest, NotFound, Unavailable

SUM_TOLERANCE = 1e-6
WAIT_TIMEOUT_S = 50.0
POLL_INTERVAL_S = 0.5
FIRST_POLL_S = 0.1  # a change is often done within a moment: look again soon, then every POLL_INTERVAL_S
Json = dict[str, Any]


class CloudDnsLayer:
    """GlobalTrafficPort on Cloud DNS (google-auth's default credentials, or anonymous on a test server)."""

    def __init__(self, layer: GlobalTraffic) -> None:
        self._layer = layer
        options = ClientOptions(api_endpoint=layer.api_endpoint) if layer.api_endpoint else None
        credentials = AnonymousCredentials() if layer.api_endpoint else None  # type: ignore[no-untyped-call]
        self._client = dns.Client(project=layer.project, credentials=credentials, client_options=options)
        self._zone: str | None = layer.managed_zone

    # --- REST over the client's connection --------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        # the client's own connection (endpoint, credentials, retries): see the module docstring
        with translated(f"Cloud DNS {method} {path}"):
            answer: Json = self._client._connection.api_request(method=method, path=path, **kwargs)
        return answer

    def _zone_path(self) -> str:
        if self._zone is None:
            zones = [z for z in self._client.list_zones() if z.dns_name == self._layer.zone]
            if not zones:
                raise NotFound(
                    f"gcp: no Cloud DNS managed zone for '{self._layer.zone}' in {self._layer.project}"
                )
            self._zone = str(zones[0].name)
        return f"/projects/{self._layer.project}/managedZones/{self._zone}"

    def _record_set(self, service: str) -> Json | None:
        name = self._layer.fqdn(service)
        found = self._call("GET", self._zone_path() + "/rrsets", query_params={"name": name, "type": "CNAME"})
        return next((rs for rs in found.get("rrsets", []) if rs.get("name") == name), None)

    def _change(self, additions: list[Json], deletions: list[Json]) -> None:
        """Send one change and wait until Cloud DNS reports it done (heartbeating meanwhile)."""
        path = self._zone_path() + "/changes"
        change = self._call("POST", path, data={"additions": additions, "deletions": deletions})
        deadline, polls = time.monotonic() + WAIT_TIMEOUT_S, 1
        while change.get("status") != "done":
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"gcp: Cloud DNS change {change.get('id')} not done after {WAIT_TIMEOUT_S:g}s"
                )
            pause(
                FIRST_POLL_S if polls == 1 else POLL_INTERVAL_S,
                f"waiting for Cloud DNS change {change.get('id')}",
                change.get("status"),
                polls,
            )
            change = self._call("GET", f"{path}/{change['id']}")
            polls += 1

    # --- weights ------------------------------------------------------------------------------------

    def _weights(self, service: str, rs: Json | None) -> dict[str, float]:
        if rs is None:
            raise NotFound(f"gcp: no weighted record set '{self._layer.fqdn(service)}' in Cloud DNS")
        suffix = "." + self._layer.fqdn(service)
        out: dict[str, float] = {}
        for item in rs.get("routingPolicy", {}).get("wrr", {}).get("items", []):
            target = str((item.get("rrdatas") or [""])[0])
            out[target.removesuffix(suffix)] = float(item.get("weight", 0.0))
        if not out:
            raise NotFound(f"gcp: record set '{self._layer.fqdn(service)}' has no weighted round robin items")
        return out

    def traffic(self, service: str) -> TrafficState:
        """Each region's share: its item's weight over the total (all 0: equal, as Cloud DNS answers)."""
        with translated("read Cloud DNS weights"):
            weights = self._weights(service, self._record_set(service))
        total = math.fsum(weights.values())
        shares = {r: (w / total if total else 1.0 / len(weights)) for r, w in weights.items()}
        return TrafficState(service=service, weights=dict(sorted(shares.items())))

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Replace the record set with the new weights and the topology's TTL; nothing sent if unchanged."""
        for region, share in weights.items():
            if not (isinstance(share, int | float) and 0.0 <= share <= 1.0):
                raise InvalidRequest(f"gcp: traffic weight of '{region}' must be within 0..1, got {share}")
        with translated("set Cloud DNS weights"):
            rs = self._record_set(service)
            current = self.traffic(service).weights
            unknown = sorted(r for r in weights if r not in current)
            if unknown:
                raise NotFound(
                    f"gcp: no weighted item of region(s) {', '.join(unknown)}"
                    f" at '{self._layer.fqdn(service)}'"
                )
            merged = {**current, **{r: float(s) for r, s in weights.items()}}
            total = math.fsum(merged.values())
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise InvalidRequest(f"gcp: weights must sum to 1, got {total:.6g}")
            assert rs is not None  # _weights raised otherwise
            wanted = self._weighted(service, merged)
            if self._weights(service, rs) != merged or rs.get("ttl") != self._layer.ttl:
                self._change([wanted], [rs])
        return TrafficState(service=service, weights=merged)

    def _weighted(self, service: str, shares: Mapping[str, float]) -> Json:
        items = [
            {"weight": share, "rrdatas": [self._layer.region_name(service, region)]}
            for region, share in sorted(shares.items())
        ]
        return {
            "name": self._layer.fqdn(service),
            "type": "CNAME",
            "ttl": self._layer.ttl,
            "routingPolicy": {"wrr": {"items": items}},
        }

    def ensure_records(self, service: str, endpoints: Mapping[str, str], shares: Mapping[str, float]) -> None:
        """Bootstrap: the managed zone, each region's endpoint record and the weighted record set."""
        with translated("create Cloud DNS records"):
            known = [z for z in self._client.list_zones() if z.dns_name == self._layer.zone]
            if self._zone is None and not known:
                self._client.zone(self._layer.zone.rstrip(".").replace(".", "-"), self._layer.zone).create()
            additions = [
                _endpoint(self._layer.region_name(service, r), e, self._layer.ttl)
                for r, e in endpoints.items()
            ]
            additions.append(self._weighted(service, {r: shares.get(r, 0.0) for r in endpoints}))
            old = self._record_set(service)
            self._change(additions, [old] if old else [])


def _endpoint(name: str, endpoint: str, ttl: int) -> Json:
    try:
        ipaddress.ip_address(endpoint)
    except ValueError:
        return {
            "name": name,
            "type": "CNAME",
            "ttl": ttl,
            "rrdatas": [endpoint if endpoint.endswith(".") else endpoint + "."],
        }
    return {"name": name, "type": "A", "ttl": ttl, "rrdatas": [endpoint]}
