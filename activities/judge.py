"""Canary judge in the style of Kayenta: per-metric Mann-Whitney U tests, weighted into a score.

A pure function: no I/O, no clock, no randomness, and nothing from Temporal, so a workflow can
call it directly (pass scipy through the workflow sandbox) and replays give the same answer.

For each metric (a `MetricSpec`):

1. NaN and +/-inf are removed from both samples.
2. Fewer than `min_samples` points on either side: **NoData**.
3. Otherwise `scipy.stats.mannwhitneyu(canary, baseline, alternative="two-sided")`. The
   difference is significant when ``p < 1 - confidence``. A significant difference whose effect
   size (``canary_median / baseline_median - 1``) lies beyond the tolerance is **High**
   (``effect > allowed_increase``) or **Low** (``effect < -allowed_decrease``) -- but only when that
   side fails the metric's `direction`; a Low on an "increase" metric (latency fell) is a **Pass**.
   Everything else is a **Pass**.

Score = 100 x (weight of passing metrics) / (weight of metrics with data). It is 0 and the
verdict "fail" when a critical metric fails or when half or more of the metrics have no data.
Verdict: "pass" at ``score >= pass_score``, "marginal" at ``score >= marginal_score``, else "fail".
Kayenta's examples use 95 / 75, and so do the defaults here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Classification = Literal["Pass", "High", "Low", "NoData"]
Verdict = Literal["pass", "marginal", "fail"]
Direction = Literal["increase", "decrease", "either"]


class MetricSpec(BaseModel):
    """How one metric is judged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, description="share of the score this metric carries")
    critical: bool = Field(default=False, description="a failing critical metric fails the whole judgement")
    allowed_increase: float = Field(
        default=0.1, ge=0, description="relative effect tolerated upward (0.1 = canary up to +10 %)"
    )
    allowed_decrease: float = Field(
        default=0.5, ge=0, description="relative effect tolerated downward (0.5 = canary down to -50 %)"
    )
    direction: Direction = Field(
        default="increase",
        description="which deviation fails the metric: for error rate and latency only an increase is bad",
    )


class MetricJudgement(BaseModel):
    """The outcome for one metric, with the numbers behind it."""

    name: str
    classification: Classification
    canary_n: int = Field(description="canary points after NaN/inf cleaning")
    baseline_n: int = Field(description="baseline points after NaN/inf cleaning")
    canary_median: float | None
    baseline_median: float | None
    canary_mean: float | None
    baseline_mean: float | None
    u_statistic: float | None = Field(description="Mann-Whitney U of the canary sample")
    p_value: float | None = Field(description="two-sided p-value")
    effect: float | None = Field(
        description="canary/baseline - 1 on medians (means when the baseline median is 0); "
        "None when the baseline is 0 but the canary is not"
    )
    weight: float
    critical: bool


class Judgement(BaseModel):
    """The overall outcome of a canary analysis."""

    score: float = Field(ge=0, le=100)
    verdict: Verdict
    metrics: list[MetricJudgement]
    reasons: list[str]


def _clean(values: Sequence[float] | None) -> list[float]:
    """The finite values, in their order."""
    if values is None:
        return []
    return [float(v) for v in values if math.isfinite(float(v))]


def _effect(canary: list[float], baseline: list[float]) -> float | None:
    """Relative effect size of the canary against the baseline; None for "from zero to non-zero"."""
    if not canary or not baseline:
        return None
    reference, value = statistics.median(baseline), statistics.median(canary)
    if reference == 0:
        reference, value = statistics.fmean(baseline), statistics.fmean(canary)
    if reference == 0:
        return 0.0 if value == 0 else None
    return (value - reference) / abs(reference)


# (The "n/a" branches below are never taken by `judge`, which describes only High and Low metrics: they
# have a p-value, and no effect only from a zero baseline to a non-zero canary mean. Their mutants are
# equivalent and left counted as survivors.)
def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _fmt_effect(effect: float | None, canary: float | None) -> str:
    if effect is None:
        return "from 0" if canary else "n/a"
    return f"{effect * 100:+.0f}%"


def _test(
    spec: MetricSpec, canary: list[float], baseline: list[float], alpha: float
) -> tuple[Classification, float, float]:
    """Classification, U statistic and p-value of two samples that both have enough points."""
    if len(set(canary) | set(baseline)) == 1:
        # Every point on both sides is the same value: no difference at all (scipy may give nan).
        u, p = len(canary) * len(baseline) / 2.0, 1.0
    else:
        from scipy.stats import mannwhitneyu  # imported on first use: it costs a worker 0.9 s at start

        # (Equivalent mutants, left counted: two-sided is scipy's default, and it lower-cases the name.)
        result = mannwhitneyu(canary, baseline, alternative="two-sided")
        u, p = float(result.statistic), float(result.pvalue)
        if math.isnan(p):
            p = 1.0
    if p >= alpha:
        return "Pass", u, p
    effect = _effect(canary, baseline)
    if effect is None:
        # The baseline is exactly 0 and the canary is not: an unbounded change. (The canary's mean is
        # not 0 here, so the mutant `>= 0` is equivalent, left counted.)
        higher = statistics.fmean(canary) > 0
        lower = not higher
    else:
        higher, lower = effect > spec.allowed_increase, effect < -spec.allowed_decrease
    if higher and spec.direction in ("increase", "either"):
        return "High", u, p
    if lower and spec.direction in ("decrease", "either"):
        return "Low", u, p
    return "Pass", u, p


def _judge_metric(
    spec: MetricSpec, canary: list[float], baseline: list[float], alpha: float, min_samples: int
) -> MetricJudgement:
    classification: Classification = "NoData"
    u: float | None = None
    p: float | None = None
    if len(canary) >= min_samples and len(baseline) >= min_samples:
        classification, u, p = _test(spec, canary, baseline, alpha)
    return MetricJudgement(
        name=spec.name,
        classification=classification,
        canary_n=len(canary),
        baseline_n=len(baseline),
        canary_median=statistics.median(canary) if canary else None,
        baseline_median=statistics.median(baseline) if baseline else None,
        canary_mean=statistics.fmean(canary) if canary else None,
        baseline_mean=statistics.fmean(baseline) if baseline else None,
        u_statistic=u,
        p_value=p,
        effect=_effect(canary, baseline),
        weight=spec.weight,
        critical=spec.critical,
    )


def _describe(m: MetricJudgement) -> str:
    """E.g. "latency_p99: High (canary median 128.1 vs baseline 80.2, +60%, p=1e-20)"."""
    stat, c, b = "median", m.canary_median, m.baseline_median
    if b == 0:  # the effect was computed on means
        stat, c, b = "mean", m.canary_mean, m.baseline_mean
    return (
        f"{m.name}: {m.classification} (canary {stat} {c or 0:.4g} vs baseline {b or 0:.4g}, "
        f"{_fmt_effect(m.effect, m.canary_mean)}, p={_fmt_p(m.p_value)})"
    )


def judge(
    canary: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]],
    specs: Sequence[MetricSpec],
    *,
    confidence: float = 0.98,
    min_samples: int = 50,
    pass_score: float = 95,
    marginal_score: float = 75,
) -> Judgement:
    """Compare canary samples with baseline samples metric by metric and score the canary.

    `canary` and `baseline` map a metric name to its data points (a missing name is an empty
    sample). Raises ValueError only for nonsensical arguments (confidence outside (0, 1),
    min_samples < 1, thresholds outside 0..100 or pass_score < marginal_score, duplicate specs).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")
    if not 0 <= marginal_score <= pass_score <= 100:
        raise ValueError(
            f"need 0 <= marginal_score <= pass_score <= 100, got {marginal_score} and {pass_score}"
        )
    names = [s.name for s in specs]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"metric specs named more than once: {', '.join(duplicates)}")

    alpha = 1 - confidence
    metrics = [
        _judge_metric(s, _clean(canary.get(s.name)), _clean(baseline.get(s.name)), alpha, min_samples)
        for s in specs
    ]
    if not metrics:
        return Judgement(score=0, verdict="fail", metrics=[], reasons=["no metrics to judge"])

    reasons: list[str] = []
    no_data = [m for m in metrics if m.classification == "NoData"]
    failing = [m for m in metrics if m.classification in ("High", "Low")]
    for m in metrics:
        if m.classification == "NoData":
            reasons.append(
                f"{m.name}: NoData (canary {m.canary_n} vs baseline {m.baseline_n} points, "
                f"need {min_samples} each)"
            )
        elif m.classification != "Pass":
            reasons.append(_describe(m))

    with_data = [m for m in metrics if m.classification != "NoData"]
    total = sum(m.weight for m in with_data)
    passed = sum(m.weight for m in with_data if m.classification == "Pass")
    # (Equivalent mutants, left counted: with a total of 0 no metric has data and the score is zeroed
    # below, so `else 1.0`; and `zeroed = None` is as false as False.)
    score = round(100.0 * passed / total, 6) if total > 0 else 0.0

    zeroed = False
    if 2 * len(no_data) >= len(metrics):
        reasons.append(f"no data for {len(no_data)} of {len(metrics)} metrics")
        zeroed = True
    for m in failing:
        if m.critical:
            reasons.append(f"critical metric {m.name} is {m.classification}")
            zeroed = True
    if zeroed:
        return Judgement(score=0, verdict="fail", metrics=metrics, reasons=reasons)

    verdict: Verdict = "pass" if score >= pass_score else "marginal" if score >= marginal_score else "fail"
    if verdict != "pass":
        reasons.append(f"score {score:.4g} is below the pass score {pass_score:g}")
    return Judgement(score=score, verdict=verdict, metrics=metrics, reasons=reasons)
