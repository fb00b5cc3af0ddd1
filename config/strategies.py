"""Deploy strategies inside a region (canary, blue-green) and the analysis that judges them."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from config.base import CONFIG
from config.durations import Duration

Strategy = Literal["rolling", "canary", "blue-green"]
MetricsProviderName = Literal["sim", "cloudwatch", "prometheus", "cloud_monitoring"]
MetricName = Literal["error_rate", "latency_p99"]


class PauseStep(BaseModel):
    """A pause in a canary: for a duration, or (no duration) until an operator promotes."""

    model_config = CONFIG

    duration: Duration | None = Field(
        default=None, description="How long to pause; omit to wait for `rollout promote`."
    )


class CanaryStep(BaseModel):
    """One canary step: either shift traffic (`set_weight`) or `pause`."""

    model_config = CONFIG

    set_weight: float | None = Field(
        default=None, gt=0, le=100, description="Percent of the region's traffic sent to the canary."
    )
    pause: PauseStep | None = Field(default=None, description="Wait here (see PauseStep).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.set_weight is None) == (self.pause is None):
            raise ValueError("a step is either `set_weight: N` or `pause: {...}`, exactly one")
        return self


def _default_steps() -> list[CanaryStep]:
    return [CanaryStep(set_weight=w) for w in (5, 25, 50, 100)]


class CanaryPolicy(BaseModel):
    """Canary steps (Argo Rollouts style): weights rise, each step bakes and is analysed."""

    model_config = CONFIG

    steps: list[CanaryStep] = Field(
        default_factory=_default_steps, min_length=1, description="Steps in order (default 5, 25, 50, 100)."
    )
    step_bake: Duration = Field(
        default=300.0, description="Bake at each weight before its analysis starts (initial delay)."
    )

    @model_validator(mode="after")
    def _weights_increase(self) -> Self:
        last = 0.0
        for index, step in enumerate(self.steps):
            if step.set_weight is None:
                continue
            if step.set_weight <= last:
                raise ValueError(
                    f"steps[{index}].set_weight: {step.set_weight:g} must be greater than the "
                    f"previous weight {last:g} (weights must increase)"
                )
            last = step.set_weight
        if last == 0.0:
            raise ValueError("steps: at least one `set_weight` step is needed")
        return self


class JudgeMetric(BaseModel):
    """One metric the statistical judge compares between canary and baseline."""

    model_config = CONFIG

    name: MetricName = Field(description="error_rate or latency_p99.")
    weight: float = Field(default=1.0, gt=0, description="Weight in the score.")
    critical: bool = Field(default=True, description="A failing critical metric fails the whole run.")
    allowed_increase: float = Field(
        default=0.2, ge=0, description="Relative increase tolerated (0.2 = canary may be 20 % higher)."
    )


def _default_judge_metrics() -> list[JudgeMetric]:
    return [JudgeMetric(name="error_rate"), JudgeMetric(name="latency_p99")]


class JudgePolicy(BaseModel):
    """Kayenta-style judge: Mann-Whitney U per metric, score = weighted share of passing metrics."""

    model_config = CONFIG

    confidence: float = Field(default=0.98, gt=0.5, lt=1, description="Confidence of the U test.")
    pass_score: float = Field(default=95, ge=0, le=100, description="Score at or above which a run passes.")
    marginal_score: float = Field(
        default=75, ge=0, le=100, description="Score at or above which a run is marginal (inconclusive)."
    )
    metrics: list[JudgeMetric] = Field(default_factory=_default_judge_metrics, min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.marginal_score > self.pass_score:
            raise ValueError("marginal_score: must not exceed pass_score")
        return self


class AnalysisPolicy(BaseModel):
    """How canary and blue-green analyses run: where metrics come from, how often, what limits."""

    model_config = CONFIG

    provider: MetricsProviderName = Field(
        default="sim", description="sim, cloudwatch, prometheus or cloud_monitoring (GCP regions only)."
    )
    prometheus_url: str | None = Field(
        default=None, description="Base URL of Prometheus (provider prometheus)."
    )
    cloudwatch_namespace: str = Field(default="globalops", description="CloudWatch namespace of the metrics.")
    interval: Duration = Field(default=60.0, gt=0, description="Time between analysis runs at one step.")
    count: int = Field(default=3, ge=1, le=100, description="Analysis runs per step.")
    window: Duration = Field(default=300.0, gt=0, description="Metrics window each run looks at.")
    min_samples: int = Field(default=50, ge=1, description="Data points per metric needed for a verdict.")
    failure_limit: int = Field(default=0, ge=0, description="Failed runs tolerated at a step.")
    inconclusive_limit: int = Field(default=0, ge=0, description="Inconclusive runs tolerated at a step.")
    consecutive_error_limit: int = Field(
        default=4, ge=0, description="Consecutive runs that could not get metrics before the step fails."
    )
    inconclusive_deadline: Duration = Field(
        default=3600.0, gt=0, description="How long an inconclusive step waits for promote / abort."
    )
    on_deadline: Literal["abort", "promote"] = Field(
        default="abort", description="What happens when nobody answers an inconclusive step in time."
    )
    judge: JudgePolicy = Field(default_factory=JudgePolicy, description="The statistical judge.")

    @model_validator(mode="after")
    def _provider_settings(self) -> Self:
        if self.provider == "prometheus" and not self.prometheus_url:
            raise ValueError("prometheus_url: required when provider is prometheus")
        return self


class BlueGreenPolicy(BaseModel):
    """Blue-green (Argo Rollouts names): green beside blue, analyse, switch, analyse, remove blue."""

    model_config = CONFIG

    auto_promotion: bool = Field(default=True, description="Switch without waiting for `promote`.")
    auto_promotion_seconds: Duration | None = Field(
        default=None, description="With auto_promotion off: switch anyway after this long."
    )
    pre_promotion_analysis: bool = Field(default=True, description="Analyse green before the switch.")
    post_promotion_analysis: bool = Field(
        default=True, description="Analyse after the switch; fail = switch back."
    )
    scale_down_delay: Duration = Field(default=30.0, description="Keep blue this long after the switch.")
