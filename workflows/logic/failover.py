"""Pure failover decisions: target choice, safety rules, traffic weights, triggers and timings.

No I/O and no clock: every function is deterministic in its arguments, so workflows can call it
directly and replays give the same answers. Imports are the stdlib, config and contracts only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # Trigger folding is shared with the watch activity, so it lives below workflows (layer rule).
    from config.failover import FailoverPolicy
    from config.models import Provider
    from contracts.failover import (
        Candidate,
        ProbeResult,
        Rejection,
        TargetChoice,
    )
    from contracts.triggers import evaluate

__all__ = [
    "against_targets",
    "choose_target",
    "evaluate",
    "failback_weights",
    "healthy_probe",
    "measure",
    "reach_problem",
    "record_ttl",
    "safe_to_shift",
    "shifted_weights",
    "visible_after",
]

_DIGITS = 9
"""Weights are rounded to this many decimals; the remainder goes to one region so the sum is kept."""


# ----------------------------------------------------------------------------- target choice


def healthy_probe(probe: ProbeResult, max_error_rate: float) -> bool:
    """Reachable, not blind, and an error rate known and at most `max_error_rate` (fail closed)."""
    return (
        probe.ok and not probe.blind and probe.error_rate is not None and probe.error_rate <= max_error_rate
    )


def needed_instances(candidate: Candidate, moved_traffic: float) -> int:
    """Instances `candidate` needs to serve its own traffic plus `moved_traffic` at today's density."""
    if candidate.traffic <= 0:
        return candidate.instances
    scaled = candidate.instances * (candidate.traffic + moved_traffic) / candidate.traffic
    return math.ceil(round(scaled, _DIGITS))  # 8.000000001 from float noise still needs 8


def reach_problem(
    failed: str,
    failed_provider: Provider,
    target_provider: Provider,
    *,
    target: str = "",
    layer: str | None = None,
    layer_regions: Collection[str] = (),
) -> str | None:
    """Why traffic of region `failed` (on `failed_provider`) cannot move to `target` on `target_provider`.

    Without a global traffic layer, traffic moves through the failed region's provider (Route 53
    records, a GCP backend service, the sim), and each provider's traffic manager only knows its own
    regions. With one (`layer`: route53, cloud_dns or sim), every provider is reachable, but only
    through a record: a region without a weighted record in the layer (not in `layer_regions`)
    cannot be given traffic.
    """
    if layer is not None:
        if target not in layer_regions:
            return f"no weighted record in the {layer} traffic layer: its traffic cannot be moved there"
        return None
    if target_provider != failed_provider:
        return (
            f"on {target_provider}: traffic of {failed} ({failed_provider}) can only move within"
            f" {failed_provider} (no global traffic layer)"
        )
    return None


def _rejection(
    failed: Candidate,
    candidate: Candidate,
    *,
    residency: bool,
    group_of: Callable[[str], str],
    moved_traffic: float,
    rpo_target_s: float | None,
    require_lag: bool = False,
    layer: str | None = None,
    layer_regions: Collection[str] = (),
) -> str | None:
    """The first rule `candidate` breaks as a target for `failed`'s traffic, or None."""
    if candidate.blind:
        return "blind: no metrics arrived to judge it by"
    if not candidate.healthy:
        return "unhealthy"
    if residency:
        group = group_of(failed.jurisdiction)
        if group_of(candidate.jurisdiction) != group:
            return f"jurisdiction {candidate.jurisdiction} is outside group {group} (data residency)"
    unreachable = reach_problem(
        failed.region,
        failed.provider,
        candidate.provider,
        target=candidate.region,
        layer=layer,
        layer_regions=layer_regions,
    )
    if unreachable is not None:
        return unreachable
    lag = candidate.replica_lag_s
    if rpo_target_s is not None and lag is None and require_lag:
        return "replica lag unknown: an automatic failover needs it within the RPO target"
    if rpo_target_s is not None and lag is not None and lag > rpo_target_s:
        return f"replica lag {lag:g}s > RPO target {rpo_target_s:g}s"
    needed = needed_instances(candidate, moved_traffic)
    if needed > candidate.max_instances:
        return f"no capacity headroom: needs {needed} instances, limit {candidate.max_instances}"
    return None


def choose_target(
    failed: Candidate,
    candidates: Sequence[Candidate],
    *,
    residency: bool,
    group_of: Callable[[str], str],
    moved_traffic: float,
    rpo_target_s: float | None = None,
    preferred: str | None = None,
    require_lag: bool = False,
    layer: str | None = None,
    layer_regions: Collection[str] = (),
) -> TargetChoice:
    """The healthy, compliant region with headroom and the lowest latency (ties by name).

    Rules, in order (a rejected region is listed with the first it breaks): not blind (no metrics
    is never healthy); healthy; with `residency`, in the failed region's jurisdiction group; on a
    provider the failed region's traffic can move to (`reach_problem`: its own without a global
    `layer`; with one, any region that has a record in it, `layer_regions`); replica lag
    within `rpo_target_s` (unknown lag rejects it when `require_lag`, as an automatic failover
    asks); capacity for its traffic plus `moved_traffic`.
    The failed region itself is never a candidate. `preferred` (an operator's choice) must
    qualify itself: if it does not, the answer is no target rather than another region.
    """
    rejected: list[Rejection] = []
    qualified: list[tuple[Candidate, int]] = []
    considered: list[str] = []
    for candidate in candidates:
        if candidate.region == failed.region:
            continue
        considered.append(candidate.region)
        reason = _rejection(
            failed,
            candidate,
            residency=residency,
            group_of=group_of,
            moved_traffic=moved_traffic,
            rpo_target_s=rpo_target_s,
            require_lag=require_lag,
            layer=layer,
            layer_regions=layer_regions,
        )
        if reason is None:
            qualified.append((candidate, needed_instances(candidate, moved_traffic)))
        else:
            rejected.append(Rejection(region=candidate.region, reason=reason))

    if preferred is not None:
        match = next(((c, n) for c, n in qualified if c.region == preferred), None)
        if match is not None:
            return TargetChoice(
                target=preferred, needed_instances=match[1], rejected=rejected, considered=considered
            )
        if preferred == failed.region:
            rejected.append(Rejection(region=preferred, reason="is the failed region itself"))
        elif preferred not in considered:
            rejected.append(Rejection(region=preferred, reason="not a candidate region"))
        return TargetChoice(target=None, rejected=rejected, considered=considered)

    if not qualified:
        return TargetChoice(target=None, rejected=rejected, considered=considered)
    best, needed = min(qualified, key=lambda pair: (pair[0].latency_ms, pair[0].region))
    return TargetChoice(target=best.region, needed_instances=needed, rejected=rejected, considered=considered)


# ----------------------------------------------------------------------------- safety and weights


def safe_to_shift(
    weights: Mapping[str, float], healthy: Mapping[str, bool], failed: str, target: str
) -> str | None:
    """None when moving `failed`'s traffic to `target` is safe, else why not (an ARC-style assertion)."""
    if target == failed:
        return f"target {target} is the failed region itself"
    # A region missing from `healthy` is unhealthy. (Equivalent mutants, left counted as survivors:
    # a default of None, or none, is as falsy as False, here and below.)
    if not healthy.get(target, False):
        return f"target {target} is unhealthy"
    after = shifted_weights(weights, failed, target)
    if not any(share > 0 and healthy.get(region, False) for region, share in after.items()):
        return "after the shift no healthy region would serve traffic"
    return None


def _rebalanced(
    weights: Mapping[str, float], changes: Mapping[str, float], remainder_on: str
) -> dict[str, float]:
    """`weights` with `changes` applied, rounded, and the rounding remainder put on one region."""
    total = sum(weights.values())
    out = {region: round(share, _DIGITS) for region, share in {**weights, **changes}.items()}
    out[remainder_on] = total - sum(share for region, share in out.items() if region != remainder_on)
    return out


def shifted_weights(
    weights: Mapping[str, float], failed: str, target: str, share: float = 1.0
) -> dict[str, float]:
    """Move `share` (0-1) of `failed`'s weight to `target`; the sum of the weights is kept."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be within 0-1, got {share:g}")
    moved = weights.get(failed, 0.0) * share
    # (Equivalent mutants, left counted: _rebalanced replaces the target's value with the remainder of
    # the total, so changing how it is computed here, `- moved`, a default of 1.0, cannot show.)
    return _rebalanced(
        weights,
        {failed: weights.get(failed, 0.0) - moved, target: weights.get(target, 0.0) + moved},
        remainder_on=target,
    )


def failback_weights(
    current: Mapping[str, float], region: str, backup: str, original_share: float, percent: float
) -> dict[str, float]:
    """`region` gets `percent` % of `original_share`, taken from (or given back to) `backup`.

    Absolute, not cumulative: calling it for 10, 50, 100 leaves `region` at 10 %, 50 %, 100 % of
    its original share. The backup never goes below 0 (the region then gets what there is).
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be within 0-100, got {percent:g}")
    have, spare = current.get(region, 0.0), current.get(backup, 0.0)
    delta = min(original_share * percent / 100 - have, spare)
    # (Equivalent mutant, left counted: the backup's value is replaced by the remainder, so `+ delta`.)
    return _rebalanced(current, {region: have + delta, backup: spare - delta}, remainder_on=backup)


# ----------------------------------------------------------------------------- timings


def measure(
    first_bad_at: datetime,
    detected_at: datetime,
    decided_at: datetime,
    shifted_at: datetime,
    finished_at: datetime,
) -> dict[str, float]:
    """Seconds of each phase: detect (bad -> trigger), decide, shift, and total (bad -> validated)."""

    def span(start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    return {
        "detect_s": span(first_bad_at, detected_at),
        "decide_s": span(detected_at, decided_at),
        "shift_s": span(decided_at, shifted_at),
        "total_s": span(first_bad_at, finished_at),
    }


def record_ttl(policy: FailoverPolicy, layer_ttl: float | None) -> float:
    """How long clients may keep the old answer: the global layer's TTL when the topology has a layer
    (it is set on the records), else the policy's `dns_ttl` (the per-provider records')."""
    return float(layer_ttl) if layer_ttl is not None else policy.dns_ttl


def visible_after(timings: Mapping[str, float], ttl: float) -> dict[str, float]:
    """`timings` plus `ttl_s` and `visible_s`: seconds from the first bad sample until every client
    sees the shift (the shift done, then the record's TTL for the last cached answers to expire)."""
    shifted = timings["detect_s"] + timings["decide_s"] + timings["shift_s"]
    return {**timings, "ttl_s": ttl, "visible_s": shifted + ttl}


def against_targets(
    timings: Mapping[str, float], policy: FailoverPolicy, ttl: float | None = None
) -> dict[str, bool]:
    """Which timings met their target (keys as in `measure`); total may use the records' TTL on top
    (`ttl`, default the policy's dns_ttl; see `record_ttl`)."""
    limits = {
        "detect_s": policy.detect_target,
        "decide_s": policy.decide_target,
        "total_s": policy.total_target + (policy.dns_ttl if ttl is None else ttl),
    }
    return {key: timings[key] <= limit for key, limit in limits.items() if key in timings}
