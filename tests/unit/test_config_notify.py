"""Notification and hook configuration: ${NAME} templates, Apprise URLs checked when a file is loaded,
known events, and one precise line for each mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import ConfigError, load_policies
from config.models import Policies
from config.notify import EVENT_NAMES, Hook, Hooks, MissingVariable, Notification, expand, template_names
from contracts.notify import Event, HookCall, HookContext, event_id


def _load(tmp_path: Path, data: dict[str, Any]) -> Policies:
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_policies(path)


def _refusal(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, data)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "policies.yaml") + ": ")
    return text.split(": ", 1)[1]


# ----- ${NAME} templates ----------------------------------------------------------------------------


def test_template_names_and_expansion() -> None:
    template = "json://${USER_1}:${PASS}@host/path?-token=${PASS}"
    assert template_names(template) == ["USER_1", "PASS", "PASS"]
    assert expand(template, {"USER_1": "u", "PASS": "p@ss"}) == "json://u:p@ss@host/path?-token=p@ss"
    assert template_names("json://host/$notavariable") == []  # a lone $ is just a character


@pytest.mark.parametrize("bad", ["json://h/${1X}", "json://h/${}", "json://h/${TOKEN", "json://h/${A-B}"])
def test_a_dollar_brace_that_is_not_a_variable_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"not a \$\{NAME\} reference"):
        template_names(bad)


def test_a_missing_variable_names_itself() -> None:
    with pytest.raises(MissingVariable) as info:
        expand("json://${SET}@h/${UNSET}", {"SET": "x"})
    assert info.value.name == "UNSET"


# ----- files: accepted ------------------------------------------------------------------------------


def test_defaults_have_no_sinks_and_no_hooks() -> None:
    policies = Policies()
    assert policies.notifications == [] and policies.hooks == Hooks()
    assert all(policies.hooks.at(stage) == [] for stage in ("pre_rollout", "pre_region", "post_batch"))


def test_a_file_with_sinks_and_hooks_loads(tmp_path: Path) -> None:
    policies = _load(
        tmp_path,
        {
            "notifications": [
                {"url": "json://hooks.example.com/ops?-token=${GLOBALOPS_JSON_TOKEN}", "events": ["failed"]},
                {"url": "slack://${SLACK_A}/${SLACK_B}/${SLACK_C}/#ops", "events": list(EVENT_NAMES)},
                {"url": "mailtos://${SMTP_USER}:${SMTP_PASS}@example.com?to=sre@x.io", "events": ["frozen"]},
                {"url": "pagerduty://${PD_INTEGRATION}@${PD_API_KEY}", "events": ["rolled_back"]},
                {"url": "jsons://example.com/plain", "events": ["started"], "give_up_after": "10m"},
            ],
            "hooks": {
                "pre_rollout": [{"url": "https://change.example.com/approve?key=${CAB_KEY}"}],
                "post_batch": [{"url": "http://127.0.0.1:9000/check", "timeout": "2s", "retries": 0}],
            },
        },
    )
    assert policies.notifications[0].events == ["failed"]
    assert policies.notifications[0].give_up_after == 3600 and policies.notifications[4].give_up_after == 600
    assert policies.notifications[1].wants("drill_verdict") and not policies.notifications[0].wants("started")
    pre = policies.hooks.at("pre_rollout")[0]
    assert (pre.timeout, pre.retries) == (10, 2)
    assert policies.hooks.at("post_batch")[0].timeout == 2


# ----- files: refused, one line naming the field ----------------------------------------------------


@pytest.mark.parametrize(
    ("sink", "field", "needles"),
    [
        ({"url": "nope://x", "events": ["failed"]}, "notifications[0].url", ("unknown service 'nope'",)),
        ({"url": "slack:/oops", "events": ["failed"]}, "notifications[0].url", ("expected <service>://",)),
        ({"url": "json://", "events": ["failed"]}, "notifications[0].url", ("does not parse as an Apprise",)),
        ({"url": "mailto://", "events": ["failed"]}, "notifications[0].url", ("for 'mailto'",)),
        ({"url": "json://h/${1X}", "events": ["failed"]}, "notifications[0].url", ("${NAME} reference",)),
        ({"url": "json://h/ x", "events": ["failed"]}, "notifications[0].url", ("spaces",)),
        (
            {"url": "json://h/x", "events": ["failed", "finished"]},
            "notifications[0].events[1]",
            ("unknown event 'finished'", "allowed events: started, succeeded, rolled_back"),
        ),
        ({"url": "json://h/x", "events": []}, "notifications[0].events", ("at least 1 item",)),
        ({"events": ["failed"]}, "notifications[0].url", ("Field required",)),
        (
            {"url": "json://h/x", "events": ["failed"], "event": ["x"]},
            "notifications[0].event",
            ("unknown field 'event'", "did you mean 'events'?"),
        ),
        ({"url": "json://h", "events": ["failed"], "give_up_after": 0}, "notifications[0].give_up_after", ()),
    ],
)
def test_a_bad_notification_is_one_line(
    tmp_path: Path, sink: dict[str, Any], field: str, needles: tuple[str, ...]
) -> None:
    problem = _refusal(tmp_path, {"notifications": [sink]})
    assert problem.startswith(f"{field}: "), problem
    for needle in needles:
        assert needle in problem, (needle, problem)


@pytest.mark.parametrize(
    ("hook", "field", "needles"),
    [
        ({"timeout": "5s"}, "hooks.pre_region[0].url", ("Field required",)),
        ({"url": "ftp://h/x"}, "hooks.pre_region[0].url", ("http://host/", "got 'ftp://h/x'")),
        ({"url": "https:///nohost"}, "hooks.pre_region[0].url", ("http://host/",)),
        ({"url": "https://h/${2}"}, "hooks.pre_region[0].url", ("${NAME} reference",)),
        ({"url": "https://h/x", "timeout": "fast"}, "hooks.pre_region[0].timeout", ("not a duration",)),
        ({"url": "https://h/x", "timeout": 0}, "hooks.pre_region[0].timeout", ("greater than 0",)),
        ({"url": "https://h", "retries": -1}, "hooks.pre_region[0].retries", ("greater than or equal", "-1")),
        ({"url": "https://h/x", "retry": 1}, "hooks.pre_region[0].retry", ("did you mean 'retries'?",)),
    ],
)
def test_a_bad_hook_is_one_line(
    tmp_path: Path, hook: dict[str, Any], field: str, needles: tuple[str, ...]
) -> None:
    problem = _refusal(tmp_path, {"hooks": {"pre_region": [hook]}})
    assert problem.startswith(f"{field}: "), problem
    for needle in needles:
        assert needle in problem, (needle, problem)


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    problem = _refusal(tmp_path, {"hooks": {"pre_wave": []}})
    assert problem.startswith("hooks.pre_wave: unknown field 'pre_wave' (allowed: pre_rollout, pre_region")


def test_on_the_wire_the_apprise_check_is_skipped() -> None:
    """Policies inside a workflow input are validated in the sandbox, which must not import Apprise:
    only a file load checks the URL against Apprise (the CLI did that before the workflow started)."""
    sink = Notification.model_validate({"url": "nope://x", "events": ["failed"]})
    assert sink.url == "nope://x"
    with pytest.raises(ValueError, match="NAME"):  # the pure checks still run
        Notification.model_validate({"url": "json://h/${9}", "events": ["failed"]})


# ----- contracts: ids, bodies -----------------------------------------------------------------------


def test_event_ids_are_stable_and_the_text_names_them() -> None:
    assert event_id("rollout:checkout/f89f", "started") == "rollout:checkout/f89f/started"
    assert event_id("rollout:checkout/f89f", "awaiting_approval", "wave-core") == (
        "rollout:checkout/f89f/awaiting_approval/wave-core"
    )
    event = Event(
        id="rollout:checkout/f89f/failed",
        kind="failed",
        operation="rollout",
        workflow_id="rollout:checkout",
        service="checkout",
        release="2.0.0",
        region="eu-west-1",
        status="failed",
        message="health gate failed in eu-west-1",
        at=datetime(2026, 12, 2, tzinfo=UTC),
        web_ui_url="http://localhost:8233/namespaces/default/workflows/rollout:checkout",
    )
    assert event.headline() == "globalops rollout failed: checkout 2.0.0 in eu-west-1"
    lines = event.text().splitlines()
    assert lines[0] == "health gate failed in eu-west-1"
    assert lines[1] == "service checkout · release 2.0.0 · region eu-west-1 · status failed"
    assert lines[-2].startswith("http://localhost:8233/") and lines[-1] == f"event {event.id}"


def test_a_hook_call_has_its_body_key_and_name() -> None:
    context = HookContext(
        operation="rollout", workflow_id="rollout:checkout", service="checkout", release="2.0.0",
        region=None, step="start", key="rollout:checkout/f89f",
    )  # fmt: skip
    hook = Hook(url="https://cab.example/ok?k=${K}")
    call = HookCall(hook=hook, stage="pre_rollout", index=1, context=context)
    assert call.key == "rollout:checkout/f89f/pre_rollout[1]"
    assert call.name == "hook pre_rollout[1] https://cab.example/ok?k=${K}"
    assert call.body() == {
        "stage": "pre_rollout", "operation": "rollout", "workflow_id": "rollout:checkout",
        "service": "checkout", "release": "2.0.0", "region": None, "step": "start",
        "key": "rollout:checkout/f89f/pre_rollout[1]",
    }  # fmt: skip
