"""The global traffic layer of a topology: one weighted DNS record per region, whatever cloud runs it.

Without it, traffic moves through each region's own provider (Route 53 records for AWS regions, the
GCP backend service for GCP regions, the sim's table), which only knows its own regions. With it,
failover, failback and the recovery's serve step move weight through one DNS layer that knows them
all, so traffic can leave one cloud for another (docs/multi-cloud.md).
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from config.base import CONFIG

__all__ = ["GlobalTraffic", "LayerProvider"]

LayerProvider = Literal["route53", "cloud_dns", "sim"]
"""route53: Route 53 weighted records; cloud_dns: a Cloud DNS weighted round robin record set; sim: the
simulator's traffic table (one weight per region of the topology)."""

_DNS_NAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+$")
_LABEL = re.compile(r"^[a-z0-9{}]([a-z0-9{}-]{0,61}[a-z0-9{}])?$")


class GlobalTraffic(BaseModel):
    """Where the service's weighted records live and how long resolvers may cache them."""

    model_config = CONFIG

    provider: LayerProvider = Field(description="route53, cloud_dns or sim (the local simulator).")
    zone: str = Field(
        description="DNS name of the zone holding the records, e.g. example.com. (a trailing dot is added).",
    )
    record: str = Field(
        default="{service}",
        description="Label of the weighted record inside the zone; `{service}` is filled in.",
    )
    ttl: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="TTL in seconds set on the weighted records: clients may keep the old answer this long"
        " after a shift (a failover's report adds it to the time users see the shift).",
    )
    endpoint_url: str | None = Field(
        default=None, description="route53 only: override of the Route 53 endpoint (moto, LocalStack)."
    )
    project: str | None = Field(
        default=None, min_length=1, description="cloud_dns only (required): the GCP project of the zone."
    )
    managed_zone: str | None = Field(
        default=None,
        min_length=1,
        description="cloud_dns only: the managed zone's resource name (default: the zone found by `zone`).",
    )
    api_endpoint: str | None = Field(
        default=None,
        description="cloud_dns only: override of the Cloud DNS endpoint (a local test server; anonymous).",
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        name = value.strip().lower()
        name = name if name.endswith(".") else name + "."
        if not _DNS_NAME.fullmatch(name):
            raise ValueError(f"{value!r} is not a DNS name such as example.com.")
        return name

    @field_validator("record")
    @classmethod
    def _record(cls, value: str) -> str:
        if not _LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not one DNS label (letters, digits, dashes; {{service}} allowed)")
        return value

    @model_validator(mode="after")
    def _fields_of_provider(self) -> Self:
        if self.provider == "cloud_dns" and not self.project:
            raise ValueError("project: required for provider cloud_dns (the GCP project of the managed zone)")
        own = {
            "endpoint_url": ("route53",),
            "project": ("cloud_dns",),
            "managed_zone": ("cloud_dns",),
            "api_endpoint": ("cloud_dns",),
        }
        for name, providers in own.items():
            if getattr(self, name) is not None and self.provider not in providers:
                raise ValueError(f"{name}: only for provider {' or '.join(providers)}, not {self.provider}")
        return self

    def record_name(self, service: str) -> str:
        """The label of the service's weighted record (`{service}` filled in)."""
        return self.record.replace("{service}", service)

    def fqdn(self, service: str) -> str:
        """The full name clients resolve, e.g. checkout.example.com."""
        return f"{self.record_name(service)}.{self.zone}"

    def region_name(self, service: str, region: str) -> str:
        """The name of one region's own endpoint record, which the weighted record points at."""
        return f"{region}.{self.fqdn(service)}"
