"""GCP resource names of a region with `provider: gcp`, read by the adapter in activities/clouds/gcp.py."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

from config.base import CONFIG

__all__ = ["GcpRegionConfig"]

_ZONE = r"^[a-z]+-[a-z]+[0-9]+-[a-z]$"


class GcpRegionConfig(BaseModel):
    """Where the GCP adapter finds a service's resources in one region; credentials from google-auth.

    Names are templates: `{service}` and (for instance groups) `{group}` are filled in, so one
    region block serves every service of the topology.
    """

    model_config = CONFIG

    project: str = Field(min_length=1, description="GCP project id.")
    zones: list[str] = Field(
        default_factory=list,
        description="Zones of the regional instance groups; the first one holds volumes and drill"
        " instances (empty = '<region>-b').",
    )
    api_endpoint: str | None = Field(
        default=None,
        description="Override of the Compute API endpoint (a local test server); anonymous credentials.",
    )
    instance_group: str = Field(
        default="{service}-{group}",
        description="Regional managed instance group of a service's group (stable / canary).",
    )
    backend_service: str = Field(
        default="{service}",
        description="Global backend service whose per-region backends carry the traffic weights.",
    )
    data_disk: str = Field(default="{service}-data", description="The service's data disk (snapshotted).")
    machine_type: str = Field(default="e2-small", description="Machine type of instance templates.")
    source_image: str = Field(
        default="projects/debian-cloud/global/images/family/debian-12",
        description="Boot image of instance templates (the release is passed as metadata).",
    )
    metrics_url: str | None = Field(
        default=None,
        description="Optional JSON metrics source per group, '{project}', '{region}', '{service}' filled in;"
        " when set it replaces Cloud Monitoring for error rate, latency, requests and CPU.",
    )
    monitoring_endpoint: str | None = Field(
        default=None,
        description="Override of the Cloud Monitoring endpoint: 'http://host:port' is a local test server"
        " (plaintext gRPC, no credentials), 'host:port' another TLS endpoint (default credentials).",
    )
    monitoring_period_s: float = Field(
        default=60.0,
        ge=60,
        le=3600,
        description="Alignment period of Cloud Monitoring queries (the API takes 60 s at least): one point"
        " per period.",
    )
    monitoring_window_s: float = Field(
        default=300.0,
        ge=60,
        le=86400,
        description="Health samples and replica lag use the newest period with data in this window;"
        " older data is no data.",
    )
    replica_database: str | None = Field(
        default=None,
        min_length=1,
        description="Cloud SQL database id ('project:instance') of the region's replica; its"
        " replication/replica_lag is the region's replica lag (none: unknown).",
    )
    operation_timeout_s: float = Field(
        default=50.0,
        gt=0,
        description="Longest wait for one operation to be DONE (below the activity timeout).",
    )
    call_retry_s: float = Field(
        default=20.0,
        ge=0,
        description="Budget of google-api-core's retry of one HTTP call on 429 / 5xx (0 = no retry).",
    )

    @field_validator("zones")
    @classmethod
    def _zones(cls, zones: list[str]) -> list[str]:
        import re

        for zone in zones:
            if not re.fullmatch(_ZONE, zone):
                raise ValueError(f"zone {zone!r} is not a GCP zone name such as us-central1-b")
        return zones

    @model_validator(mode="after")
    def _window_holds_a_period(self) -> Self:
        if self.monitoring_window_s < self.monitoring_period_s:
            raise ValueError(
                f"monitoring_window_s: {self.monitoring_window_s:g} is shorter than monitoring_period_s"
                f" {self.monitoring_period_s:g} (the window must hold one period)"
            )
        return self
