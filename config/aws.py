"""AWS resource names of a region with `provider: aws`, read by the adapter in activities/clouds/aws.py.

Names are templates: `{service}` is replaced by the service's name, so one block serves every
service of a region. Credentials never appear here: the adapter uses boto3's default chain.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from config.base import CONFIG

__all__ = ["AwsRegionConfig", "CustomMetricNames", "ReplicaLagSource"]

#: Where health and canary analysis read a region's numbers: what AWS publishes for the load
#: balancer's target groups (`native`), or series the service publishes itself (`custom`).
MetricsSource = Literal["native", "custom"]
#: RDS read replica lag (seconds, per DB instance), Aurora global database lag (milliseconds, per
#: secondary DB cluster), or the service's own `ReplicaLag` series in `metrics_namespace`.
ReplicaLagMetric = Literal["ReplicaLag", "AuroraGlobalDBReplicationLag", "custom"]


class CustomMetricNames(BaseModel):
    """Metric names of the service's own series (`metrics: custom`), dimensions Service, Region, Group."""

    model_config = CONFIG

    error_rate: str = Field(default="ErrorRate", min_length=1, description="Share of failed requests, 0..1.")
    latency_p99: str = Field(default="LatencyP99", min_length=1, description="p99 latency in milliseconds.")
    requests: str = Field(default="RequestCount", min_length=1, description="Requests served (a count).")


class ReplicaLagSource(BaseModel):
    """Which database metric tells how far the region's data replica is behind."""

    model_config = CONFIG

    metric: ReplicaLagMetric = Field(
        description=(
            "ReplicaLag (AWS/RDS, seconds, DBInstanceIdentifier), AuroraGlobalDBReplicationLag (AWS/RDS, "
            "milliseconds, DBClusterIdentifier) or custom (ReplicaLag in metrics_namespace, dimensions "
            "Service and Region, seconds)."
        )
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        description="The DB instance (ReplicaLag) or secondary DB cluster (Aurora) identifier; `{service}`"
        " is filled in.",
    )

    @model_validator(mode="after")
    def _id_for_rds(self) -> Self:
        if self.metric != "custom" and not self.id:
            raise ValueError(f"id: required for metric {self.metric} (the DB instance or cluster identifier)")
        return self


class AwsRegionConfig(BaseModel):
    """Where the AWS adapter finds a service's resources in a region; credentials: boto3's chain."""

    model_config = CONFIG

    endpoint_url: str | None = Field(
        default=None,
        description="Override of every AWS endpoint (moto or LocalStack), e.g. http://127.0.0.1:5000.",
    )
    launch_template: str = Field(
        default="{service}",
        min_length=1,
        description="Launch template of the service; one version per release (its description).",
    )
    stable_group: str = Field(
        default="{service}", min_length=1, description="Auto Scaling group of the stable instances."
    )
    canary_group: str = Field(
        default="{service}-canary",
        min_length=1,
        description="Auto Scaling group of the canary / green instances (may stay at 0).",
    )
    load_balancer: str = Field(
        default="{service}", min_length=1, description="Application Load Balancer of the service."
    )
    listener_port: int = Field(
        default=80, ge=1, le=65535, description="Port of the ALB listener whose forward action is weighted."
    )
    stable_target_group: str = Field(
        default="{service}-stable", min_length=1, description="Target group of the stable group."
    )
    canary_target_group: str = Field(
        default="{service}-canary", min_length=1, description="Target group of the canary / green group."
    )
    hosted_zone: str = Field(
        default="globalops.internal.",
        min_length=1,
        description="Route 53 hosted zone (name) of the service's weighted records.",
    )
    record_name: str = Field(
        default="{service}",
        min_length=1,
        description="Label of the weighted records inside the zone (SetIdentifier = region name).",
    )
    metrics: MetricsSource = Field(
        default="native",
        description=(
            "native: the ALB's own metrics per target group (RequestCount, HTTPCode_Target_5XX_Count, "
            "TargetResponseTime p99) and AWS/EC2 CPUUtilization per Auto Scaling group; custom: the "
            "service's own series in metrics_namespace (names in custom_metrics)."
        ),
    )
    metrics_namespace: str = Field(
        default="globalops",
        min_length=1,
        description="CloudWatch namespace of the service's own series (metrics: custom, replica_lag custom).",
    )
    custom_metrics: CustomMetricNames = Field(
        default_factory=CustomMetricNames, description="Metric names of the service's own series."
    )
    replica_lag: ReplicaLagSource | None = Field(
        default=None,
        description="The database metric of the region's replica lag; none: the lag is unknown (never 0).",
    )
    wait_timeout_s: float = Field(
        default=50.0,
        gt=0,
        le=3600,
        description=(
            "Longest wait of one call for an end state (instances healthy, snapshot completed, DNS change "
            "INSYNC); past it the call fails retryably and Temporal retries it. Keep it below call_timeout."
        ),
    )
    poll_interval_s: float = Field(
        default=5.0, gt=0, le=300, description="Time between two polls of a wait (heartbeating meanwhile)."
    )
    max_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="botocore attempts per API call (standard mode) before Temporal's retries take over.",
    )

    def named(self, template: str, service: str) -> str:
        """A resource name of this block with `{service}` filled in."""
        return template.replace("{service}", service)
