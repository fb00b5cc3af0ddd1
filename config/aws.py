"""AWS resource names of a region with `provider: aws`, read by the adapter in activities/clouds/aws.py.

Names are templates: `{service}` is replaced by the service's name, so one block serves every
service of a region. Credentials never appear here: the adapter uses boto3's default chain.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from config.base import CONFIG

__all__ = ["AwsRegionConfig"]


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
    metrics_namespace: str = Field(
        default="globalops",
        min_length=1,
        description="CloudWatch namespace of ErrorRate, LatencyP99, RequestCount and ReplicaLag.",
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
