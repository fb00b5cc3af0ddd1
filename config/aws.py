"""AWS resource names of a region with `provider: aws`, read by the adapter in activities/clouds/aws.py."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AwsRegionConfig"]


class AwsRegionConfig(BaseModel):
    """Where the AWS adapter finds a service's resources in a region; credentials: boto3's chain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = Field(
        default=None,
        description="Override of every AWS endpoint (moto or LocalStack), e.g. http://127.0.0.1:5000.",
    )
