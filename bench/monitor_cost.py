"""B6: what the health monitor costs in Temporal actions per monitored region-hour.

The monitor of a fresh 16-region service runs on the bench's dev server with the times of its policy
scaled down by the same factor (probe interval, watch heartbeat timeout), so an hour of 10 s probes
plays in 36 s at 0.1 s probes. The watch window is shorter than production's hour (pessimistic: more
watch restarts per hour), so that a run of a few hundred rounds sees it end.

Actions are counted twice: from the monitor's histories (activities
scheduled, timers, workflow starts including continue-as-new, signals, updates) plus the heartbeats
that reached the server, and from the server's own `action` metric (the count Temporal Cloud bills),
whose delta over the run also covers the heartbeats a history never shows. The SDK throttles
heartbeats to 80 % of the heartbeat timeout, which scales with the rest, so the count per round is
the count per round at 10 s.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.clouds.sim import SimCloud
from bench.configs import default_topology, failover_policies, one_service
from cli import launch
from contracts.failover import MonitorInput
from workflows.monitor import RegionHealthMonitorWorkflow

#: Production: 10 s probes and a 60 s heartbeat timeout (config/policies.yaml).
PROD_PROBE_S, PROD_HEARTBEAT_S = 10.0, 60.0
BILLED_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities scheduled",
    EventType.EVENT_TYPE_TIMER_STARTED: "timers",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow starts (incl. continue-as-new)",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
}
HEARTBEAT = "grpc_RecordActivityTaskHeartbeat"


@dataclass
class B6Run:
    mode: str
    regions: int
    rounds: int
    seconds: float
    history: Counter[str] = field(default_factory=Counter)
    metric: Counter[str] = field(default_factory=Counter)

    @property
    def per_region_hour_history(self) -> float:
        return self._per_region_hour(sum(self.history.values()) + self.metric.get(HEARTBEAT, 0))

    @property
    def per_region_hour_metric(self) -> float:
        return self._per_region_hour(sum(self.metric.values()))

    def _per_region_hour(self, actions: int) -> float:
        rounds_per_hour = 3600 / PROD_PROBE_S
        return actions / max(1, self.rounds) * rounds_per_hour / self.regions


@dataclass
class B6Result:
    scale: float
    probe_s: float
    runs: list[B6Run] = field(default_factory=list)


def _actions(metrics_url: str) -> Counter[str]:
    """The dev server's `action` counter of the default namespace, by action type."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()  # noqa: S310 - our own server
    found: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("action{") and 'namespace="default"' in line:
            kind = re.search(r'action_type="([^"]+)"', line)
            found[kind.group(1) if kind else "?"] += int(float(line.rsplit(" ", 1)[1]))
    return found


async def b6(
    client: Client,
    metrics_url: str,
    sim: SimCloud,
    queue: str,
    rounds: int,
    probe_s: float,
    mode: str,
    window_rounds: int,
) -> B6Run:
    """One monitor of a fresh service for about `rounds` probe rounds at `probe_s` (times scaled); its
    watch window is `window_rounds` probe intervals (production: 360, one hour at 10 s)."""
    scale = probe_s / PROD_PROBE_S
    service = f"b6-{uuid.uuid4().hex[:6]}"
    topology = one_service(default_topology(queue), service)
    sim.seed_topology(topology)
    policies = failover_policies(probe_s)
    policies = policies.model_copy(
        update={
            "failover": policies.failover.model_copy(
                update={
                    "probe_mode": mode,
                    "watch_heartbeat": PROD_HEARTBEAT_S * scale,
                    "watch_window": window_rounds * probe_s,
                }
            )
        }
    )
    before = _actions(metrics_url)
    started = time.monotonic()
    handle = await launch.start(
        client, launch.monitor(MonitorInput(service=service, topology=topology, policies=policies))
    )
    await asyncio.sleep(rounds * probe_s)
    watched = await _heartbeated_rounds(handle.id, client)
    await handle.execute_update(RegionHealthMonitorWorkflow.stop)
    final = await handle.result()
    seconds = time.monotonic() - started
    await asyncio.sleep(0.5)  # the abandoned watch's last heartbeat, if any, lands in the metric
    after = _actions(metrics_url)
    run = B6Run(mode=mode, regions=len(topology.regions), rounds=0, seconds=seconds)
    # Rounds: the monitor counts those folded in; the running watch's since its last return are in its
    # heartbeat details (at most one heartbeat interval old), and are lost with the stop.
    run.rounds = max(final.probes, watched)
    run.metric = after - before
    run_id: str | None = handle.first_execution_run_id
    seen: set[str] = set()
    while run_id and run_id not in seen:
        seen.add(run_id)
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        next_run = None
        for event in history.events:
            name = BILLED_EVENTS.get(event.event_type)
            if name:
                run.history[name] += 1
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                next_run = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        run_id = next_run
    return run


async def _heartbeated_rounds(workflow_id: str, client: Client) -> int:
    """The probe count in the running watch's last heartbeat (0: no watch running, or none yet)."""
    desc = await client.get_workflow_handle(workflow_id).describe()
    counts = [0]
    for pending in desc.raw_description.pending_activities:
        for payload in pending.heartbeat_details.payloads:
            counts.append(int(json.loads(payload.data).get("probes", 0)))
    return max(counts)
