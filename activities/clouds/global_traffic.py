"""The global traffic port: one weighted record per region in a DNS layer that knows every cloud.

Beside the cloud port's per-provider `traffic` / `set_traffic` (each provider's traffic manager knows
only its own regions), a global layer (Route 53, Cloud DNS, the sim) holds one weighted record per
region of the topology, so weight can move from a region on one cloud to a region on another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from activities.clouds.registry import CloudRegistry
from config.traffic import GlobalTraffic
from contracts.cloud import TrafficState


class GlobalTrafficPort(Protocol):
    """Reads and sets the weights of a service's records in one global layer."""

    def traffic(self, service: str) -> TrafficState:
        """Each region's share of the service's traffic; a region without a record is absent."""
        ...

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Set the named regions' shares (others keep theirs; the split sums to 1); once per key."""
        ...


class SimLayer:
    """The sim's traffic table as a global layer: it has a weight for every region it seeded."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    def traffic(self, service: str) -> TrafficState:
        return self._clouds.get("sim").traffic(service)

    def set_traffic(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        return self._clouds.get("sim").set_traffic(service, weights, key)


def default_layer(layer: GlobalTraffic, clouds: CloudRegistry) -> GlobalTrafficPort:
    """The adapter of a layer: boto3 and google-cloud-dns are imported only by workers that use them."""
    if layer.provider == "route53":
        from activities.clouds.route53_layer import Route53Layer

        return Route53Layer(layer)
    if layer.provider == "cloud_dns":
        from activities.clouds.cloud_dns_layer import CloudDnsLayer

        return CloudDnsLayer(layer)
    return SimLayer(clouds)


class GlobalLayers:
    """Layer adapters built once per worker, keyed by their configuration."""

    def __init__(
        self,
        clouds: CloudRegistry,
        factory: Callable[[GlobalTraffic, CloudRegistry], GlobalTrafficPort] = default_layer,
    ) -> None:
        self._clouds = clouds
        self._factory = factory
        self._built: dict[str, GlobalTrafficPort] = {}
        self._lock = threading.Lock()

    def get(self, layer: GlobalTraffic) -> GlobalTrafficPort:
        key = layer.model_dump_json()
        with self._lock:
            if key not in self._built:
                self._built[key] = self._factory(layer, self._clouds)
            return self._built[key]
