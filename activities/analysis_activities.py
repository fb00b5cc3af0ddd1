"""The analysis activity: fetch canary and baseline metrics, check thresholds, run the judge."""

from __future__ import annotations

import statistics

import structlog
from temporalio import activity

from activities.clouds.registry import CloudRegistry
from activities.errors import classified
from activities.heartbeat import long_call
from activities.judge import (
    MetricSpec,
    judge,
)
from activities.metrics import metrics_provider
from contracts.rollout import (
    AnalyseInput,
    AnalysisRecord,
)

_SERIES = {"error_rate": "error_rate", "latency_p99": "latency_p99_ms"}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


class AnalysisActivities:
    """Analysis needs metrics providers, which need the clouds: one object holds both."""

    def __init__(self, clouds: CloudRegistry) -> None:
        self._clouds = clouds

    @activity.defn(name="analyse")
    @classified
    @long_call
    def analyse(self, inp: AnalyseInput) -> AnalysisRecord:
        """One run: thresholds on the canary, then the Mann-Whitney judge against the baseline."""
        policy = inp.analysis
        provider = metrics_provider(
            policy.provider,
            self._clouds.get(inp.provider),
            prometheus_url=policy.prometheus_url,
            cloudwatch_namespace=policy.cloudwatch_namespace,
        )
        canary = provider.series(inp.service, inp.region, "canary", inp.canary_release, policy.window)
        baseline = provider.series(inp.service, inp.region, "stable", inp.baseline_release, policy.window)
        samples = min(len(canary.error_rate), len(canary.latency_p99_ms))
        reasons: list[str] = []
        metrics: dict[str, dict[str, float | str | None]] = {}

        judgement = judge(
            {name: getattr(canary, attr) for name, attr in _SERIES.items()},
            {name: getattr(baseline, attr) for name, attr in _SERIES.items()},
            [
                MetricSpec(
                    name=m.name, weight=m.weight, critical=m.critical, allowed_increase=m.allowed_increase
                )
                for m in policy.judge.metrics
            ],
            confidence=policy.judge.confidence,
            min_samples=policy.min_samples,
            pass_score=policy.judge.pass_score,
            marginal_score=policy.judge.marginal_score,
        )
        for m in judgement.metrics:
            metrics[m.name] = {
                "classification": m.classification,
                "canary_mean": m.canary_mean,
                "baseline_mean": m.baseline_mean,
                "canary_median": m.canary_median,
                "baseline_median": m.baseline_median,
                "u_statistic": m.u_statistic,
                "p_value": m.p_value,
                "effect": m.effect,
            }

        threshold_failed = False
        if samples < policy.min_samples:
            reasons.append(f"too few samples: {samples} < {policy.min_samples}")
        else:
            error_rate = _mean(canary.error_rate) or 0.0
            p99 = statistics.median(canary.latency_p99_ms)
            if error_rate > inp.thresholds.max_error_rate:
                threshold_failed = True
                reasons.append(f"error rate {error_rate:.2%} > {inp.thresholds.max_error_rate:.2%}")
            if p99 > inp.thresholds.max_p99_latency_ms:
                threshold_failed = True
                reasons.append(f"p99 {p99:.0f} ms > {inp.thresholds.max_p99_latency_ms:.0f} ms")
        reasons += judgement.reasons

        # Fail closed: a window without points or requests is no data, never a pass.
        no_data = samples == 0 or canary.requests <= 0
        if no_data:
            reasons.insert(0, f"no metrics arrived for the canary of {inp.region} in {policy.window:g}s")
        if threshold_failed or (judgement.verdict == "fail" and samples >= policy.min_samples):
            verdict = "fail"
        elif samples < policy.min_samples or judgement.verdict == "marginal":
            verdict = "inconclusive"
        else:
            verdict = "pass"
        structlog.get_logger("globalops.analysis").info(
            "analyse",
            workflow_id=activity.info().workflow_id,
            region=inp.region,
            step=inp.step,
            verdict=verdict,
            no_data=no_data,
            score=judgement.score,
        )
        return AnalysisRecord(
            step=inp.step,
            weight=inp.weight,
            verdict=verdict,
            no_data=no_data,
            score=judgement.score,
            samples=samples,
            metrics=metrics,
            reasons=reasons,
        )
