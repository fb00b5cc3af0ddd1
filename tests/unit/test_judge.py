"""The Kayenta-style canary judge: statistics, classification, scoring and verdicts."""

from __future__ import annotations

import math
from types import SimpleNamespace
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


def around(median: float, n: int = 60) -> list[float]:
    """`n` points at median - 1, median, median + 1: the median exact, so effects are exact too."""
    return [median - 1, median, median + 1] * (n // 3)


BASELINE = around(100)  # against around(110) etc.: p = 9.8e-22, clearly significant


def classify(canary: list[float], spec: MetricSpec) -> str:
    """The classification of `canary` against BASELINE."""
    return judge({spec.name: canary}, {spec.name: BASELINE}, [spec]).metrics[0].classification


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
    assert m.u_statistic == 60 * 70 / 2  # no difference: U is half of all pairs
    assert m.effect == 0.0
    assert result.verdict == "pass"


def test_a_nan_p_value_from_scipy_counts_as_no_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "scipy.stats.mannwhitneyu", lambda *a, **k: SimpleNamespace(statistic=7.0, pvalue=math.nan)
    )
    m = judge({LATENCY: around(200)}, {LATENCY: BASELINE}, [MetricSpec(name=LATENCY)]).metrics[0]
    assert (m.classification, m.u_statistic, m.p_value) == ("Pass", 7.0, 1.0)


def test_a_p_value_exactly_at_the_significance_level_is_not_significant() -> None:
    # no ties, 3 and 5 points: scipy's exact p-value is 0.25, and 1 - 0.75 == 0.25 exactly
    canary, baseline = [20.0, 60.0, 70.0], [0.0, 10.0, 30.0, 40.0, 50.0]  # medians 60 and 30: +100 %
    spec = [MetricSpec(name=LATENCY)]
    m = judge({LATENCY: canary}, {LATENCY: baseline}, spec, confidence=0.75, min_samples=3).metrics[0]
    assert (m.p_value, m.classification) == (0.25, "Pass")
    m = judge({LATENCY: canary}, {LATENCY: baseline}, spec, confidence=0.74, min_samples=3).metrics[0]
    assert m.classification == "High"


def test_the_reason_of_a_failing_metric_names_medians_effect_and_p() -> None:
    result = judge({LATENCY: around(128)}, {LATENCY: BASELINE}, [MetricSpec(name=LATENCY)])
    assert result.reasons == [
        "latency_p99: High (canary median 128 vs baseline 100, +28%, p=9.8e-22)",
        "score 0 is below the pass score 95",
    ]
    down = MetricSpec(name="throughput", direction="decrease")
    result = judge({"throughput": [0.0] * 60}, {"throughput": BASELINE}, [down])
    assert result.reasons[0] == "throughput: Low (canary median 0 vs baseline 100, -100%, p=2.5e-24)"


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


def test_an_effect_exactly_at_the_tolerance_passes() -> None:
    # +10 % (110 vs 100) with allowed_increase 0.1, -50 % (50 vs 100) with allowed_decrease 0.5: both
    # clearly significant, both exactly at the tolerance, so inside it
    up = judge({LATENCY: around(110)}, {LATENCY: BASELINE}, [MetricSpec(name=LATENCY)]).metrics[0]
    assert (up.effect, up.classification) == (0.1, "Pass")
    assert up.p_value is not None and up.p_value < 1e-20
    spec = MetricSpec(name="throughput", direction="decrease")
    down = judge({"throughput": around(50)}, {"throughput": BASELINE}, [spec]).metrics[0]
    assert (down.effect, down.classification) == (-0.5, "Pass")
    # one step beyond, each fails
    assert classify(around(111), MetricSpec(name=LATENCY)) == "High"
    assert classify(around(49), spec) == "Low"


@pytest.mark.parametrize("direction", ["decrease", "either"])
def test_a_significant_change_inside_the_tolerance_passes_both_ways(direction: str) -> None:
    spec = MetricSpec(name="throughput", direction=direction, allowed_increase=0.1, allowed_decrease=0.5)
    for canary in (around(80), around(105)):  # -20 %, +5 %: significant, within tolerance
        m = judge({"throughput": canary}, {"throughput": BASELINE}, [spec]).metrics[0]
        assert m.p_value is not None and m.p_value < 1e-20
        assert m.classification == "Pass"


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
    assert result.reasons[0] == "error_rate: High (canary mean 0.03 vs baseline 0, from 0, p=2.6e-20)"

    mostly_zero = [0.0] * 70 + [0.01] * 30  # median 0, mean 0.003
    worse = [0.0] * 40 + [0.01] * 60  # mean 0.006 → +100 % on means
    result = judge({ERRORS: worse}, {ERRORS: mostly_zero}, [MetricSpec(name=ERRORS)])
    m = result.metrics[0]
    assert m.effect == pytest.approx(1.0)
    assert m.classification == "High"
    assert result.reasons[0] == "error_rate: High (canary mean 0.006 vs baseline 0.003, +100%, p=2.1e-05)"


@pytest.mark.parametrize(
    ("direction", "expected"), [("either", "Low"), ("decrease", "Low"), ("increase", "Pass")]
)
def test_from_zero_to_below_zero_is_low(direction: str, expected: str) -> None:
    # a metric that can go negative (a balance, a delta): from all zeros down is an unbounded decrease
    spec = MetricSpec(name="delta", direction=direction)
    result = judge({"delta": [-0.05] * 60}, {"delta": [0.0] * 100}, [spec])
    assert result.metrics[0].effect is None
    assert result.metrics[0].classification == expected
    if expected == "Low":
        assert result.reasons[0] == "delta: Low (canary mean -0.05 vs baseline 0, from 0, p=1.9e-36)"


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
    assert "latency_p99: NoData (canary 49 vs baseline 200 points, need 50 each)" in result.reasons
    assert (latency.canary_median, latency.baseline_median) == (
        pytest.approx(np.median(full[:49])),
        pytest.approx(np.median(full)),
    )

    # exactly min_samples (50 by default) on each side is enough
    exactly = judge({LATENCY: full[:50]}, {LATENCY: full[:50]}, [MetricSpec(name=LATENCY)])
    assert exactly.metrics[0].classification == "Pass"

    # A missing metric is an empty sample; min_samples is configurable.
    result = judge({ERRORS: full[:10]}, {ERRORS: full[:10]}, [MetricSpec(name=ERRORS)], min_samples=10)
    assert result.metrics[0].classification == "Pass"
    assert judge({}, {ERRORS: full}, [MetricSpec(name=ERRORS)]).metrics[0].classification == "NoData"


def test_a_metric_missing_from_the_baseline_has_no_data() -> None:
    canary = normal(25, 80, 5)
    specs = [MetricSpec(name=LATENCY), MetricSpec(name=ERRORS), MetricSpec(name="cpu")]
    result = judge({LATENCY: canary, ERRORS: canary, "cpu": canary}, {LATENCY: canary, ERRORS: canary}, specs)
    cpu = by_name(result, "cpu")
    assert cpu.classification == "NoData"
    assert (cpu.canary_n, cpu.baseline_n) == (200, 0)
    assert (cpu.baseline_median, cpu.baseline_mean, cpu.effect, cpu.p_value) == (None, None, None, None)
    assert cpu.canary_median == pytest.approx(float(np.median(canary)))
    assert result.reasons == ["cpu: NoData (canary 200 vs baseline 0 points, need 50 each)"]
    assert (result.score, result.verdict) == (100, "pass")  # the other two carry the score


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


def test_a_score_just_under_the_pass_score_is_not_rounded_up() -> None:
    canary = {LATENCY: around(128), ERRORS: BASELINE}
    baseline = {LATENCY: BASELINE, ERRORS: BASELINE}
    specs = [MetricSpec(name=LATENCY, weight=1), MetricSpec(name=ERRORS, weight=17.5)]
    result = judge(canary, baseline, specs)  # 100 x 17.5 / 18.5 = 94.5945945...
    assert result.score == 94.594595  # to 6 decimals: never 95 (a pass)
    assert result.verdict == "marginal"
    assert result.reasons[-1] == "score 94.59 is below the pass score 95"


def test_float_noise_does_not_cost_a_threshold() -> None:
    # 4 metrics of weight 0.3, 1 failing: 100 x 0.8999999999999999 / 1.2 = 74.99999999999999 in floats
    names = ["a", "b", "c", "d"]
    canary = {"a": around(128), **{n: BASELINE for n in names[1:]}}
    baseline = {n: BASELINE for n in names}
    result = judge(canary, baseline, [MetricSpec(name=n, weight=0.3) for n in names])
    assert (result.score, result.verdict) == (75, "marginal")


def test_a_critical_metric_failing_low_zeroes_the_score() -> None:
    specs = [
        MetricSpec(name="throughput", direction="decrease", critical=True),
        MetricSpec(name=LATENCY, weight=9),
    ]
    canary = {"throughput": around(30), LATENCY: BASELINE}
    baseline = {"throughput": BASELINE, LATENCY: BASELINE}
    result = judge(canary, baseline, specs)
    assert by_name(result, "throughput").classification == "Low"
    assert (result.score, result.verdict) == (0, "fail")
    assert result.reasons[-1] == "critical metric throughput is Low"
    # not critical: it only costs its weight
    specs[0] = MetricSpec(name="throughput", direction="decrease")
    not_critical = judge(canary, baseline, specs)
    assert (not_critical.score, not_critical.verdict) == (90, "marginal")


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


@pytest.mark.parametrize(
    "limits",
    [
        {"confidence": 1e-9},
        {"confidence": 1 - 1e-9},
        {"min_samples": 1},
        {"marginal_score": 0, "pass_score": 0},
        {"marginal_score": 80, "pass_score": 80},
        {"marginal_score": 100, "pass_score": 100},
    ],
)
def test_arguments_at_their_limits_are_accepted(limits: dict[str, Any]) -> None:
    result = judge({LATENCY: BASELINE}, {LATENCY: BASELINE}, [MetricSpec(name=LATENCY)], **limits)
    assert result.metrics[0].classification == "Pass"


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"confidence": 0}, "confidence must be between 0 and 1 (exclusive), got 0"),
        ({"confidence": 1}, "confidence must be between 0 and 1 (exclusive), got 1"),
        ({"min_samples": 0}, "min_samples must be at least 1, got 0"),
        ({"marginal_score": -0.5}, "need 0 <= marginal_score <= pass_score <= 100, got -0.5 and 95"),
        (
            {"marginal_score": 80, "pass_score": 79.5},
            "need 0 <= marginal_score <= pass_score <= 100, got 80 and 79.5",
        ),
        ({"pass_score": 100.5}, "need 0 <= marginal_score <= pass_score <= 100, got 75 and 100.5"),
    ],
)
def test_arguments_just_past_their_limits_raise(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        judge({}, {}, [MetricSpec(name=LATENCY)], **limits)
    assert str(raised.value) == message


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
    twice = [MetricSpec(name=n) for n in ("b", "a", "b", "a", "c")]
    with pytest.raises(ValueError) as raised:
        judge({}, {}, twice)
    assert str(raised.value) == "metric specs named more than once: a, b"
    with pytest.raises(ValueError):
        MetricSpec(name=LATENCY, weight=0)
    with pytest.raises(ValueError):
        MetricSpec(name=LATENCY, allowed_increase=-0.1)
    empty = judge({}, {}, [])
    assert (empty.score, empty.verdict, empty.reasons) == (0, "fail", ["no metrics to judge"])
