"""The Prometheus provider's PromQL against a real Prometheus scraping the sim's exporter.

A canary of the bad release (30 % errors, p99 80 + 400 ms) at 25 % beside stable 1.0.0: the provider's
default queries (rate of 5xx over all requests; histogram_quantile(0.99, ...) of the latency buckets) read
what the sim serves, within the sim's noise and the histogram's resolution. A region Prometheus has no
series of reads as no data (empty series, 0 requests), never as 0, and the analysis activity says so.
"""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.analysis_activities import AnalysisActivities
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from activities.clouds.sim_groups import BASELINE_ERROR_RATE
from activities.metrics.prometheus import PrometheusMetrics
from config.models import Policies
from contracts.rollout import AnalyseInput
from tests.helpers.prometheus import (
    BAD,
    EXPORTED,
    FLAWLESS,
    GAPPED,
    NOT_SEEDED,
    canary_policies,
    wait_for,
)

pytestmark = pytest.mark.slow

WINDOW_S = 10.0
MIN_POINTS = 5
CANARY_WEIGHT = 0.25


@pytest.fixture(scope="module")
def provider(prom_sim: SimCloud, prometheus: str) -> PrometheusMetrics:
    """catalog: a BAD canary at 25 %; billing: a FLAWLESS canary at 50 % (both in EXPORTED). The provider,
    once Prometheus holds MIN_POINTS of both canaries in a window."""
    prom_sim.scale_group("catalog", EXPORTED, "canary", BAD, 1, "catalog-canary")
    prom_sim.set_canary_weight("catalog", EXPORTED, CANARY_WEIGHT, "catalog-weight")
    prom_sim.scale_group("billing", EXPORTED, "canary", FLAWLESS, 2, "billing-canary")
    prom_sim.set_canary_weight("billing", EXPORTED, 0.5, "billing-weight")
    metrics = PrometheusMetrics(prometheus)

    def enough() -> bool:
        return all(
            min(len(s.error_rate), len(s.latency_p99_ms)) >= MIN_POINTS
            for s in (
                metrics.series("catalog", EXPORTED, "canary", BAD, WINDOW_S),
                metrics.series("billing", EXPORTED, "canary", FLAWLESS, WINDOW_S),
            )
        )

    wait_for(enough, f"{MIN_POINTS} points of each canary in Prometheus")
    return metrics


def test_error_rate_and_p99_of_a_bad_canary_and_its_baseline(provider: PrometheusMetrics) -> None:
    canary = provider.series("catalog", EXPORTED, "canary", BAD, WINDOW_S)
    stable = provider.series("catalog", EXPORTED, "stable", "1.0.0", WINDOW_S)
    for series in (canary, stable):
        assert len(series.error_rate) >= MIN_POINTS and len(series.latency_p99_ms) >= MIN_POINTS
        assert series.requests > 0
    # Each scrape's error share is the sim's rate x 0.8-1.2, and a point is a share of summed increases
    # (all series of a group start together at 0, so rate() extrapolates them alike): within the same
    # bounds, give or take 1 % (rate() may extrapolate a window that starts just after a series did).
    assert all(0.99 * 0.24 <= e <= 1.01 * 0.36 for e in canary.error_rate), canary.error_rate
    low, high = 0.99 * 0.8 * BASELINE_ERROR_RATE, 1.01 * 1.2 * BASELINE_ERROR_RATE
    assert all(low <= e <= high for e in stable.error_rate), stable.error_rate
    # p99 = (80 + 400 ms) x 0.93-1.07 = 446-514 ms: histogram_quantile() interpolates inside the bucket that
    # holds it, so it reads between the bounds around that range (400 and 750 ms); the baseline's 74-86 ms
    # lies between 50 and 100 ms.
    assert all(400 <= p <= 750 for p in canary.latency_p99_ms), canary.latency_p99_ms
    assert all(50 <= p <= 100 for p in stable.latency_p99_ms), stable.latency_p99_ms


def test_a_release_without_a_single_5xx_reads_as_zero_errors(
    provider: PrometheusMetrics, prometheus: str
) -> None:
    """No 5xx series exists for billing's canary: the default query falls back to 0 where requests carry a
    `code`, where a plain ratio would have no points and hold a healthy canary for want of data."""
    canary = provider.series("billing", EXPORTED, "canary", FLAWLESS, WINDOW_S)
    assert len(canary.error_rate) >= MIN_POINTS and set(canary.error_rate) == {0.0}
    assert canary.requests > 0

    selector = 'service="{service}",region="{region}",group="{group}"'
    plain = (
        f'sum(rate(http_requests_total{{{selector},code=~"5.."}}[1m]))'
        f" / sum(rate(http_requests_total{{{selector}}}[1m]))"
    )
    naive = PrometheusMetrics(prometheus, queries={"error_rate": plain})
    assert naive.series("billing", EXPORTED, "canary", FLAWLESS, WINDOW_S).error_rate == []


@pytest.mark.parametrize("region", [GAPPED, NOT_SEEDED])
@pytest.mark.parametrize("group", ["stable", "canary"])
def test_a_region_without_series_is_no_data_never_zero(
    provider: PrometheusMetrics, region: str, group: str
) -> None:
    series = provider.series("catalog", region, group, "1.0.0", WINDOW_S)
    assert (series.error_rate, series.latency_p99_ms, series.requests) == ([], [], 0)


def test_analysis_of_a_region_without_metrics_reports_no_data(
    provider: PrometheusMetrics, prometheus: str, prom_sim: SimCloud
) -> None:
    """The analysis activity itself, on GAPPED (it serves, its numbers do not arrive): no data, no pass."""
    policies: Policies = canary_policies(prometheus)
    prom_sim.scale_group("catalog", GAPPED, "canary", BAD, 1, "catalog-gapped-canary")
    prom_sim.set_canary_weight("catalog", GAPPED, CANARY_WEIGHT, "catalog-gapped-weight")
    inp = AnalyseInput(
        service="catalog",
        region=GAPPED,
        provider="sim",
        step="step 1/1 25%",
        weight=25,
        canary_release=BAD,
        baseline_release="1.0.0",
        analysis=policies.analysis.model_copy(update={"window": WINDOW_S}),
        thresholds=policies.health,
    )
    activities = AnalysisActivities(CloudRegistry({"sim": lambda: prom_sim}))
    record = ActivityEnvironment().run(activities.analyse, inp)
    assert record.no_data
    assert record.verdict != "pass"
    assert record.samples == 0
    assert "no metrics arrived" in record.reasons[0]
