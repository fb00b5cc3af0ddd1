"""A region child carries only the deploy part of the policies, and still reads what older rollouts sent."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from config.loader import load_policies, load_topology
from config.models import DeployPolicies, Policies
from config.paths import DEFAULTS_DIR
from contracts.rollout import RegionDeployInput

HISTORIES = Path(__file__).parents[1] / "histories"
NOT_DEPLOY = {
    "bake",
    "pilot_bake",
    "rollback_policy",
    "failover",
    "dr",
    "readiness",
    "practice",
    "unavailable_region",
    "unavailable_recheck",
    "change_windows",
}


def _child_input(policies: Policies | DeployPolicies) -> RegionDeployInput:
    topology = load_topology()
    return RegionDeployInput(
        service="checkout",
        release="v2",
        region=topology.region("us-east-1"),
        task_queue="globalops",
        wave="core",
        policies=policies,
        key_prefix="rollout:checkout/r1",
    )


def _wire(inp: RegionDeployInput) -> dict[str, object]:
    (payload,) = pydantic_data_converter.payload_converter.to_payloads([inp])
    data: dict[str, object] = json.loads(payload.data)
    return data


def test_for_deploy_keeps_every_deploy_field_and_nothing_else() -> None:
    policies = load_policies(DEFAULTS_DIR / "policies.demo.yaml")
    deploy = policies.for_deploy()
    assert type(deploy) is DeployPolicies
    assert set(DeployPolicies.model_fields) == set(Policies.model_fields) - NOT_DEPLOY
    for name in DeployPolicies.model_fields:
        assert getattr(deploy, name) == getattr(policies, name), name


def test_child_input_on_the_wire_has_no_rollout_failover_or_dr_sections() -> None:
    policies = load_policies(DEFAULTS_DIR / "policies.demo.yaml")
    whole = len(policies.model_dump_json())
    wire = _wire(_child_input(policies.for_deploy()))
    sent = wire["policies"]
    assert isinstance(sent, dict)
    assert set(sent) == set(DeployPolicies.model_fields)
    assert not NOT_DEPLOY & set(sent)
    assert len(json.dumps(sent)) < whole * 0.6, "the deploy part is well under the whole policies"


def test_whole_policies_given_to_a_child_input_still_go_out_as_the_deploy_part() -> None:
    policies = load_policies(DEFAULTS_DIR / "policies.demo.yaml")
    sent = _wire(_child_input(policies))["policies"]
    assert isinstance(sent, dict)
    assert set(sent) == set(DeployPolicies.model_fields)


def test_a_recorded_child_input_with_the_whole_policies_still_decodes() -> None:
    history = json.loads((HISTORIES / "blue_green_ok-01-RegionDeploymentWorkflow.json").read_text())
    recorded = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    raw = json.loads(base64.b64decode(recorded["data"]))
    assert {"failover", "dr", "bake"} <= set(raw["policies"]), "the recording carries the whole policies"
    payload = Payload(
        metadata={k: base64.b64decode(v) for k, v in recorded["metadata"].items()},
        data=base64.b64decode(recorded["data"]),
    )
    (inp,) = pydantic_data_converter.payload_converter.from_payloads([payload], [RegionDeployInput])
    assert isinstance(inp, RegionDeployInput)
    for section in ("health", "blue_green", "rolling"):
        decoded = getattr(inp.policies, section).model_dump(mode="json")
        assert {k: decoded[k] for k in raw["policies"][section]} == raw["policies"][section], section
    assert inp.policies.region_bake == raw["policies"]["region_bake"]
