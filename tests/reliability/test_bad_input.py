"""Bad input never starts or changes anything: one table of malformed inputs, each refused with its reason.

Configuration files and CLI arguments go through the real `globalops` CLI: exit 2, exactly one
line on stderr naming the file/field/option and what is allowed, nothing on stdout, and no
connection to Temporal (TEMPORAL_ADDRESS points at a closed port and `connect` is recorded).
Update arguments go to real workflows on the time-skipping server: each is rejected with the
validator's reason (or, once the workflow has closed, the server's), and neither the workflow's
state nor the sim's inventory (ledger included) changes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

import cli.follow
from activities.clouds.sim import SimCloud
from cli.launch import start_rollout
from cli.main import app
from config.dr import FreezeWindow
from config.models import Approver, Policies, Topology
from config.paths import default_policies_path, default_topology_path
from config.strategies import CanaryStep
from contracts.approvals import SignedApproval, public_key_text, sign
from contracts.dr import DrillRequest
from contracts.failover import (
    FailoverRequest,
    MonitorInput,
)
from contracts.rollout import (
    RegionDeployInput,
    RolloutRequest,
)
from tests.helpers.ports import free_port
from tests.helpers.temporal import make_worker, unique_queue
from workers.client import register_search_attributes
from workflows.drill import DrillWorkflow
from workflows.failover import RegionFailoverWorkflow
from workflows.monitor import RegionHealthMonitorWorkflow
from workflows.region_deployment import RegionDeploymentWorkflow
from workflows.rollout import RegionalRolloutWorkflow

runner = CliRunner()
Mutation = Callable[[dict[str, Any]], None]
Kind = Literal["topology", "policies", "cli", "update"]


# ----- mutations of the shipped YAML files ---------------------------------------------------------


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path ("regions.0.backup_region") to `value`."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _wave_gets(wave: str, region: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        next(w for w in data["waves"] if w["name"] == wave)["regions"].append(region)

    return mutate


def _duplicate_region(data: dict[str, Any]) -> None:
    data["regions"].append(dict(data["regions"][0]))


def _drop_core_wave(data: dict[str, Any]) -> None:
    data["waves"] = [w for w in data["waves"] if w["name"] != "core"]


def _all(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


WEST_KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# ----- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One malformed input and the fragments its refusal must contain."""

    id: str
    kind: Kind
    needles: tuple[str, ...]
    file: Mutation | str | None = None  # topology/policies: a mutation of the shipped YAML, or raw text
    args: tuple[str, ...] = ()  # cli: the argv; topology/policies: the command the file is given to
    scenario: str = ""  # update: which live workflow receives it
    update: str = ""
    arg: Any = None
    bug: str = ""  # a known product defect: the row is expected to fail (strictly) until it is fixed


ROLLOUT = ("rollout", "start", "--service", "checkout", "--release", "2.0.0")
FAILOVER = ("failover", "start", "--service", "checkout", "--from", "eu-west-1")
DRILL = ("drill", "run", "--service", "checkout", "--region", "eu-west-1")
DRILL_SCHEDULE = ("drill", "schedule", "create", "--service", "checkout")
PRACTICE = ("practice", "run", "--service", "checkout", "--region", "eu-west-1")
PRACTICE_SCHEDULE = ("practice", "schedule", "create", "--service", "checkout")
BACKUP = ("backup", "run", "--service", "checkout")
RECOVER = ("dr", "recover", "--service", "checkout", "--source-region", "eu-west-1")
RECOVER_EU = (*RECOVER, "--target-region", "eu-central-1")
FREEZE_NAIVE = [{"start": "2026-12-20T00:00:00", "end": "2027-01-03T00:00:00Z"}]
FREEZE_BACKWARDS = [{"start": "2026-12-20T00:00:00Z", "end": "2026-12-01T00:00:00Z", "reason": "x"}]

BOB_KEY = Ed25519PrivateKey.generate()
FORGED = sign(  # bob's name, signed with another key
    Ed25519PrivateKey.generate(),
    SignedApproval(approver="bob", workflow_id="rollout:checkout", step="core", nonce="n",
                   signed_at=datetime(2026, 12, 2, tzinfo=UTC)),
).model_dump(mode="json")  # fmt: skip

# A closed workflow takes no update: the server refuses it before any validator could run. The dev
# server says "workflow execution already completed"; the time-skipping test server "update ... not found".
CLOSED = ("<closed>",)

TABLE: list[Row] = [
    # --- topology files ----------------------------------------------------------------------
    Row("topo-yaml-syntax", "topology", ("line ", "column ", "YAML syntax error"),
        file="services:\n  - name: checkout\n    initial_release: [1.0.0\nregions: []\n", args=ROLLOUT),
    Row("topo-empty-file", "topology", ("(top level)", "empty file"), file="", args=FAILOVER),
    Row("topo-a-list", "topology", ("(top level)", "expected a mapping"), file="- a\n- b\n", args=DRILL),
    Row("topo-unknown-field", "topology", ("regions[3].instance", "unknown field 'instance'", "'instances'"),
        file=_set("regions.3.instance", 4), args=ROLLOUT),
    Row("topo-aws-key-of-another-region", "topology",
        ("regions[0].backup_key", "the KMS key is in us-west-2", "only with a key of us-east-1"),
        file=_all(_set("regions.0.provider", "aws"), _set("regions.0.backup_key", WEST_KEY)), args=BACKUP),
    Row("topo-aws-key-an-alias", "topology",
        ("regions[0].backup_key", "'alias/backups' is not a KMS key ARN"),
        file=_all(_set("regions.0.provider", "aws"), _set("regions.0.backup_key", "alias/backups")),
        args=ROLLOUT),
    Row("topo-aws-region-without-key", "topology",
        ("regions[0].backup_key", "us-east-1 has no backup key", "require_encryption"),
        file=_set("regions.0.provider", "aws"), args=(*BACKUP, "--region", "us-east-1")),
    Row("topo-backup-not-a-region", "topology",
        ("regions[0].backup_region", "'mars-central-1' is not a region of this topology"),
        file=_set("regions.0.backup_region", "mars-central-1"), args=BACKUP),
    Row("topo-wave-unknown-region", "topology", ("waves[2].regions", "'mars-central-1' is not a region"),
        file=_wave_gets("edge", "mars-central-1"), args=ROLLOUT),
    Row("topo-region-in-two-waves", "topology", ("waves[2].regions", "already in wave 'core'"),
        file=_wave_gets("edge", "us-east-1"), args=FAILOVER),
    Row("topo-no-core-wave", "topology", ("waves",), file=_drop_core_wave, args=ROLLOUT),
    Row("topo-duplicate-region", "topology", ("regions[", "duplicate", "'us-east-1'"),
        file=_duplicate_region, args=ROLLOUT),
    Row("topo-zero-instances", "topology", ("regions[0].instances", "0"),
        file=_set("regions.0.instances", 0), args=ROLLOUT),
    Row("topo-unknown-cloud", "topology", ("regions[0].cloud", "'azure'"),
        file=_set("regions.0.cloud", "azure"), args=DRILL),
    Row("topo-unknown-wave-name", "topology", ("waves[2].name", "'edges'"),
        file=_set("waves.2.name", "edges"), args=ROLLOUT),
    # --- policies files ----------------------------------------------------------------------
    Row("topo-unknown-time-zone", "topology",
        ("regions[2].time_zone", "unknown time zone 'Europe/Atlantis'", "IANA"),
        file=_set("regions.2.time_zone", "Europe/Atlantis"), args=ROLLOUT),
    Row("pol-window-from-after-to", "policies",
        ("change_windows[0]", "to: '16:00' must be after from '18:00'"),
        file=_set("change_windows", [{"days": ["fri"], "from": "18:00", "to": "16:00"}]), args=ROLLOUT),
    Row("pol-window-bad-day", "policies", ("change_windows[0].days", "'friday'"),
        file=_set("change_windows", [{"days": ["friday"], "from": "16:00", "to": "24:00"}]), args=ROLLOUT),
    Row("cli-freeze-until-past", "cli", ("--until", "is in the past", "before it starts"),
        args=("freeze", "start", "--reason", "x", "--until", "2020-01-01T00:00:00Z")),
    Row("cli-freeze-until-not-a-time", "cli", ("--until", "'soonish'", "neither a duration"),
        args=("freeze", "start", "--reason", "x", "--until", "soonish")),
    Row("cli-freeze-unknown-region", "cli", ("--region", "'mars-central-1'", "not a region"),
        args=("freeze", "start", "--reason", "x", "--region", "mars-central-1")),
    Row("pol-duration-fast", "policies", ("pilot_bake", "'fast' is not a duration"),
        file=_set("pilot_bake", "fast"), args=ROLLOUT),
    Row("pol-unknown-field", "policies", ("health.max_latency_ms", "unknown field", "max_p99_latency_ms"),
        file=_set("health.max_latency_ms", 100), args=ROLLOUT),
    Row("pol-error-rate-above-one", "policies", ("health.max_error_rate", "1.5"),
        file=_set("health.max_error_rate", 1.5), args=FAILOVER),
    Row("pol-practice-cron-4-fields", "policies", ("practice.cron", "not a cron expression", "5 fields"),
        file=_set("practice.cron", "0 10 * *"), args=PRACTICE_SCHEDULE),
    Row("pol-practice-time-zone", "policies", ("practice.time_zone", "unknown time zone 'Mars/Olympus'"),
        file=_set("practice.time_zone", "Mars/Olympus"), args=PRACTICE),
    Row("pol-practice-duration-0", "policies", ("practice.duration", "greater than 0"),
        file=_set("practice.duration", 0), args=PRACTICE),
    Row("pol-cron-4-fields", "policies", ("dr.drill.cron", "not a cron expression", "5 fields"),
        file=_set("dr.drill.cron", "0 9 * *"), args=DRILL_SCHEDULE),
    Row("pol-negative-retention", "policies", ("dr.backup.retention", ">= 0"),
        file=_set("dr.backup.retention", "-1d"), args=BACKUP),
    Row("pol-freeze-end-before-start", "policies",
        ("dr.drill.freeze_windows[0]", "end", "must be after start"),
        file=_set("dr.drill.freeze_windows", FREEZE_BACKWARDS), args=DRILL),
    Row("pol-freeze-without-timezone", "policies", ("dr.drill.freeze_windows[0].start", "timezone"),
        file=_set("dr.drill.freeze_windows", FREEZE_NAIVE), args=DRILL),
    Row("pol-rto-fast", "policies", ("dr.rto_target", "'fast' is not a duration"),
        file=_set("dr.rto_target", "fast"), args=RECOVER_EU),
    Row("pol-unknown-rollback-policy", "policies", ("rollback_policy", "'rollback_some'"),
        file=_set("rollback_policy", "rollback_some"), args=ROLLOUT),
    Row("pol-canary-weights-decrease", "policies", ("canary.steps[1].set_weight", "previous weight 25"),
        file=_set("canary.steps", [{"set_weight": 25}, {"set_weight": 5}]), args=ROLLOUT),
    Row("pol-trigger-mode-unknown", "policies", ("failover.probe_failures.mode", "'sometimes'"),
        file=_set("failover.probe_failures.mode", "sometimes"), args=FAILOVER),
    Row("pol-history-bound-tiny", "policies", ("failover.history_bound", "greater than or equal to 100"),
        file=_set("failover.history_bound", 10), args=FAILOVER),
    Row("pol-history-bound-tiny-says-got", "policies", ("failover.history_bound", "got 10"),
        file=_set("failover.history_bound", 10), args=FAILOVER),
    Row("pol-backup-interval-zero", "policies", ("dr.backup.interval", "greater than 0"),
        file=_set("dr.backup.interval", 0), args=BACKUP),
    Row("pol-missing-file", "policies", ("(file)", "cannot read"), file=None, args=ROLLOUT),
    Row("pol-notify-url-does-not-parse", "policies",
        ("notifications[0].url", "not an Apprise URL", "unknown service 'slak'"),
        file=_set("notifications", [{"url": "slak://${SLACK_TOKEN}", "events": ["failed"]}]), args=ROLLOUT),
    Row("pol-notify-url-bad-shape", "policies", ("notifications[0].url", "does not parse as an Apprise URL"),
        file=_set("notifications", [{"url": "json://", "events": ["failed"]}]), args=FAILOVER),
    Row("pol-notify-unknown-event", "policies",
        ("notifications[0].events[1]", "unknown event 'finished'", "allowed events: started, succeeded"),
        file=_set("notifications", [{"url": "json://ops.example.com/x", "events": ["failed", "finished"]}]),
        args=ROLLOUT),
    Row("pol-notify-bad-variable", "policies", ("notifications[0].url", "${NAME} reference"),
        file=_set("notifications", [{"url": "json://ops.example.com/${9TOKEN}", "events": ["failed"]}]),
        args=DRILL),
    Row("pol-hook-without-url", "policies", ("hooks.pre_region[0].url", "Field required"),
        file=_set("hooks.pre_region", [{"timeout": "5s"}]), args=ROLLOUT),
    Row("pol-hook-not-http", "policies", ("hooks.post_batch[0].url", "http://host/"),
        file=_set("hooks.post_batch", [{"url": "ftp://gate.example.com/check"}]), args=ROLLOUT),
    Row("pol-hook-unknown-stage", "policies", ("hooks.pre_wave", "unknown field", "pre_rollout"),
        file=_set("hooks.pre_wave", [{"url": "https://gate.example.com/check"}]), args=ROLLOUT),
    Row("pol-alarm-prometheus-without-url", "policies",
        ("alarms.prometheus_url", "required when alarms.prometheus lists alerts", "analysis.prometheus_url"),
        file=_set("alarms", {"prometheus": ["CheckoutErrors"]}), args=ROLLOUT),
    Row("pol-alarm-listed-twice", "policies", ("alarms.cloudwatch", "alarm 'checkout-5xx' is listed twice"),
        file=_set("alarms", {"cloudwatch": ["checkout-5xx", "checkout-5xx"]}), args=ROLLOUT),
    Row("pol-alarm-bad-interval", "policies", ("alarms.interval", "'soon' is not a duration"),
        file=_set("alarms", {"sim": ["checkout-5xx"], "interval": "soon"}), args=ROLLOUT),
    Row("pol-approver-key-not-32-bytes", "policies",
        ("approvals.approvers[0].public_key", "an Ed25519 public key is 32 bytes, this is 5"),
        file=_set("approvals.approvers", [{"name": "bob", "public_key": "c2hvcnQ="}]), args=ROLLOUT),
    Row("pol-approver-key-not-base64", "policies", ("approvals.approvers[0].public_key", "not base64"),
        file=_set("approvals.approvers", [{"name": "bob", "public_key": "bob's key"}]), args=ROLLOUT),
    Row("pol-signature-without-approvers", "policies",
        ("approvals", "require_signature: needs at least one entry in approvals.approvers"),
        file=_set("approvals.require_signature", True), args=ROLLOUT),
    Row("pol-alarm-unknown-provider", "policies", ("alarms.datadog", "unknown field", "cloudwatch"),
        file=_set("alarms", {"datadog": ["checkout-5xx"]}), args=ROLLOUT),
    # --- CLI arguments -----------------------------------------------------------------------
    Row("cli-rollout-unknown-service", "cli", ("--service", "'payments'", "known: checkout"),
        args=("rollout", "start", "--service", "payments", "--release", "2.0.0")),
    Row("cli-rollout-unknown-strategy", "cli", ("--strategy", "'big-bang'", "rolling, canary, blue-green"),
        args=(*ROLLOUT, "--strategy", "big-bang")),
    Row("cli-rollout-bad-release", "cli", ("--release", "'2.0.0; rm -rf /'", "is not a release name"),
        args=("rollout", "start", "--service", "checkout", "--release", "2.0.0; rm -rf /")),
    Row("cli-failover-unknown-region", "cli",
        ("'mars-central-1'", "not a region of the topology", "known: us-east-1"),
        args=("failover", "start", "--service", "checkout", "--from", "mars-central-1")),
    Row("cli-failover-unknown-from-names-option", "cli", ("--from", "'mars-central-1'"),
        args=("failover", "start", "--service", "checkout", "--from", "mars-central-1")),
    Row("cli-failover-unknown-target", "cli", ("'moon-1'", "not a region of the topology"),
        args=(*FAILOVER, "--to", "moon-1")),
    Row("cli-monitor-unknown-service", "cli", ("--service", "'payments'"),
        args=("monitor", "start", "--service", "payments")),
    Row("cli-recover-rto-fast", "cli", ("--rto", "'fast' is not a duration", "30s, 10m, 1h"),
        args=(*RECOVER_EU, "--rto", "fast")),
    Row("cli-recover-rpo-zero", "cli", ("--rpo", "must be more than 0"), args=(*RECOVER_EU, "--rpo", "0s")),
    Row("cli-recover-failed-at-yesterday", "cli", ("--failed-at", "'yesterday'", "ISO 8601"),
        args=(*RECOVER_EU, "--failed-at", "yesterday")),
    Row("cli-recover-cross-jurisdiction", "cli", ("--target-region", "jurisdiction group US"),
        args=(*RECOVER, "--target-region", "us-east-1")),
    Row("cli-recover-unknown-source", "cli", ("--source-region", "'moon-1'"),
        args=("dr", "recover", "--service", "checkout", "--source-region", "moon-1",
              "--target-region", "eu-west-1")),
    Row("cli-drill-cron-not-cron", "cli", ("--cron", "'every monday' is not a cron expression", "5 fields"),
        args=(*DRILL_SCHEDULE, "--cron", "every monday")),
    Row("cli-drill-cron-4-fields", "cli", ("--cron", "'0 9 * *' is not a cron expression"),
        args=(*DRILL_SCHEDULE, "--cron", "0 9 * *")),
    Row("cli-drill-cron-bad-weekday", "cli", ("--cron", "day-of-week", "'FUNDAY'"),
        args=(*DRILL_SCHEDULE, "--cron", "0 9 * * FUNDAY")),
    Row("cli-drill-unknown-region", "cli", ("--region", "'mars-central-1'"),
        args=("drill", "run", "--service", "checkout", "--region", "mars-central-1")),
    Row("cli-drill-region-without-target", "cli", ("--region", "cannot be drilled", "jurisdiction group JP"),
        args=("drill", "run", "--service", "checkout", "--region", "ap-northeast-1")),
    Row("cli-backup-every-0s", "cli", ("--every", "'0s' must be more than 0"),
        args=("backup", "schedule", "create", "--service", "checkout", "--every", "0s")),
    Row("cli-readiness-unknown-service", "cli", ("--service", "'payments' is not a service", "checkout"),
        args=("readiness", "--service", "payments")),
    Row("cli-readiness-without-service", "cli", ("--service", "required"), args=("readiness",)),
    Row("cli-readiness-every-0s", "cli", ("--every", "'0s' must be more than 0"),
        args=("readiness", "schedule", "create", "--service", "checkout", "--every", "0s")),
    Row("pol-readiness-practice-age-soon", "policies",
        ("readiness.practice_max_age", "'soon' is not a duration"),
        file=_set("readiness.practice_max_age", "soon"), args=("readiness", "--service", "checkout")),
    Row("cli-backup-unknown-region", "cli", ("--region", "'mars-central-1'", "not a region"),
        args=(*BACKUP, "--region", "mars-central-1")),
    Row("cli-drill-catchup-soon", "cli", ("--catchup-window", "'soon' is not a duration"),
        args=(*DRILL_SCHEDULE, "--catchup-window", "soon")),
    Row("cli-practice-unknown-service", "cli", ("--service", "'shop'", "known: checkout"),
        args=("practice", "run", "--service", "shop", "--region", "eu-west-1")),
    Row("cli-practice-unknown-region", "cli", ("--region", "'mars-central-1'", "not a region"),
        args=("practice", "run", "--service", "checkout", "--region", "mars-central-1")),
    Row("cli-practice-duration-soon", "cli", ("--duration", "'soon' is not a duration"),
        args=(*PRACTICE, "--duration", "soon")),
    Row("cli-practice-duration-0s", "cli", ("--duration", "'0s' must be more than 0"),
        args=(*PRACTICE, "--duration", "0s")),
    Row("cli-practice-schedule-cron", "cli", ("--cron", "day-of-week", "'FUNDAY'"),
        args=(*PRACTICE_SCHEDULE, "--cron", "0 10 * * FUNDAY")),
    Row("cli-practice-schedule-time-zone", "cli", ("--time-zone", "unknown time zone 'Mars/Olympus'"),
        args=(*PRACTICE_SCHEDULE, "--time-zone", "Mars/Olympus")),
    Row("cli-practice-schedule-unknown-region", "cli", ("--region", "'mars-central-1'"),
        args=(*PRACTICE_SCHEDULE, "--region", "mars-central-1")),
    Row("cli-keys-bad-name", "cli", ("--name", "'bob smith' is not a name"),
        args=("keys", "create", "--name", "bob smith")),
    Row("cli-approve-missing-key", "cli", ("--key", "cannot read", "no-such.key"),
        args=("rollout", "approve", "checkout", "--by", "bob", "--key", "no-such.key")),
    Row("cli-worker-sticky-0", "cli", ("--sticky-timeout", "0 is out of range", "1-300 seconds"),
        args=("worker", "--sticky-timeout", "0")),
    # --- update arguments on live (or finished) workflows --------------------------------------
    Row("upd-approve-when-nothing-waits", "update", ("nothing is waiting for approval",),
        scenario="rollout-held", update="approve", arg="alice"),
    Row("upd-pause-when-paused", "update", ("the rollout is already paused",),
        scenario="rollout-held", update="pause"),
    Row("upd-resume-when-not-paused", "update", ("the rollout is not paused",),
        scenario="rollout-awaiting-approval", update="resume"),
    Row("upd-approve-empty-approver", "update", ("approver must not be empty",),
        scenario="rollout-awaiting-approval", update="approve", arg="  "),
    Row("upd-approve-by-the-starter", "update", ("four-eyes rule", "differ from the starter alice"),
        scenario="rollout-awaiting-approval", update="approve", arg="Alice"),
    Row("upd-approve-unsigned-when-signature-required", "update",
        ("this rollout requires a signed approval", "globalops rollout approve signs with your key"),
        scenario="rollout-awaiting-signed-approval", update="approve", arg="bob"),
    Row("upd-approve-signed-by-another-key", "update", ("the signature does not match bob's public key",),
        scenario="rollout-awaiting-signed-approval", update="approve_signed", arg=FORGED),
    Row("upd-abort-finished-rollout", "update", CLOSED, scenario="rollout-finished", update="abort",
        arg="too late"),
    Row("upd-approve-finished-rollout", "update", CLOSED, scenario="rollout-finished",
        update="approve", arg="alice"),
    Row("upd-promote-finished-deploy", "update", CLOSED, scenario="deploy-finished",
        update="promote", arg=False),
    Row("upd-promote-rolling-deploy", "update", ("deploys rolling: nothing to promote",),
        scenario="deploy-rolling", update="promote", arg=False),
    Row("upd-promote-canary-not-waiting", "update", ("is not waiting for promote", "--full"),
        scenario="deploy-canary-baking", update="promote", arg=False),
    Row("upd-approve-failover-no-trigger", "update", ("no failover of eu-west-1 is waiting for approval",),
        scenario="monitor", update="approve_failover", arg="eu-west-1"),
    Row("upd-approve-failover-unknown-region", "update", ("no failover of mars-central-1",),
        scenario="monitor", update="approve_failover", arg="mars-central-1"),
    Row("upd-abort-finished-failover", "update", CLOSED, scenario="failover-finished",
        update="abort", arg="too late"),
    Row("upd-abort-finished-drill", "update", CLOSED, scenario="drill-finished", update="abort",
        arg="too late"),
]  # fmt: skip

UPDATE_ROWS = [r for r in TABLE if r.kind == "update"]
CLI_ROWS = [r for r in TABLE if r.kind != "update"]


def test_the_table_has_at_least_40_distinct_rows_of_every_kind() -> None:
    assert len(TABLE) >= 40, len(TABLE)
    assert len({r.id for r in TABLE}) == len(TABLE)
    assert {r.kind for r in TABLE} == {"topology", "policies", "cli", "update"}


# ----- configuration files and CLI arguments -------------------------------------------------------


@pytest.fixture
def connect_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Isolate the CLI, point it at a closed port, and record any attempt to reach Temporal."""
    monkeypatch.setenv("GLOBALOPS_HOME", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    for var in ("GLOBALOPS_TOPOLOGY", "GLOBALOPS_POLICIES"):
        monkeypatch.delenv(var, raising=False)
    calls: list[str] = []

    async def fake_connect() -> Client:
        calls.append("connect")
        raise AssertionError("bad input must not reach Temporal")

    monkeypatch.setattr(cli.follow, "connect", fake_connect)
    return calls


def _write_file(row: Row, tmp_path: Path) -> Path:
    default = default_topology_path() if row.kind == "topology" else default_policies_path()
    target = tmp_path / f"bad-{row.kind}.yaml"
    if row.file is None:
        return tmp_path / "no-such-file.yaml"
    if isinstance(row.file, str):
        target.write_text(row.file, encoding="utf-8")
    else:
        data = yaml.safe_load(default.read_text(encoding="utf-8"))
        row.file(data)
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _params(rows: list[Row]) -> list[Any]:
    return [
        pytest.param(r, id=r.id, marks=[pytest.mark.xfail(strict=True, reason=r.bug)] if r.bug else [])
        for r in rows
    ]


@pytest.mark.parametrize("row", _params(CLI_ROWS))
def test_bad_file_or_argument_is_one_line_exit_2_and_starts_nothing(
    row: Row, tmp_path: Path, connect_calls: list[str]
) -> None:
    args = list(row.args)
    prefix = "error: "
    if row.kind != "cli":
        path = _write_file(row, tmp_path)
        args += [f"--{row.kind}", str(path)]
        prefix = f"error: {path}: "  # the line names the file first
    result = runner.invoke(app, args)

    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    for needle in row.needles:
        assert needle in lines[0], (needle, lines[0])
    assert connect_calls == []
    assert "cannot reach Temporal" not in result.stderr


# ----- update arguments --------------------------------------------------------------------------


Read = Callable[[], Awaitable[Any]]


@dataclass
class Live:
    """A workflow in the state a row needs, and how to read that state."""

    handle: WorkflowHandle[Any, Any]
    read: Read


@pytest.fixture(autouse=False)
async def _attributes(ts_env: WorkflowEnvironment) -> None:
    await register_search_attributes(ts_env.client)


async def _settled(read: Read) -> Any:
    """The state once two reads in a row agree (an activity in flight may still land)."""
    last = await read()
    for _ in range(100):
        await asyncio.sleep(0.2)
        now = await read()
        if now == last:
            return now
        last = now
    raise AssertionError("the workflow never settled")


async def _poll(env: WorkflowEnvironment, read: Read, done: Callable[[Any], bool], step: float) -> Any:
    for _ in range(2000):
        value = await read()
        if done(value):
            return value
        await env.sleep(step)
    raise AssertionError("never reached the expected state")


def _queued(topology: Topology, queue: str) -> Topology:
    return topology.model_copy(update={"default_task_queue": queue})


def _with_approvals(policies: Policies, **changes: Any) -> Policies:
    return policies.model_copy(update={"approvals": policies.approvals.model_copy(update=changes)})


async def _rollout(env: WorkflowEnvironment, topo: Topology, pols: Policies, **extra: Any) -> Live:
    req = RolloutRequest(
        service="checkout", release="2.0.0", request_id=uuid.uuid4().hex[:8], topology=topo, policies=pols,
        **extra,
    )  # fmt: skip
    handle = await start_rollout(env.client, req)
    return Live(handle, lambda: handle.query(RegionalRolloutWorkflow.progress))


async def _deploy(env: WorkflowEnvironment, topo: Topology, pols: Policies, strategy: str) -> Live:
    inp = RegionDeployInput(
        service="checkout",
        release="2.0.0",
        region=topo.region("us-east-1"),
        task_queue=topo.default_task_queue,
        wave=topo.wave_of("us-east-1"),
        policies=pols,
        key_prefix=f"deploy:bad-input/{uuid.uuid4().hex[:8]}",
        strategy=strategy,  # type: ignore[arg-type]
    )
    handle = await env.client.start_workflow(
        RegionDeploymentWorkflow.run,
        inp,
        id=f"deploy:{uuid.uuid4().hex[:8]}",
        task_queue=topo.default_task_queue,
    )
    for _ in range(100):  # until the deploy runs its strategy (it registers for freezes first)
        if await handle.query(RegionDeploymentWorkflow.progress) is not None:
            break
        await asyncio.sleep(0.1)
    return Live(handle, lambda: handle.query(RegionDeploymentWorkflow.progress))


async def _scenario(
    name: str, env: WorkflowEnvironment, sim: SimCloud, topology: Topology, policies: Policies, queue: str
) -> Live:
    topo = _queued(topology, queue)
    slow_gates = policies.model_copy(
        update={"health": policies.health.model_copy(update={"probe_interval": 3600.0})}
    )
    if name == "rollout-held":
        live = await _rollout(env, topo, policies)
        await live.handle.execute_update(RegionalRolloutWorkflow.pause)
        await _poll(env, live.read, lambda p: p.current_wave == "core", 60)
        return live
    if name == "rollout-awaiting-approval":
        pols = _with_approvals(policies, between_waves=True, four_eyes=True)
        live = await _rollout(env, topo, pols, requested_by="alice")
        await _poll(env, live.read, lambda p: p.waiting_for_approval == "core", 60)
        return live
    if name == "rollout-awaiting-signed-approval":
        bob = Approver(name="bob", public_key=public_key_text(BOB_KEY))
        pols = _with_approvals(policies, between_waves=True, require_signature=True, approvers=[bob])
        live = await _rollout(env, topo, pols, requested_by="alice")
        await _poll(env, live.read, lambda p: p.waiting_for_approval == "core", 60)
        return live
    if name == "rollout-finished":
        sim.inject_outage("sa-east-1")  # preflight fails: the rollout ends before changing anything
        live = await _rollout(env, topo, policies)
        assert (await live.handle.result()).status == "failed"
        return live
    if name == "deploy-finished":
        live = await _deploy(env, topo, policies, "rolling")
        assert (await live.handle.result()).status == "succeeded"
        return live
    if name == "deploy-rolling":
        return await _deploy(env, topo, slow_gates, "rolling")
    if name == "deploy-canary-baking":
        pols = slow_gates.model_copy(
            update={"canary": policies.canary.model_copy(update={"steps": [CanaryStep(set_weight=5),
                                                                             CanaryStep(set_weight=100)],
                                                                  "step_bake": 3600.0})}
        )  # fmt: skip
        live = await _deploy(env, topo, pols, "canary")
        for _ in range(100):  # until the canary takes its 5 % (then it bakes for an hour)
            if sim.region_state("checkout", "us-east-1").canary_weight > 0:
                break
            await asyncio.sleep(0.1)
        return live
    if name == "monitor":
        handle = await env.client.start_workflow(
            RegionHealthMonitorWorkflow.run,
            MonitorInput(service="checkout", topology=topo, policies=policies),
            id=f"monitor:bad-input-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )

        async def read() -> Any:  # what an approval would change; probe counters move on their own
            status = await handle.query(RegionHealthMonitorWorkflow.status)
            return (status.active, status.pending, status.done, status.firings)

        return Live(handle, read)
    if name == "failover-finished":
        sim.inject_outage("eu-west-1")
        req = FailoverRequest(
            service="checkout", from_region="eu-west-1", topology=topo, policies=policies,
            request_id=uuid.uuid4().hex[:8],
        )  # fmt: skip
        handle = await env.client.start_workflow(
            RegionFailoverWorkflow.run, req, id=f"failover:checkout:{uuid.uuid4().hex[:6]}", task_queue=queue
        )
        assert (await handle.result()).status == "succeeded"
        return Live(handle, lambda: handle.query(RegionFailoverWorkflow.report))
    if name == "drill-finished":
        now = await env.get_current_time()
        freeze = FreezeWindow(start=now - timedelta(days=1), end=now + timedelta(days=30), reason="peak")
        drill = policies.dr.drill.model_copy(update={"freeze_windows": [freeze]})
        dr = policies.dr.model_copy(update={"drill": drill})
        req = DrillRequest(
            service="checkout", topology=topo, policies=policies.model_copy(update={"dr": dr}),
            regions=["eu-west-1"], request_id=uuid.uuid4().hex,
        )  # fmt: skip
        handle = await env.client.start_workflow(
            DrillWorkflow.run, req, id=f"drill:checkout:{uuid.uuid4().hex[:6]}", task_queue=queue
        )
        assert (await handle.result()).status == "skipped"
        return Live(handle, lambda: handle.query(DrillWorkflow.report))
    raise AssertionError(f"unknown scenario {name}")


@asynccontextmanager
async def _worker(env: WorkflowEnvironment, sim: SimCloud, executor: concurrent.futures.Executor,
                  queue: str) -> AsyncIterator[None]:  # fmt: skip
    async with make_worker(env.client, sim, executor, queue):
        yield


async def _wind_down(live: Live, scenario: str) -> None:
    """Leave nothing running (an open timer or activity would stall the next test's time skipping)."""
    if scenario == "monitor":
        await live.handle.execute_update(RegionHealthMonitorWorkflow.stop)
    elif scenario.startswith("rollout-") and scenario != "rollout-finished":
        await live.handle.execute_update(RegionalRolloutWorkflow.abort, "test over")
    elif scenario in ("deploy-rolling", "deploy-canary-baking"):
        await live.handle.execute_update(RegionDeploymentWorkflow.abort, "test over")
    await live.handle.result()


@pytest.mark.usefixtures("_attributes")
@pytest.mark.parametrize("row", _params(UPDATE_ROWS))
async def test_bad_update_is_rejected_with_its_reason_and_changes_nothing(
    row: Row,
    ts_env: WorkflowEnvironment,
    sim: SimCloud,
    executor: concurrent.futures.Executor,
    topology: Topology,
    policies: Policies,
) -> None:
    queue = unique_queue()
    async with _worker(ts_env, sim, executor, queue):
        live = await _scenario(row.scenario, ts_env, sim, topology, policies, queue)
        try:
            before = await _settled(live.read)
            inventory = sim.inventory()
            args = [] if row.arg is None else [row.arg]
            with pytest.raises((WorkflowUpdateFailedError, RPCError)) as info:
                await live.handle.execute_update(row.update, args=args)
            err = info.value
            reason = str(err.cause) if isinstance(err, WorkflowUpdateFailedError) else err.message
            if row.needles == CLOSED:
                assert isinstance(err, RPCError), err
                assert "completed" in reason or "not found" in reason, reason
            for needle in () if row.needles == CLOSED else row.needles:
                assert needle in reason, (needle, reason)
            assert await _settled(live.read) == before  # the workflow's state is unchanged
            assert sim.inventory() == inventory  # and nothing was touched in the cloud (ledger included)
        finally:
            await _wind_down(live, row.scenario)
