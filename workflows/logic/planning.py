"""Pure rollout decisions (wave plan, batches, health verdicts, undo order) that tests call directly."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from temporalio import workflow

from workflows.logic.markdown import state, table

with workflow.unsafe.imports_passed_through():
    from config.models import HealthPolicy, RollbackPolicy, Topology, wave_rank
    from config.strategies import Strategy
    from contracts.cloud import HealthSample
    from contracts.rollout import (
        RegionOutcome,
        RolloutProgress,
        WavePlan,
    )


def plan_waves(topology: Topology) -> list[WavePlan]:
    """Order the waves validate → core → edge and split each into concurrent groups."""
    plans: list[WavePlan] = []
    for wave in topology.waves:
        if wave.name == "validate":
            names = [r.name for r in topology.regions]
            plans.append(WavePlan(name="validate", regions=names, groups=[names]))
            continue
        rest = [r for r in wave.regions if r != wave.pilot]
        groups: list[list[str]] = [[wave.pilot]] if wave.pilot else []
        groups += [rest[i : i + wave.concurrency] for i in range(0, len(rest), wave.concurrency)]
        plans.append(WavePlan(name=wave.name, regions=list(wave.regions), groups=groups, pilot=wave.pilot))
    if not any(p.name == "validate" for p in plans):
        names = [r.name for r in topology.regions]
        plans.insert(0, WavePlan(name="validate", regions=names, groups=[names]))
    return plans


def batch_targets(instances: int, batch_share: float) -> list[int]:
    """Cumulative instance counts on the new release after each batch (at least one per batch)."""
    if instances <= 0:
        return []
    step = max(1, math.floor(instances * batch_share + 1e-9))
    targets = list(range(step, instances, step))
    return [*targets, instances]


def judge_health(sample: HealthSample, policy: HealthPolicy) -> list[str]:
    """Reasons a health sample breaches the thresholds (evidence of harm); empty means no breach.

    A number the sample lacks breaches nothing here; `missing_data` says what is missing, and a
    sample with missing data is never healthy.
    """
    reasons: list[str] = []
    if sample.error_rate is not None and sample.error_rate > policy.max_error_rate:
        reasons.append(f"error rate {sample.error_rate:.2%} > {policy.max_error_rate:.2%}")
    if sample.latency_p99_ms is not None and sample.latency_p99_ms > policy.max_p99_latency_ms:
        reasons.append(f"p99 {sample.latency_p99_ms:.0f} ms > {policy.max_p99_latency_ms:.0f} ms")
    if sample.cpu is not None and sample.cpu > policy.max_cpu:
        reasons.append(f"cpu {sample.cpu:.0%} > {policy.max_cpu:.0%}")
    share = sample.healthy_instances / sample.instances if sample.instances else 0.0
    if share < policy.min_healthy_share:
        reasons.append(f"healthy {share:.0%} < {policy.min_healthy_share:.0%}")
    return reasons


def surge_instances(instances: int, strategy: Strategy, batch_share: float) -> int:
    """Instances a region's deploy adds at its peak: a full green or canary group beside the old one,
    or (rolling) one batch launched before the batch it replaces is removed."""
    if strategy in ("canary", "blue-green"):
        return instances
    targets = batch_targets(instances, batch_share)
    return targets[0] if targets else 0


def regions_to_compensate(
    touched: Sequence[str],
    policy: RollbackPolicy,
    current_wave_regions: Sequence[str],
) -> list[str]:
    """Regions the rollout must restore, in the order to restore them (reverse of change)."""
    if policy == "halt":
        return []
    if policy == "rollback_wave":
        wave = set(current_wave_regions)
        return [r for r in reversed(touched) if r in wave]
    return list(reversed(touched))


def most_common_release(releases: Sequence[str | None]) -> str | None:
    """The release most regions ran before the rollout (what `previous_release` reports)."""
    counted = Counter(r for r in releases if r)
    if not counted:
        return None
    # Equivalent mutants: most_common(n)[0] is the same entry for any n >= 1 and for None (all, in the
    # same order: by count, ties in first-seen order), so most_common(2) and most_common(None) cannot differ.
    return counted.most_common(1)[0][0]  # pragma: no mutate


def _row(outcome: RegionOutcome) -> list[str]:
    batches = f"{outcome.batches_done}/{outcome.batches_total}" if outcome.batches_total else ""
    release = outcome.release or ""
    return [outcome.region, outcome.wave, state(outcome.status), release, batches, outcome.detail]


def render_details(progress: RolloutProgress) -> str:
    """The Markdown shown as the workflow's current details in the Web UI: status words, a table
    with space between its columns, regions in topology order (by wave, file order inside one)."""
    head = [
        f"**{progress.service}** → `{progress.release}` · status **{progress.status}**"
        f" · phase {progress.phase}",
    ]
    if progress.paused:
        head.append("paused: `globalops rollout resume` to continue")
    if progress.waiting_for_approval:
        head.append(f"waiting for approval of wave **{progress.waiting_for_approval}**")
    if progress.held:
        held = ", ".join(progress.held)
        head.append(f"held, unreachable: {held} (`globalops rollout skip-region` to go on)")
    if progress.reason:
        head.append(f"reason: {progress.reason}")
    regions = sorted(progress.regions, key=lambda o: wave_rank(o.wave))
    rows = table(["Region", "Wave", "State", "Release", "Batches", "Detail"], [_row(o) for o in regions])
    return "\n\n".join(head) + "\n\n" + "\n".join(rows)
