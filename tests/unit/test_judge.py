"""The Kayenta-style canary judge: statistics, classification, scoring and verdicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]

from activities.judge import (
    Judgement,
    MetricJudgement,
    MetricSpec,
    judge,
)

LATENCY = "latency_p99"
ERRORS = "error_rate"


def normal(seed: int, mean: float, sd: float, n: int = 200) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(mean, sd, n)]


def by_name(result: Judgement, name: str) -> MetricJudgement:
    return next(m for m in result.metrics if m.name == name)


def test_u_statistic_and_p_value_are_scipys() -> None:
    canary, baseline = normal(1, 100, 10, 180), normal(2, 103, 10, 220)
    result = judge({LATENCY: canary}, {LATENCY: baseline}, [MetricSpec(name=LATENCY)])
    expected = mannwhitneyu(canary, baseline, alternative="two-sided")
    m = result.metrics[0]
    assert m.u_statistic == float(expected.statistic)
    assert m.p_value == float(expected.pvalue)
    assert (m.canary_n, m.baseline_n) == (180, 220)
    assert m.canary_median == pytest.approx(float(np.median(canary)))
    assert m.baseline_mean == pytest.approx(float(np.mean(baseline)))
    assert m.effect == pytest.approx(float(np.median(canary)) / float(np.median(baseline)) - 1)


def test_identical_distributions_pass_with_full_score() -> None:
    latency, errors = normal(3, 80, 5), [abs(x) for x in normal(4, 0.002, 0.001)]
    specs = [MetricSpec(name=LATENCY, critical=True), MetricSpec(name=ERRORS, critical=True)]
    result = judge({LATENCY: latency, ERRORS: errors}, {LATENCY: list(latency), ERRORS: list(errors)}, specs)
    assert [m.classification for m in result.metrics] == ["Pass", "Pass"]
    assert result.score == 100
    assert result.verdict == "pass"
    assert result.reasons == []


def test_constant_samples_on_both_sides_pass_with_p_1() -> None:
    result = judge({ERRORS: [0.0] * 60}, {ERRORS: [0.0] * 70}, [MetricSpec(name=ERRORS)])
    m = result.metrics[0]
    assert m.classification == "Pass"
    assert m.p_value == 1.0
    assert m.effect == 0.0
    assert result.verdict == "pass"


def test_latency_up_60_percent_fails_a_critical_metric() -> None:
    errors = [abs(x) for x in normal(5, 0.002, 0.001)]
    canary = {LATENCY: normal(6, 128, 6), ERRORS: errors}
    baseline = {LATENCY: normal(7, 80, 4), ERRORS: list(errors)}
    specs = [MetricSpec(name=LATENCY, critical=True), MetricSpec(name=ERRORS, critical=True, weight=3)]
    result = judge(canary, baseline, specs)
    latency = by_name(result, LATENCY)
    assert latency.classification == "High"
    assert latency.effect == pytest.approx(0.6, abs=0.05)
    assert latency.p_value is not None and latency.p_value < 1e-20
    assert by_name(result, ERRORS).classification == "Pass"
    assert result.score == 0
    assert result.verdict == "fail"
    assert any(r.startswith("latency_p99: High (canary median 12") for r in result.reasons)
    assert latency.effect is not None
    assert f"{latency.effect * 100:+.0f}%, p=" in result.reasons[0]
    assert any("critical" in r and LATENCY in r for r in result.reasons)


def test_a_significant_shift_inside_the_allowed_increase_passes() -> None:
    canary, baseline = normal(8, 105, 1), normal(9, 100, 1)
    result = judge({LATENCY: canary}, {LATENCY: baseline}, [MetricSpec(name=LATENCY, allowed_increase=0.1)])
    m = result.metrics[0]
    assert m.p_value is not None and m.p_value < 1e-10  # clearly significant ...
    assert m.effect == pytest.approx(0.05, abs=0.01)  # ... but inside the +10 % tolerance
    assert m.classification == "Pass"
    assert result.verdict == "pass"

    stricter = judge(
        {LATENCY: canary}, {LATENCY: baseline}, [MetricSpec(name=LATENCY, allowed_increase=0.02)]
    )
    assert stricter.metrics[0].classification == "High"


def test_lower_latency_on_an_increase_metric_passes() -> None:
    canary, baseline = normal(10, 30, 3), normal(11, 100, 5)
    result = judge({LATENCY: canary}, {LATENCY: baseline}, [MetricSpec(name=LATENCY, critical=True)])
    m = result.metrics[0]
    assert m.p_value is not None and m.p_value < 1e-20
    assert m.effect is not None and m.effect < -0.5
    assert m.classification == "Pass"
    assert (result.score, result.verdict) == (100, "pass")


def test_low_fails_a_decrease_direction_metric() -> None:
    throughput = "throughput"
    canary, baseline = normal(12, 30, 3), normal(13, 100, 5)
    spec = MetricSpec(name=throughput, direction="decrease", allowed_decrease=0.2)
    result = judge({throughput: canary}, {throughput: baseline}, [spec])
    assert result.metrics[0].classification == "Low"
    assert (result.score, result.verdict) == (0, "fail")
    assert result.reasons[0].startswith("throughput: Low (canary median")

    # ... while an increase is fine for that direction, and either direction catches both.
    up = judge({throughput: baseline}, {throughput: canary}, [spec])
    assert up.metrics[0].classification == "Pass"
    either = MetricSpec(name=throughput, direction="either")
    assert judge({throughput: baseline}, {throughput: canary}, [either]).metrics[0].classification == "High"
    assert judge({throughput: canary}, {throughput: baseline}, [either]).metrics[0].classification == "Low"


def test_error_rate_from_zero_is_high() -> None:
    """Baseline median 0 → the effect uses means; a baseline of all zeros gives no ratio at all."""
    baseline = [0.0] * 100
    canary = [0.0] * 40 + [0.05] * 60
    result = judge({ERRORS: canary}, {ERRORS: baseline}, [MetricSpec(name=ERRORS, critical=True)])
    m = result.metrics[0]
    assert m.effect is None
    assert m.classification == "High"
    assert result.verdict == "fail"
    assert "from 0" in result.reasons[0]

    mostly_zero = [0.0] * 70 + [0.01] * 30  # median 0, mean 0.003
    worse = [0.0] * 40 + [0.01] * 60  # mean 0.006 → +100 % on means
    m = judge({ERRORS: worse}, {ERRORS: mostly_zero}, [MetricSpec(name=ERRORS)]).metrics[0]
    assert m.effect == pytest.approx(1.0)
    assert m.classification == "High"


def test_no_data_below_min_samples() -> None:
    specs = [MetricSpec(name=LATENCY), MetricSpec(name=ERRORS), MetricSpec(name="cpu")]
    full = normal(14, 80, 5)
    result = judge(
        {LATENCY: full[:49], ERRORS: full, "cpu": full},
        {LATENCY: full, ERRORS: full, "cpu": full},
        specs,
    )
    latency = by_name(result, LATENCY)
    assert latency.classification == "NoData"
    assert (latency.u_statistic, latency.p_value) == (None, None)
    assert latency.canary_n == 49
    # 1 of 3 without data: excluded from the score, which the other two carry.
    assert (result.score, result.verdict) == (100, "pass")
    assert any("latency_p99: NoData" in r for r in result.reasons)

    # A missing metric is an empty sample; min_samples is configurable.
    result = judge({ERRORS: full[:10]}, {ERRORS: full[:10]}, [MetricSpec(name=ERRORS)], min_samples=10)
    assert result.metrics[0].classification == "Pass"
    assert judge({}, {ERRORS: full}, [MetricSpec(name=ERRORS)]).metrics[0].classification == "NoData"


def test_half_the_metrics_without_data_scores_zero() -> None:
    full = normal(15, 80, 5)
    specs = [MetricSpec(name=LATENCY), MetricSpec(name=ERRORS)]
    result = judge({LATENCY: full, ERRORS: full[:20]}, {LATENCY: full, ERRORS: full}, specs)
    assert by_name(result, LATENCY).classification == "Pass"
    assert (result.score, result.verdict) == (0, "fail")
    assert "no data for 1 of 2 metrics" in result.reasons


def test_weights_give_a_marginal_score() -> None:
    errors = normal(16, 0.01, 0.001)
    canary = {LATENCY: normal(17, 128, 6), ERRORS: errors}
    baseline = {LATENCY: normal(18, 80, 4), ERRORS: list(errors)}
    specs = [MetricSpec(name=LATENCY, weight=1), MetricSpec(name=ERRORS, weight=3)]
    result = judge(canary, baseline, specs)
    assert by_name(result, LATENCY).classification == "High"
    assert result.score == 75
    assert result.verdict == "marginal"
    assert any(r.startswith("latency_p99: High") for r in result.reasons)

    # The thresholds are parameters.
    assert judge(canary, baseline, specs, pass_score=70, marginal_score=50).verdict == "pass"
    assert judge(canary, baseline, specs, marginal_score=80, pass_score=90).verdict == "fail"
    heavier = [MetricSpec(name=LATENCY, weight=1), MetricSpec(name=ERRORS, weight=19)]
    assert judge(canary, baseline, heavier).score == 95
    assert judge(canary, baseline, heavier).verdict == "pass"


def test_nan_and_inf_are_cleaned_before_testing() -> None:
    canary, baseline = normal(19, 100, 10, 60), normal(20, 100, 10, 60)
    dirty = [*canary[:30], math.nan, math.inf, *canary[30:], -math.inf, math.nan]
    result = judge({LATENCY: dirty}, {LATENCY: [math.nan, *baseline]}, [MetricSpec(name=LATENCY)])
    m = result.metrics[0]
    assert (m.canary_n, m.baseline_n) == (60, 60)
    expected = mannwhitneyu(canary, baseline, alternative="two-sided")
    assert (m.u_statistic, m.p_value) == (float(expected.statistic), float(expected.pvalue))
    assert m.canary_mean is not None and math.isfinite(m.canary_mean)

    # numpy arrays work too (at runtime; they are not typed as Sequence).
    arrays: dict[str, Any] = {LATENCY: np.array(dirty)}
    as_arrays = judge(arrays, {LATENCY: np.array(baseline)}, [MetricSpec(name=LATENCY)])  # type: ignore[dict-item]
    assert as_arrays.metrics[0] == m

    # Cleaning can take a sample below min_samples.
    short = [*canary[:45], *([math.nan] * 20)]
    assert judge({LATENCY: short}, {LATENCY: baseline}, [MetricSpec(name=LATENCY)]).metrics[
        0
    ].classification == ("NoData")


def test_confidence_sets_the_significance_level() -> None:
    canary, baseline = normal(21, 104, 10, 300), normal(22, 100, 10, 300)
    spec = MetricSpec(name=LATENCY, allowed_increase=0.0)
    p = judge({LATENCY: canary}, {LATENCY: baseline}, [spec]).metrics[0].p_value
    assert p is not None and 1e-6 < p < 0.02
    assert judge({LATENCY: canary}, {LATENCY: baseline}, [spec]).metrics[0].classification == "High"
    strict = judge({LATENCY: canary}, {LATENCY: baseline}, [spec], confidence=1 - p / 2)
    assert strict.metrics[0].classification == "Pass"


def test_judgement_round_trips_as_json() -> None:
    result = judge({LATENCY: normal(23, 128, 6)}, {LATENCY: normal(24, 80, 4)}, [MetricSpec(name=LATENCY)])
    assert Judgement.model_validate_json(result.model_dump_json()) == result


def test_nonsensical_arguments_raise() -> None:
    spec = [MetricSpec(name=LATENCY)]
    with pytest.raises(ValueError, match="confidence"):
        judge({}, {}, spec, confidence=1.0)
    with pytest.raises(ValueError, match="min_samples"):
        judge({}, {}, spec, min_samples=0)
    with pytest.raises(ValueError, match="marginal_score"):
        judge({}, {}, spec, pass_score=50, marginal_score=75)
    with pytest.raises(ValueError, match="more than once"):
        judge({}, {}, [*spec, *spec])
    with pytest.raises(ValueError):
        MetricSpec(name=LATENCY, weight=0)
    with pytest.raises(ValueError):
        MetricSpec(name=LATENCY, allowed_increase=-0.1)
    empty = judge({}, {}, [])
    assert (empty.score, empty.verdict, empty.reasons) == (0, "fail", ["no metrics to judge"])
