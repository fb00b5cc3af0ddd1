"""The two DNS layers against their local servers: Route 53 (boto3 on moto) and Cloud DNS
(google-cloud-dns on the GCP test server). Weights read back exactly, the topology's TTL replaces the
records' own, a repeated call sends nothing, and a region without a record is NotFound."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from activities.clouds.aws_clients import AwsClients
from activities.clouds.cloud_dns_layer import CloudDnsLayer
from activities.clouds.route53_layer import Route53Layer
from config.traffic import GlobalTraffic
from contracts.errors import NotFound, Unavailable
from tests.helpers.aws.moto_server import reset_moto
from tests.helpers.gcp_server.server import ComputeTestServer

ZONE = "layer.example."
ENDPOINTS = {"us-east-1": "checkout-1.us-east-1.elb.amazonaws.com", "us-central1": "203.0.113.7"}
HALF = {"us-east-1": 0.5, "us-central1": 0.5}
SHIFT = {"us-east-1": 0.1, "us-central1": 0.9}


def test_route53_layer_on_moto(moto_endpoint: str) -> None:
    reset_moto(moto_endpoint)
    r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=moto_endpoint)
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    layer = GlobalTraffic(provider="route53", zone=ZONE, ttl=15, endpoint_url=moto_endpoint)
    Route53Layer(layer.model_copy(update={"ttl": 300})).ensure_records("checkout", ENDPOINTS, HALF)
    changes: list[Any] = []
    hooks = [("before-call.route53.ChangeResourceRecordSets", lambda **kw: changes.append(kw))]
    adapter = Route53Layer(layer, AwsClients({}, default_endpoint=moto_endpoint, event_hooks=hooks))

    assert adapter.traffic("checkout").weights == HALF
    assert adapter.set_traffic("checkout", SHIFT, "k1").weights == SHIFT
    assert adapter.traffic("checkout").weights == SHIFT  # the exact shares, not weight / 255
    assert len(changes) == 1
    sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    weighted = {(rs["Name"], rs["Type"], rs["SetIdentifier"]): rs for rs in sets if rs.get("SetIdentifier")}
    serving = weighted[("checkout.layer.example.", "CNAME", "us-central1")]
    assert serving["TTL"] == 15 and serving["Weight"] == 230  # round(0.9 * 255)
    assert serving["ResourceRecords"] == [{"Value": "us-central1.checkout.layer.example."}]
    assert {rs["TTL"] for rs in weighted.values()} == {15}  # every weighted record, shares too
    own = {rs["Name"]: rs for rs in sets if not rs.get("SetIdentifier") and rs["Name"].startswith("us-")}
    assert own["us-central1.checkout.layer.example."]["Type"] == "A"  # the GCP load balancer's address
    assert own["us-east-1.checkout.layer.example."]["ResourceRecords"] == [
        {"Value": ENDPOINTS["us-east-1"] + "."}
    ]

    assert adapter.set_traffic("checkout", SHIFT, "k1").weights == SHIFT
    assert len(changes) == 1  # nothing changed, nothing sent
    with pytest.raises(NotFound, match="no weighted record of region\\(s\\) eu-west-1"):
        adapter.set_traffic("checkout", {"eu-west-1": 0.0}, "k2")
    with pytest.raises(NotFound, match=r"hosted zone 'other\.example\.' does not exist"):
        Route53Layer(layer.model_copy(update={"zone": "other.example."})).traffic("checkout")


def test_cloud_dns_layer_on_the_gcp_test_server(gcp_server: ComputeTestServer) -> None:
    gcp_server.reset()
    layer = GlobalTraffic(provider="cloud_dns", zone=ZONE, ttl=15, project="p1", api_endpoint=gcp_server.url)
    CloudDnsLayer(layer.model_copy(update={"ttl": 300})).ensure_records("checkout", ENDPOINTS, HALF)
    adapter = CloudDnsLayer(layer)
    zone_changes = gcp_server.state.dns.changes[("p1", "layer-example")]
    made = len(zone_changes)

    assert adapter.traffic("checkout").weights == HALF
    assert adapter.set_traffic("checkout", SHIFT, "k1").weights == SHIFT
    assert adapter.traffic("checkout").weights == SHIFT
    assert len(zone_changes) == made + 1 and zone_changes[str(made + 1)]["status"] == "done"  # waited for
    rs = gcp_server.state.dns.record_set("p1", "layer-example", "checkout.layer.example.", "CNAME")
    assert rs is not None and rs["ttl"] == 15
    assert rs["routingPolicy"]["wrr"]["items"] == [
        {"weight": 0.9, "rrdatas": ["us-central1.checkout.layer.example."]},
        {"weight": 0.1, "rrdatas": ["us-east-1.checkout.layer.example."]},
    ]
    own = gcp_server.state.dns.record_set("p1", "layer-example", "us-central1.checkout.layer.example.", "A")
    assert own is not None and own["rrdatas"] == ["203.0.113.7"]

    assert adapter.set_traffic("checkout", SHIFT, "k1").weights == SHIFT
    assert len(zone_changes) == made + 1  # nothing changed, nothing sent
    with pytest.raises(NotFound, match="no weighted item of region\\(s\\) eu-west-1"):
        adapter.set_traffic("checkout", {"eu-west-1": 0.0}, "k2")
    # someone else changed the record set between our read and our write: 412, retried by Temporal
    stale = adapter._record_set("checkout")
    assert stale is not None
    adapter.set_traffic("checkout", HALF, "k3")
    with pytest.raises(Unavailable):
        adapter._change([{**stale, "ttl": 16}], [stale])
