"""The in-region strategies: rolling batches, canary steps with analysis, blue-green switch."""

from __future__ import annotations

import math

from workflows.logic.planning import batch_targets
from workflows.region_steps import RegionRun


async def run_rolling(run: RegionRun) -> bool:
    """Replace instances in batches with a health gate after each; bake; verify."""
    inp, out = run.inp, run.out
    targets = batch_targets(inp.region.instances, inp.policies.rolling.batch_size)
    out.batches_total = len(targets)
    for index, target in enumerate(targets, start=1):
        run.check_abort()
        await run.safe_point()
        step = f"batch {index}/{len(targets)}"
        await run.ensure_release(inp.release, target, f"batch-{index}", step)
        out.batches_done = index
        run.show(f"{step}: {target}/{inp.region.instances} on {inp.release}")
        if not await run.gate(step) or not await run.hook_gate("post_batch", f"batch-{index}"):
            return False
    out.release = inp.release
    return await _bake_and_verify(run)


async def run_canary(run: RegionRun) -> bool:
    """Canary group beside stable; raise its traffic step by step, analysing each step."""
    inp, out = run.inp, run.out
    policy = inp.policies.canary
    instances = inp.region.instances
    steps = policy.steps
    out.batches_total = len(steps)
    for index, step in enumerate(steps, start=1):
        if run.full_promote:
            break
        run.check_abort()
        await run.safe_point()
        label = f"step {index}/{len(steps)}"
        if step.pause is not None:
            await run.wait_for_promote(f"{label} pause", step.pause.duration)
            out.batches_done = index
            continue
        weight = float(step.set_weight or 0)
        count = min(instances, max(1, math.ceil(instances * weight / 100)))
        await run.scale("canary", inp.release, count, f"canary-{index}-scale")
        await run.weight(weight / 100, f"canary-{index}-weight")
        out.batches_done = index
        run.show(f"{label}: {weight:g}% of traffic on {count} canary instance(s)")
        await run.pause_for(policy.step_bake, f"bake at {weight:g}%")
        if run.full_promote:
            break
        verdict = await run.analyse_step(f"{label} {weight:g}%", weight)
        if verdict == "fail":
            run.show(f"analysis failed at {weight:g}%")
            return False
        if verdict in ("inconclusive", "no_data") and not await _decide_inconclusive(run, label, verdict):
            return False
        if not await run.hook_gate("post_batch", f"canary-{index}"):
            return False
    if run.full_promote:
        out.overrides.append("promote --full: remaining steps and analysis skipped by an operator")
    await run.scale("canary", inp.release, instances, "canary-full")
    await run.weight(1.0, "canary-full-weight")
    await run.promote_canary("canary-promote")
    out.release = inp.release
    return await _bake_and_verify(run)


async def run_blue_green(run: RegionRun) -> bool:
    """Green at full size beside blue; analyse; switch all traffic at once; analyse; remove blue."""
    inp, out = run.inp, run.out
    policy = inp.policies.blue_green
    out.batches_total = 4
    await run.scale("canary", inp.release, inp.region.instances, "green-up")
    out.batches_done = 1
    run.show(f"green: {inp.region.instances} × {inp.release} beside blue {run.previous}")
    if policy.pre_promotion_analysis and not run.full_promote:
        verdict = await run.analyse_step("pre-promotion", 0)
        if verdict == "fail":
            run.show("pre-promotion analysis failed: blue keeps serving")
            return False
        if verdict in ("inconclusive", "no_data") and not await _decide_inconclusive(
            run, "pre-promotion", verdict
        ):
            return False
    if not policy.auto_promotion and not run.full_promote:
        promoted = await run.wait_for_promote("switch to green", policy.auto_promotion_seconds)
        if not promoted:
            out.overrides.append(f"auto-promoted after {policy.auto_promotion_seconds:g}s without promote")
    run.check_abort()
    await run.safe_point()
    await run.weight(1.0, "switch")
    out.batches_done = 2
    run.show("switched: all traffic on green")
    if policy.post_promotion_analysis and not run.full_promote:
        verdict = await run.analyse_step("post-promotion", 100)
        if verdict != "pass":
            await run.weight(0.0, "switch-back")
            run.show(f"post-promotion analysis {verdict}: switched back to blue")
            return False
    if run.full_promote:
        out.overrides.append("promote --full: analysis skipped by an operator")
    out.batches_done = 3
    run.show(f"keeping blue for {policy.scale_down_delay:g}s (scale-down delay)")
    await run.pause_for(policy.scale_down_delay, "scale-down delay before removing blue")
    await run.promote_canary("blue-remove")
    out.batches_done = 4
    out.release = inp.release
    return await _bake_and_verify(run)


async def _decide_inconclusive(run: RegionRun, label: str, verdict: str = "inconclusive") -> bool:
    """Inconclusive (or no data): wait for a human up to the deadline, then do what the policy says.

    Missing data is never promoted by the deadline: nobody answering about a region that reports
    nothing fails it (fail closed); an inconclusive analysis follows `analysis.on_deadline`.
    """
    policy = run.inp.policies.analysis
    if verdict == "no_data":
        why = f"{label}: no metrics arrived from {run.region}"
        if await run.wait_for_promote(why, run.inp.policies.health.no_data_deadline):
            run.out.overrides.append(f"{label}: no metrics; promoted by an operator")
            return True
        run.show(f"{why}; nobody answered within {run.inp.policies.health.no_data_deadline:g}s")
        return False
    if await run.wait_for_promote(f"{label} inconclusive", policy.inconclusive_deadline):
        run.out.overrides.append(f"{label}: inconclusive analysis promoted by an operator")
        return True
    if policy.on_deadline == "promote":
        run.out.overrides.append(f"{label}: inconclusive, promoted at the deadline by policy")
        return True
    run.abort_reason = f"{label}: inconclusive and nobody answered within {policy.inconclusive_deadline:g}s"
    run.check_abort()
    return False


async def _bake_and_verify(run: RegionRun) -> bool:
    bake = run.inp.policies.region_bake
    run.out.status = "baking"
    run.show(f"baking {bake:g}s")
    await run.pause_for(bake, f"bake {run.region}")
    return await run.gate("verify")
