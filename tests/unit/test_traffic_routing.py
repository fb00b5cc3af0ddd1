"""get_traffic / set_traffic go through the topology's global traffic layer when the request names
one, and through the region's own provider when it does not (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.clouds.global_traffic import GlobalLayers
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from activities.traffic_activities import TrafficActivities
from config.models import Topology
from config.traffic import GlobalTraffic
from contracts.cloud import TrafficState
from contracts.failover import SetTrafficInput, TrafficRef

SIM_LAYER = GlobalTraffic(provider="sim", zone="example.com")


class OwnTraffic:
    """An "aws" provider whose own traffic manager knows only its two regions."""

    def __init__(self) -> None:
        self.weights = {"us-east-1": 0.5, "us-west-2": 0.5}

    def traffic(self, service: str) -> TrafficState:
        return TrafficState(service=service, weights=dict(self.weights))

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        self.weights.update(weights)
        return self.traffic(service)


@pytest.fixture
def parts(tmp_path: Path, topology: Topology) -> tuple[TrafficActivities, SimCloud, OwnTraffic]:
    sim = SimCloud(tmp_path / "sim.db")
    sim.seed_topology(topology)
    aws = OwnTraffic()
    registry = CloudRegistry({"sim": lambda: sim, "aws": lambda: aws})  # type: ignore[dict-item]
    return TrafficActivities(registry), sim, aws


def run(fn: Any, inp: Any) -> Any:
    return ActivityEnvironment().run(fn, inp)


def test_without_a_layer_the_regions_provider_moves_traffic(parts: tuple[Any, SimCloud, OwnTraffic]) -> None:
    acts, sim, aws = parts
    before = sim.traffic("checkout").weights
    assert run(acts.get_traffic, TrafficRef(service="checkout", provider="aws")).weights == aws.weights
    moved = {"us-east-1": 0.0, "us-west-2": 1.0}
    run(acts.set_traffic, SetTrafficInput(service="checkout", provider="aws", weights=moved, key="k"))
    assert aws.weights == moved and sim.traffic("checkout").weights == before


def test_with_a_layer_every_region_is_there_and_the_provider_is_untouched(
    parts: tuple[Any, SimCloud, OwnTraffic],
) -> None:
    acts, sim, aws = parts
    read = run(acts.get_traffic, TrafficRef(service="checkout", provider="aws", layer=SIM_LAYER))
    assert len(read.weights) == 16 and read.weights == sim.traffic("checkout").weights  # every region
    share = read.weights["us-east-1"]
    moved = {"us-east-1": 0.0, "us-central1": read.weights["us-central1"] + share}
    inp = SetTrafficInput(service="checkout", provider="aws", layer=SIM_LAYER, weights=moved, key="k")
    after = run(acts.set_traffic, inp)
    assert after.weights["us-east-1"] == 0 and sim.traffic("checkout").weights["us-east-1"] == 0
    assert aws.weights == {"us-east-1": 0.5, "us-west-2": 0.5}  # the provider's own manager untouched


def test_a_layer_adapter_is_built_once_per_configuration(tmp_path: Path) -> None:
    built: list[GlobalTraffic] = []
    layers = GlobalLayers(CloudRegistry({}), lambda cfg, clouds: built.append(cfg) or object())  # type: ignore[arg-type, func-returns-value]
    first = layers.get(SIM_LAYER)
    assert layers.get(SIM_LAYER.model_copy()) is first
    layers.get(SIM_LAYER.model_copy(update={"ttl": 5}))
    assert [cfg.ttl for cfg in built] == [60, 5]
