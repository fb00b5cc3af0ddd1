"""Alarms people already have: a firing one stops a rollout and rolls it back (docs/change-control.md).

Each provider's alarms are named as its owners know them: CloudWatch alarm names (read in each AWS
region of the rollout), Prometheus alert names (read from its `/api/v1/alerts`) and sim alarms
(`globalops sim fault alarm NAME`). Nothing is listed by default, and then no alarm is ever read.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, StringConstraints, field_validator

from config.base import CONFIG
from config.durations import Duration

__all__ = ["AlarmName", "AlarmPolicy"]

AlarmName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class AlarmPolicy(BaseModel):
    """Which alarms stop a rollout, per provider, and how often a bake looks at them."""

    model_config = CONFIG

    cloudwatch: list[AlarmName] = Field(
        default_factory=list,
        description="CloudWatch alarm names, read in each AWS region of the rollout (state ALARM fires).",
    )
    prometheus: list[AlarmName] = Field(
        default_factory=list,
        description=("Prometheus alert names (alertname), firing with the region's `region` label or none."),
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Base URL of the Prometheus the alerts are read from (default: analysis.prometheus_url).",
    )
    sim: list[AlarmName] = Field(
        default_factory=list,
        description="Sim alarm names (`globalops sim fault alarm NAME`), in sim regions.",
    )
    interval: Duration = Field(
        default=30.0, gt=0, description="How often a bake checks the alarms of every region deployed so far."
    )

    @field_validator("cloudwatch", "prometheus", "sim")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if name in seen:
                raise ValueError(f"alarm '{name}' is listed twice")
            seen.add(name)
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        parts = urlsplit(value) if value is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError(f"'{value}' is not an http(s)://host[:port] URL")
        return value

    def names(self, provider: str) -> list[str]:
        """The alarms a check in a region of `provider` reads (Prometheus alerts: any provider)."""
        own = {"aws": self.cloudwatch, "sim": self.sim}.get(provider, [])
        return [*own, *self.prometheus]

    def any(self) -> bool:
        """True when any alarm is listed."""
        return bool(self.cloudwatch or self.prometheus or self.sim)
