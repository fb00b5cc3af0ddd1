"""Three things moto 5.2 cannot do, added to the moto server these tests run in their own process.

The adapter sends AWS's real requests over HTTP either way; these extensions only let moto answer
them as AWS does (docs/clouds.md, "What moto cannot do"):

1. **Percentiles.** GetMetricData with `Stat: p99` (an extended statistic) makes moto's server
   fail with a 500 (it computes no value and cannot serialize None), and GetMetricStatistics
   ignores `ExtendedStatistics`. `install()` teaches moto's CloudWatch model `pNN` / `pNN.N`: the
   nearest-rank percentile of the period's values, from data put with `Value` or `Values` and
   `Counts` (the way a distribution like the ALB's TargetResponseTime is published) and from
   `StatisticValues` sets whose SampleCount is 1 or whose Minimum equals Maximum (CloudWatch, too,
   has no percentile for other statistic sets). A period whose percentile is unavailable gets no
   point, as in CloudWatch.
2. **EC2 quotas.** moto's Service Quotas knows the VPC quotas only (GetServiceQuota for `ec2`
   answers NoSuchResourceException). `install()` adds "Running On-Demand Standard (A, C, D, H, I,
   M, R, T, Z) instances" (L-1216C47A, vCPUs) at `DEFAULT_VCPU_QUOTA` per region;
   `set_vcpu_quota` applies another value in one region (until `POST /moto-api/reset`).

3. **EBS direct APIs on EC2 snapshots** (moto_ebs.py): moto serves ListSnapshotBlocks and
   GetSnapshotBlock only for snapshots made with StartSnapshot; `install()` makes CreateSnapshot
   and CopySnapshot hold blocks, as in AWS, so the adapter's integrity check has data to read.

`install()` patches moto's classes in this process, once; `moto_server()` calls it.
"""

from __future__ import annotations

import math
import re
import threading
from datetime import datetime
from typing import Any

from moto.cloudwatch import models as cloudwatch_models
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.servicequotas import models as quota_models

from tests.helpers.aws import moto_ebs

STANDARD_QUOTA_CODE = "L-1216C47A"
DEFAULT_VCPU_QUOTA = 64
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d{1,2})?|100)")
_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's CloudWatch (percentiles) and Service Quotas (EC2) models; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _add_percentiles()
        _add_ec2_quotas()
        moto_ebs.install()
        _installed = True


def set_vcpu_quota(region: str, vcpus: int, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Apply `vcpus` as the region's L-1216C47A value (what a granted quota increase does)."""
    install()
    backend = quota_models.servicequotas_backends[account_id][region]
    values = {**getattr(backend, "ec2_quota_values", {}), STANDARD_QUOTA_CODE: vcpus}
    setattr(backend, "ec2_quota_values", values)  # noqa: B010 - an attribute of this extension only


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile `p` (0 < p <= 100) of `values`; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _values(stats: Any) -> list[float] | None:
    """The period's single values; None if a statistic set hides them (no percentile then)."""
    values = list(stats.metric_single_values_list)
    for aggregated in stats.metric_aggregated_list:
        if aggregated.min != aggregated.max and aggregated.sample_count != 1:
            return None
        values += [float(aggregated.min)] * max(1, int(aggregated.sample_count))
    return values


def _add_percentiles() -> None:
    statistics = cloudwatch_models.Statistics
    backend = cloudwatch_models.CloudWatchBackend
    original_stat = statistics.get_statistics_for_type
    original_data = backend.get_metric_data

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        match = _PERCENTILE.fullmatch(stat)
        if match is None:
            return original_stat(self, stat)
        values = _values(self)
        return None if values is None else percentile(values, float(match.group(1)))

    def get_metric_data(self: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = original_data(self, *args, **kwargs)
        for result in results:  # no percentile in a period: no point there (moto would answer 500)
            pairs: list[tuple[datetime, Any]] = list(zip(result["timestamps"], result["values"], strict=True))
            kept = [(t, v) for t, v in pairs if v is not None]
            result["timestamps"] = [t for t, _ in kept]
            result["values"] = [v for _, v in kept]
        return results

    statistics.get_statistics_for_type = get_statistics_for_type  # type: ignore[method-assign]
    backend.get_metric_data = get_metric_data  # type: ignore[method-assign]


def _add_ec2_quotas() -> None:
    backend = quota_models.ServiceQuotasBackend
    original = backend.get_service_quota

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code != "ec2" or quota_code != STANDARD_QUOTA_CODE:
            result: dict[str, Any] = original(self, service_code, quota_code)
            return result
        value = getattr(self, "ec2_quota_values", {}).get(quota_code, DEFAULT_VCPU_QUOTA)
        return {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ec2/{quota_code}",
            "QuotaCode": quota_code,
            "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
            "Value": float(value),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    backend.get_service_quota = get_service_quota  # type: ignore[method-assign]


def forget_metrics(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Drop every data point moto's CloudWatch holds in `region`: as if nothing had been published there."""
    cloudwatch_models.cloudwatch_backends[account_id][region].metric_data.clear()
