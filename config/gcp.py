"""GCP resource names of a region with `provider: gcp`, read by the adapter in activities/clouds/gcp.py."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

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
        description="JSON metrics source per group, '{project}', '{region}', '{service}' filled in"
        " (None = error rate and latency 0, unknown).",
    )
    replica_lag_s: float = Field(
        default=0.0, ge=0, description="Replica lag reported for failover decisions (no GCP API)."
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
