"""Picks the adapter for a region's provider, building each one once per worker."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from activities.clouds.port import CloudPort
from contracts.errors import InvalidRequest


class CloudRegistry:
    """Lazily built adapters keyed by provider name ("sim", "aws", "gcp")."""

    def __init__(self, factories: dict[str, Callable[[], CloudPort]]) -> None:
        self._factories = dict(factories)
        self._built: dict[str, CloudPort] = {}
        self._lock = threading.Lock()

    def get(self, provider: str) -> CloudPort:
        """The adapter for `provider`; InvalidRequest when this worker has none."""
        with self._lock:
            if provider not in self._built:
                factory = self._factories.get(provider)
                if factory is None:
                    known = ", ".join(sorted(self._factories)) or "none"
                    raise InvalidRequest(
                        f"provider '{provider}' is not configured on this worker (has: {known})"
                    )
                self._built[provider] = factory()
            return self._built[provider]


def default_registry() -> CloudRegistry:
    """The registry a worker uses: the simulated cloud (AWS and GCP adapters come later)."""
    from activities.clouds.sim import SimCloud
    from config.loader import load_topology

    def sim() -> CloudPort:
        cloud = SimCloud()
        # A fresh sim has every service of the topology on its initial release (idempotent).
        cloud.seed_topology(load_topology(os.environ.get("GLOBALOPS_TOPOLOGY") or None))
        return cloud

    def aws() -> CloudPort:
        from activities.clouds.aws import AwsCloud  # boto3 is imported only by workers that use AWS

        return AwsCloud(load_topology(os.environ.get("GLOBALOPS_TOPOLOGY") or None))

    def gcp() -> CloudPort:
        from activities.clouds.gcp import GcpCloud  # google-cloud-compute loads only where GCP is used

        return GcpCloud(load_topology(os.environ.get("GLOBALOPS_TOPOLOGY") or None))

    return CloudRegistry({"sim": sim, "aws": aws, "gcp": gcp})
