"""A release that goes bad on AWS: the ALB starts counting 5xx for its target group once it launches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from activities.aws_metrics import ELB_NAMESPACE
from activities.clouds.aws_clients import EventHook
from config.models import Topology
from tests.helpers.aws.provision import SERVICE, alb_minute, target_group_dims


class FailingRelease:
    """When the stable group of `region` is first scaled up (a new release's instances launch), the ALB
    publishes a minute of its target group in which `error_rate` of the requests answered 5xx."""

    def __init__(self, topology: Topology, endpoint_url: str, region: str, error_rate: float) -> None:
        self.topology = topology
        self.endpoint_url = endpoint_url
        self.region = region
        self.error_rate = error_rate
        self.published: list[datetime] = []

    def __call__(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self.published or context.get("client_region") != self.region:
            return
        if params.get("AutoScalingGroupName") != SERVICE:  # the stable group
            return
        dims = target_group_dims(self.topology, self.endpoint_url, self.region, "stable")
        now = datetime.now(UTC).replace(microsecond=0)
        cw = boto3.client("cloudwatch", region_name=self.region, endpoint_url=self.endpoint_url)
        requests = 600
        cw.put_metric_data(
            Namespace=ELB_NAMESPACE,
            MetricData=alb_minute(dims, now, requests, round(requests * self.error_rate)),
        )
        self.published.append(now)

    def hook(self) -> EventHook:
        return ("before-parameter-build.auto-scaling.SetDesiredCapacity", self)
