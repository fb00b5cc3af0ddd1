"""botocore hooks that make moto report the states real AWS goes through before an end state.

moto finishes snapshots, copies, Route 53 changes and target registrations at once. These
`after-call` hooks rewrite what the adapter's client parses, as AWS would answer while the work is
still going on: a snapshot `pending` for its first `n` sightings, a change `PENDING` for its first
`n` reads, a target `initial` for the first `n` health reads. Each hook records what it answered,
so a test can count the adapter's polls and see what it did in between.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from activities.clouds.aws_clients import EventHook


class PendingSnapshots:
    """Each snapshot answers `pending` to its first `n` DescribeSnapshots (or `error`, if told)."""

    def __init__(self, n: int, final: str | None = None) -> None:
        """`final`: the state to answer once the pending ones are used up (None: moto's own)."""
        self.n = n
        self.final = final
        self.seen: Counter[str] = Counter()

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        for snap in parsed.get("Snapshots", []):
            sid = str(snap["SnapshotId"])
            self.seen[sid] += 1
            if self.seen[sid] <= self.n:
                snap["State"], snap["Progress"] = "pending", f"{100 * self.seen[sid] // (self.n + 1)}%"
            elif self.final is not None:
                snap["State"], snap["StateMessage"] = self.final, "injected: the volume went away"

    def hooks(self) -> list[EventHook]:
        return [("after-call.ec2.DescribeSnapshots", self)]


class PendingChanges:
    """Route 53 changes answer PENDING when sent and to their first `n` GetChange reads."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sent: list[str] = []
        self.reads: Counter[str] = Counter()

    def changed(self, parsed: dict[str, Any], **_: Any) -> None:
        if "ChangeInfo" in parsed:
            parsed["ChangeInfo"]["Status"] = "PENDING"
            self.sent.append(_change_id(parsed))

    def read(self, parsed: dict[str, Any], **_: Any) -> None:
        if "ChangeInfo" in parsed:
            cid = _change_id(parsed)
            self.reads[cid] += 1
            if self.reads[cid] <= self.n:
                parsed["ChangeInfo"]["Status"] = "PENDING"

    def hooks(self) -> list[EventHook]:
        return [
            ("after-call.route-53.ChangeResourceRecordSets", self.changed),
            ("after-call.route-53.GetChange", self.read),
        ]


class InitialTargets:
    """New targets answer `initial` (registration in progress) to their first `n` health reads.

    It also records the order of health reads and instance terminations (`log`), so a test can see
    that no old instance went before the new ones were healthy.
    """

    def __init__(self, n: int, serving: set[str] | None = None) -> None:
        """`serving`: instances that were healthy before (they answer as moto says)."""
        self.n = n
        self.serving = serving or set()
        self.reads: Counter[str] = Counter()
        self.log: list[str] = []

    def health(self, parsed: dict[str, Any], **_: Any) -> None:
        for desc in parsed.get("TargetHealthDescriptions", []):
            tid = str(desc["Target"]["Id"])
            if tid in self.serving:
                continue
            self.reads[tid] += 1
            if self.reads[tid] <= self.n:
                desc["TargetHealth"] = {"State": "initial", "Reason": "Elb.RegistrationInProgress"}
                self.log.append(f"initial {tid}")
            else:
                self.log.append(f"{desc['TargetHealth'].get('State')} {tid}")

    def terminate(self, params: dict[str, Any], **_: Any) -> None:
        self.log.append(f"terminate {params.get('InstanceId')}")

    def hooks(self) -> list[EventHook]:
        return [
            ("after-call.elastic-load-balancing-v2.DescribeTargetHealth", self.health),
            ("before-parameter-build.auto-scaling.TerminateInstanceInAutoScalingGroup", self.terminate),
        ]


def _change_id(parsed: dict[str, Any]) -> str:
    """A change's id without the `/change/` prefix (Route 53 answers it either way)."""
    return str(parsed["ChangeInfo"]["Id"]).split("/")[-1]
