"""GCP resource names of a region with `provider: gcp`, read by the adapter in activities/clouds/gcp.py."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GcpRegionConfig"]


class GcpRegionConfig(BaseModel):
    """Where the GCP adapter finds a service's resources in one region; credentials from google-auth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(min_length=1, description="GCP project id.")
    api_endpoint: str | None = Field(
        default=None, description="Override of the Compute API endpoint (a local test server)."
    )
