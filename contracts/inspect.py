"""Read-only questions the CLI asks the workers (health, snapshots): it never calls a cloud itself."""

from __future__ import annotations

from pydantic import Field

from config.models import Topology
from contracts.storage import Snapshot
from contracts.wire import WireModel


class InspectRequest(WireModel):
    """Which service, in which regions (empty: every region of the topology)."""

    service: str
    topology: Topology
    regions: list[str] = Field(default_factory=list)


class RegionHealth(WireModel):
    """One region as `globalops health` shows it, read through the region's own provider."""

    region: str
    provider: str
    ok: bool
    healthy_instances: int = 0
    error_rate: float | None = None
    latency_p99_ms: float | None = None
    traffic: float | None = None
    detail: str = ""
    blind: bool = False
    source: str = ""


class HealthReport(WireModel):
    """Every region's probe and traffic share, as the monitor's own probe activity reads them."""

    service: str
    regions: list[RegionHealth] = Field(default_factory=list)


class RegionSnapshots(WireModel):
    """The snapshots stored in one region, newest first, or why they could not be read."""

    region: str
    snapshots: list[Snapshot] = Field(default_factory=list)
    error: str | None = None


class SnapshotInventory(WireModel):
    """Snapshots per region, in the order asked for."""

    service: str
    regions: list[RegionSnapshots] = Field(default_factory=list)
