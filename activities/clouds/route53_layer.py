"""Route 53 as the global traffic layer: one weighted record per region, whatever cloud runs it.

The service's name (`<record>.<zone>`) has one weighted CNAME per region (SetIdentifier = region)
pointing at that region's own name `<region>.<record>.<zone>`, which holds the region's endpoint:
a CNAME to the ALB's DNS name for an AWS region, an A record of the load balancer's address for a
GCP region, a sim address for a sim region. Shifting traffic only rewrites weights (and the TTL
from the topology); weights and exact shares work as in aws_traffic.Dns.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from activities.botocore_errors import mapped
from activities.clouds.aws_clients import AwsClients, token
from activities.clouds.aws_traffic import Dns, route53_weight
from activities.clouds.aws_waits import Waiter
from config.traffic import GlobalTraffic
from contracts.cloud import TrafficState

#: Route 53 is global: its API lives in us-east-1.
HOME = "us-east-1"
WAIT_TIMEOUT_S = 50.0
POLL_INTERVAL_S = 2.0


def endpoint_record(name: str, endpoint: str, ttl: int) -> dict[str, Any]:
    """A region's own record: A for an IP address, else a CNAME to a host name (an ALB's)."""
    try:
        ipaddress.ip_address(endpoint)
    except ValueError:
        value, kind = endpoint if endpoint.endswith(".") else endpoint + ".", "CNAME"
    else:
        value, kind = endpoint, "A"
    return {"Name": name, "Type": kind, "TTL": ttl, "ResourceRecords": [{"Value": value}]}


class Route53Layer:
    """GlobalTrafficPort on Route 53 (boto3's default credential chain)."""

    def __init__(self, layer: GlobalTraffic, clients: AwsClients | None = None) -> None:
        self._layer = layer
        self._clients = clients or AwsClients({}, default_endpoint=layer.endpoint_url)
        self._zone_ids: dict[str, str] = {}

    def _r53(self) -> Any:
        return self._clients.client("route53", HOME)

    def _dns(self, service: str) -> Dns:
        return Dns(
            self._r53(),
            self._layer.zone,
            self._layer.record_name(service),
            self._zone_ids,
            waiter=Waiter(WAIT_TIMEOUT_S, POLL_INTERVAL_S),
            ttl=self._layer.ttl,
        )

    @mapped
    def traffic(self, service: str) -> TrafficState:
        """Each region's share of the service's weighted records, summing to 1."""
        return TrafficState(service=service, weights=self._dns(service).shares())

    @mapped
    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """UPSERT the changed records (weights and TTL) in one batch, then wait for INSYNC."""
        merged = self._dns(service).set_shares(weights, comment=f"globalops {token(key)}")
        return TrafficState(service=service, weights=merged)

    @mapped
    def ensure_records(self, service: str, endpoints: Mapping[str, str], shares: Mapping[str, float]) -> None:
        """Bootstrap, in an existing hosted zone: each region's endpoint record and its weighted record
        (UPSERTs, so a second run changes nothing). The zone is yours to create: globalops never needs
        route53:CreateHostedZone."""
        r53, layer = self._r53(), self._layer
        zone_id = self._dns(service).zone_id()
        changes: list[dict[str, Any]] = []
        for region, endpoint in endpoints.items():
            own = layer.region_name(service, region)
            changes.append(
                {"Action": "UPSERT", "ResourceRecordSet": endpoint_record(own, endpoint, layer.ttl)}
            )
            weighted = {
                "Name": layer.fqdn(service),
                "Type": "CNAME",
                "SetIdentifier": region,
                "Weight": route53_weight(shares.get(region, 0.0)),
                "TTL": layer.ttl,
                "ResourceRecords": [{"Value": own}],
            }
            changes.append({"Action": "UPSERT", "ResourceRecordSet": weighted})
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
