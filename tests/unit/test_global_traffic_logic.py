"""The global traffic layer (issue 18) without a cloud: the topology's `traffic` block and its bad
input, target choice with a layer (any provider through a record, none without), and the TTL in the
failover's timings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.failover import FailoverPolicy
from config.loader import ConfigError, load_topology
from config.models import Topology
from config.paths import default_topology_path
from config.traffic import GlobalTraffic
from contracts.failover import Candidate
from workflows.logic.failover import (
    against_targets,
    choose_target,
    reach_problem,
    record_ttl,
    visible_after,
)

NO_RECORD = "no weighted record in the route53 traffic layer: its traffic cannot be moved there"


def test_a_layer_in_the_topology_file_loads(tmp_path: Path) -> None:
    data = yaml.safe_load(default_topology_path().read_text(encoding="utf-8"))
    data["traffic"] = {"provider": "route53", "zone": "Example.COM", "ttl": 30}
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    layer = load_topology(path).traffic
    assert layer == GlobalTraffic(provider="route53", zone="example.com.", record="{service}", ttl=30)
    assert layer.fqdn("checkout") == "checkout.example.com."
    assert layer.region_name("checkout", "us-east-1") == "us-east-1.checkout.example.com."
    assert load_topology().traffic is None  # the shipped topology has none: each provider's own


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        (
            {"provider": "cloud_dns", "zone": "example.com"},
            "traffic.project",
            "required for provider cloud_dns",
        ),
        (
            {"provider": "route53", "zone": "example.com", "project": "p"},
            "traffic.project",
            "only for provider",
        ),
        (
            {"provider": "cloud_dns", "zone": "e.com", "project": "p", "endpoint_url": "http://x"},
            "traffic.endpoint_url",
            "only for provider route53",
        ),
        ({"provider": "route53", "zone": "exa mple"}, "traffic.zone", "is not a DNS name"),
        (
            {"provider": "route53", "zone": "example.com", "ttl": -1},
            "traffic.ttl",
            "greater than or equal to 0",
        ),
        ({"provider": "azure", "zone": "example.com"}, "traffic.provider", "'route53', 'cloud_dns' or 'sim'"),
        ({"provider": "sim", "zone": "example.com", "record": "a.b"}, "traffic.record", "not one DNS label"),
        ({"provider": "sim", "zone": "example.com", "tll": 5}, "traffic.tll", "did you mean 'ttl'?"),
    ],
    ids=[
        "no-project",
        "project-on-route53",
        "endpoint-on-cloud-dns",
        "zone",
        "ttl",
        "provider",
        "record",
        "typo",
    ],
)
def test_bad_layer_is_one_line_naming_the_field(
    tmp_path: Path, block: dict[str, Any], field: str, fragment: str
) -> None:
    data = yaml.safe_load(default_topology_path().read_text(encoding="utf-8"))
    data["traffic"] = block
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_topology(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: {field}: "), text
    assert fragment in info.value.problem, text


def candidates(topology: Topology, providers: dict[str, str]) -> dict[str, Candidate]:
    return {
        r.name: Candidate(
            region=r.name,
            jurisdiction=r.jurisdiction,
            provider=providers.get(r.name, "sim"),  # type: ignore[arg-type]
            healthy=True,
            traffic=1 / 16,
            instances=r.instances,
            max_instances=r.capacity_limit,
            latency_ms=r.latency_ms,
            replica_lag_s=1.0,
        )
        for r in topology.regions
    }


Choose = Callable[..., Any]


@pytest.fixture
def choose(topology: Topology) -> Choose:
    def run(cands: dict[str, Candidate], **kwargs: Any) -> Any:
        return choose_target(
            cands["us-east-1"],
            list(cands.values()),
            residency=True,
            group_of=topology.group_of,
            moved_traffic=1 / 16,
            rpo_target_s=300.0,
            **kwargs,
        )

    return run


def test_with_a_layer_a_region_on_another_cloud_is_reachable(topology: Topology, choose: Choose) -> None:
    """us-east-1 on AWS: us-central1 (GCP) and us-west-2 (sim) tie at 25 ms; without a layer neither can
    take its traffic, with one whose records cover both, us-central1 wins the tie by name."""
    cands = candidates(topology, {"us-east-1": "aws", "us-central1": "gcp"})
    assert choose(cands).target is None
    everyone = {c for c in cands}
    choice = choose(cands, layer="route53", layer_regions=everyone)
    assert choice.target == "us-central1" and choice.needed_instances == 8
    assert all("traffic layer" not in r.reason for r in choice.rejected)


def test_with_a_layer_a_region_without_a_record_is_rejected_with_that_reason(
    topology: Topology, choose: Choose
) -> None:
    cands = candidates(topology, {"us-east-1": "aws", "us-central1": "gcp"})
    choice = choose(cands, layer="route53", layer_regions={"us-east-1", "us-west-2"})
    assert choice.target == "us-west-2"
    reasons = {r.region: r.reason for r in choice.rejected}
    assert reasons["us-central1"] == NO_RECORD
    assert reasons["eu-west-1"].endswith("(data residency)")  # residency still comes first
    # an operator's choice the layer cannot reach is no target, not another region
    preferred = choose(
        cands, layer="route53", layer_regions={"us-east-1", "us-west-2"}, preferred="us-central1"
    )
    assert preferred.target is None


def test_reach_problem_with_and_without_a_layer() -> None:
    assert (
        reach_problem(
            "us-east-1", "aws", "gcp", target="us-central1", layer="cloud_dns", layer_regions={"us-central1"}
        )
        is None
    )
    assert reach_problem(
        "us-east-1", "aws", "aws", target="us-west-2", layer="cloud_dns", layer_regions=()
    ) == ("no weighted record in the cloud_dns traffic layer: its traffic cannot be moved there")
    assert reach_problem("us-east-1", "aws", "gcp", target="us-central1") == (
        "on gcp: traffic of us-east-1 (aws) can only move within aws (no global traffic layer)"
    )


def test_the_layers_ttl_wins_and_users_see_the_shift_a_ttl_after_it() -> None:
    policy = FailoverPolicy(dns_ttl=60, total_target=60)
    assert record_ttl(policy, None) == 60 and record_ttl(policy, 5) == 5 and record_ttl(policy, 0) == 0
    timings = {"detect_s": 20.0, "decide_s": 2.0, "shift_s": 3.0, "total_s": 70.0}
    shown = visible_after(timings, 5)
    assert shown == {**timings, "ttl_s": 5, "visible_s": 30.0}
    # total 70 s meets 60 + the policy's 60 s TTL, not 60 + the layer's 5 s
    assert against_targets(shown, policy)["total_s"] is True
    assert against_targets(shown, policy, ttl=5)["total_s"] is False
    assert against_targets(shown, policy, ttl=10)["total_s"] is True
