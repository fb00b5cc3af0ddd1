"""The notification and hook activities called directly against the local receiver: what is sent, what a
failure raises (retryable or not), and that a filled-in secret shows nowhere but on the wire."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from activities.hook_activities import DETAIL_CHARS, call_hook
from activities.notify_activities import notify_type, render, send_notification
from activities.url_secrets import hiding, redact
from config.notify import Hook
from contracts.notify import Event, HookCall, HookContext, SendInput
from tests.helpers.ports import free_port
from tests.helpers.receiver import Receiver

SECRET = "s3cr3t-Token-0451"  # noqa: S105 - a fake value the masking checks look for


def _event(**changes: object) -> Event:
    event = Event(
        id="rollout:checkout/abc123/started",
        kind="started",
        operation="rollout",
        workflow_id="rollout:checkout",
        service="checkout",
        release="2.0.0",
        message="rollout of checkout 2.0.0 started",
        at=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
    )
    return event.model_copy(update=changes)


def _call(url: str, timeout: float = 5) -> HookCall:
    context = HookContext(
        operation="rollout", workflow_id="rollout:checkout", service="checkout", release="2.0.0",
        region="eu-west-1", step="batch-1", key="rollout:checkout/abc123/eu-west-1",
    )  # fmt: skip
    return HookCall(hook=Hook(url=url, timeout=timeout), stage="post_batch", index=0, context=context)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GLOBALOPS_UNIT_TOKEN", SECRET)
    monkeypatch.delenv("GLOBALOPS_UNIT_UNSET", raising=False)
    return SECRET


# ----- send_notification ----------------------------------------------------------------------------


def test_a_json_sink_gets_the_event_with_its_id_and_the_secret_only_on_the_wire(token: str) -> None:
    with Receiver() as rx:
        url = f"json://127.0.0.1:{rx.port}/events/${{GLOBALOPS_UNIT_TOKEN}}?-token=${{GLOBALOPS_UNIT_TOKEN}}"
        send_notification(SendInput(event=_event(), url_template=url))
    [request] = rx.requests
    assert request.path == f"/events/{token}?token={token}"
    body = request.json()
    assert body["title"] == "globalops rollout started: checkout 2.0.0"
    assert body["type"] == "info"
    assert request.event() == _event().model_dump(mode="json")


def test_text_sinks_get_a_readable_body_ending_with_the_event_id() -> None:
    title, body = render(_event(region="eu-west-1", status="failed", kind="failed"), "slack")
    assert title == "globalops rollout failed: checkout 2.0.0 in eu-west-1"
    assert body.splitlines()[-1] == "event rollout:checkout/abc123/started"
    assert notify_type(_event(kind="failed")) == "failure"
    assert notify_type(_event(kind="drill_verdict", status="fail")) == "failure"
    assert notify_type(_event(kind="drill_verdict", status="pass")) == "info"
    assert notify_type(_event(kind="awaiting_approval")) == "warning"
    assert notify_type(_event(kind="succeeded")) == "success"


def test_a_refused_send_is_retryable_and_names_the_template_only(token: str) -> None:
    with Receiver() as rx:
        rx.answer(f"/down/{token}", 503, "later")
        template = f"json://127.0.0.1:{rx.port}/down/${{GLOBALOPS_UNIT_TOKEN}}"
        with pytest.raises(ApplicationError) as info:
            send_notification(SendInput(event=_event(), url_template=template))
    error = info.value
    assert not error.non_retryable and error.type == "NotificationFailed"
    assert error.message.startswith(f"notification {template} failed: ") and "503" in error.message
    assert token not in error.message


def test_an_unreachable_sink_is_retryable(token: str) -> None:
    template = f"json://127.0.0.1:{free_port()}/x?-t=${{GLOBALOPS_UNIT_TOKEN}}"
    with pytest.raises(ApplicationError) as info:
        send_notification(SendInput(event=_event(), url_template=template))
    assert not info.value.non_retryable and "Connection error" in info.value.message


def test_a_missing_variable_is_not_retried_and_names_the_variable(token: str) -> None:
    template = "json://127.0.0.1:9/x?-t=${GLOBALOPS_UNIT_UNSET}"
    with pytest.raises(ApplicationError) as info:
        send_notification(SendInput(event=_event(), url_template=template))
    assert info.value.non_retryable and info.value.type == "MissingSecret"
    assert info.value.message == (
        f"notification {template}: environment variable GLOBALOPS_UNIT_UNSET is not set on this worker"
    )


def test_a_secret_that_breaks_the_url_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOBALOPS_UNIT_PORT", "not-a-port")
    with pytest.raises(ApplicationError) as info:
        send_notification(SendInput(event=_event(), url_template="json://h:${GLOBALOPS_UNIT_PORT}/x"))
    assert info.value.non_retryable and info.value.type == "BadSinkUrl"
    assert "not-a-port" not in info.value.message


# ----- call_hook ------------------------------------------------------------------------------------


def test_a_2xx_hook_passes_and_gets_the_body_and_key(token: str) -> None:
    with Receiver() as rx:
        answer = call_hook(_call(rx.url("/gate?key=${GLOBALOPS_UNIT_TOKEN}")))
    assert answer.ok and answer.status == 200 and answer.detail == "ok"
    [request] = rx.requests
    assert request.path == f"/gate?key={token}"
    assert request.headers["Idempotency-Key"] == "rollout:checkout/abc123/eu-west-1/post_batch[0]"
    assert request.json()["step"] == "batch-1" and request.json()["stage"] == "post_batch"


def test_a_refusing_hook_returns_its_status_and_a_short_masked_body(token: str) -> None:
    with Receiver() as rx:
        rx.answer("/no", 409, f"frozen by {token} " + "x" * 500)
        answer = call_hook(_call(rx.url("/no?k=${GLOBALOPS_UNIT_TOKEN}")))
    assert not answer.ok and answer.status == 409
    assert answer.detail.startswith("frozen by *** xxx") and len(answer.detail) == DETAIL_CHARS
    assert token not in answer.detail


def test_a_silent_hook_raises_a_retryable_timeout() -> None:
    with Receiver() as rx:
        rx.hang("/slow")
        with pytest.raises(ApplicationError) as info:
            call_hook(_call(rx.url("/slow"), timeout=0.2))
    assert not info.value.non_retryable and info.value.type == "HookUnreachable"
    assert info.value.message == "no answer within 0.2s"


def test_a_refused_connection_raises_a_retryable_error() -> None:
    with pytest.raises(ApplicationError) as info:
        call_hook(_call(f"http://127.0.0.1:{free_port()}/x"))
    assert not info.value.non_retryable and info.value.message.startswith("no answer: ")


# ----- masking ----------------------------------------------------------------------------------------


def test_http_library_log_lines_mask_the_secrets_of_calls_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pool = logging.getLogger("urllib3.connectionpool")
    with hiding([SECRET, ""]):
        pool.debug('%s "POST /x?token=%s HTTP/1.1" 200', "http://h:1", SECRET)
        logging.getLogger("apprise").debug("JSON POST URL: http://h/%s", SECRET)
    pool.debug("after: %s", "plain")
    assert SECRET not in caplog.text
    assert '"POST /x?token=*** HTTP/1.1" 200' in caplog.text and "JSON POST URL: http://h/***" in caplog.text
    assert "after: plain" in caplog.text
    assert redact("a-b-ab", ["ab", "a-b"]) == "***-***"  # longest first
