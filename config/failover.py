"""Failover and failback policy: when a region is declared bad, how fast we must act, how traffic returns.

Pure pydantic/stdlib (plus config.durations) so Temporal workflows can import it inside the sandbox.
Defaults follow Route 53 health checks (10 s interval, failure threshold 3, TTL <= 60 s, so DNS
failover takes about 10 s x 3 + 60 s = 90 s) and common operations runbooks (p99 > 500 ms for
2 minutes, errors > 5 % for 1 minute).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from config.base import CONFIG
from config.durations import Duration

__all__ = [
    "FailbackPolicy",
    "FailoverPolicy",
    "ProbeFailureTrigger",
    "ProbeMode",
    "SustainedTrigger",
    "TriggerMode",
]

TriggerMode = Literal["auto", "manual"]
ProbeMode = Literal["watch", "per_probe"]
"""auto = the monitor starts the failover itself; manual = it waits for `failover approve`."""


_MODE = "auto = fail over at once; manual = wait for `failover approve`."

Percent = Annotated[float, Field(gt=0, le=100)]


class ProbeFailureTrigger(BaseModel):
    """Fire after this many failed probes in a row (unreachable, or no healthy instance)."""

    model_config = CONFIG

    consecutive: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Failed probes in a row that declare the region down (1-10, Route 53's range).",
    )
    mode: TriggerMode = Field(default="auto", description=_MODE)


class SustainedTrigger(BaseModel):
    """Fire when a metric stays above a threshold for a whole window."""

    model_config = CONFIG

    threshold: float = Field(gt=0, description="The metric breaches when a sample is above this value.")
    sustained_for: Duration = Field(
        description="How long every sample must breach before the trigger fires (a good sample resets it)."
    )
    mode: TriggerMode = Field(default="auto", description=_MODE)


def _default_failback_steps() -> list[float]:
    return [10.0, 50.0, 100.0]


class FailbackPolicy(BaseModel):
    """How traffic returns to a recovered region: only after sustained health, in gated steps."""

    model_config = CONFIG

    healthy_for: Duration = Field(
        default=300.0, description="The region must be healthy this long in a row before traffic returns."
    )
    steps: list[Percent] = Field(
        default_factory=_default_failback_steps,
        min_length=1,
        description="Percent of the region's original traffic back at each step; increasing, ends at 100.",
    )
    step_bake: Duration = Field(default=60.0, description="Wait at each step before its health gate.")
    samples: int = Field(default=3, ge=1, le=100, description="Health samples each step's gate needs.")

    @model_validator(mode="after")
    def _steps_increase(self) -> Self:
        for index in range(1, len(self.steps)):
            if self.steps[index] <= self.steps[index - 1]:
                raise ValueError(
                    f"steps[{index}]: {self.steps[index]:g} must be greater than the previous step "
                    f"{self.steps[index - 1]:g} (steps must increase)"
                )
        if self.steps[-1] != 100:
            raise ValueError(
                f"steps[{len(self.steps) - 1}]: the last step must be 100 (all traffic back),"
                f" got {self.steps[-1]:g}"
            )
        return self


def _default_latency() -> SustainedTrigger:
    return SustainedTrigger(threshold=500.0, sustained_for=120.0)


def _default_error_rate() -> SustainedTrigger:
    return SustainedTrigger(threshold=0.05, sustained_for=60.0)


class FailoverPolicy(BaseModel):
    """When the monitor declares a region bad, how fast a failover must be, and how failback proceeds."""

    model_config = CONFIG

    probe_interval: Duration = Field(
        default=10.0, gt=0, description="Seconds between the monitor's probes of every region (> 0)."
    )
    probe_failures: ProbeFailureTrigger = Field(
        default_factory=ProbeFailureTrigger, description="Failed probes in a row that trigger a failover."
    )
    latency: SustainedTrigger = Field(
        default_factory=_default_latency,
        description="p99 latency in milliseconds above threshold for sustained_for triggers a failover.",
    )
    error_rate: SustainedTrigger = Field(
        default_factory=_default_error_rate,
        description="Share of failed requests (0-1] above threshold for sustained_for triggers a failover.",
    )
    max_concurrent: int = Field(
        default=1, ge=1, le=100, description="Failovers of one service running at once (safety rule)."
    )
    rpo_target: Duration = Field(
        default=300.0, description="Highest replica lag allowed on the failover target (recovery point)."
    )
    dns_ttl: Duration = Field(
        default=60.0, description="TTL of the traffic records: clients may keep the old answer this long."
    )
    detect_target: Duration = Field(
        default=30.0, gt=0, description="Target time from the first bad sample to the trigger firing."
    )
    decide_target: Duration = Field(
        default=10.0, gt=0, description="Target time from the trigger to the chosen failover target."
    )
    total_target: Duration = Field(
        default=60.0,
        gt=0,
        description="Target time from the first bad sample to a validated failover (reports add dns_ttl).",
    )
    validate_samples: int = Field(
        default=3, ge=1, le=100, description="Health samples of the target under its new load."
    )
    history_bound: int = Field(
        default=2000,
        ge=100,
        le=10000,
        description="The monitor continues as new before its history passes this many events"
        " (Temporal warns at 10,240).",
    )
    probe_mode: ProbeMode = Field(
        default="watch",
        description="watch = one long heartbeating probe activity per task queue (cheap in Temporal"
        " actions); per_probe = one activity per region per probe round and a timer per round.",
    )
    watch_heartbeat: Duration = Field(
        default=60.0,
        gt=0,
        description="Heartbeat timeout of the watch: a crashed worker's watch resumes elsewhere after"
        " this long; its heartbeats reach Temporal every 80 % of it (at most every 60 s).",
    )
    watch_window: Duration = Field(
        default=3600.0,
        gt=0,
        description="The watch activity ends after this long (a new one starts), trigger or not.",
    )
    failback: FailbackPolicy = Field(
        default_factory=FailbackPolicy, description="How traffic returns to a recovered region."
    )

    @model_validator(mode="after")
    def _error_rate_is_a_share(self) -> Self:
        if self.error_rate.threshold > 1:
            raise ValueError(
                f"error_rate.threshold: {self.error_rate.threshold:g} must be <= 1"
                " (a share of requests, 0.05 = 5 %)"
            )
        return self
