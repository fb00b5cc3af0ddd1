"""Notifications (Apprise URLs) and webhook gates: what a policies file may say about them.

URLs are templates: `${NAME}` stands for the worker's environment variable NAME, so a token or a
password never enters a policies file, a workflow input or a history; the worker fills it in just
before it sends (activities/notify_activities.py, activities/hook_activities.py).

The check that a notification URL parses needs Apprise, which workflow code must never import: it
runs only when a file is loaded (`config.loader` validates with `FILE_CONTEXT`), not when a policy
arrives inside a workflow input. The `${NAME}` syntax and the hook URL checks are pure and always run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, Field, ValidationInfo, field_validator

from config.base import CONFIG
from config.durations import Duration

__all__ = [
    "EVENT_NAMES",
    "FILE_CONTEXT",
    "HOOK_STAGES",
    "EventName",
    "Hook",
    "HookStage",
    "Hooks",
    "MissingVariable",
    "Notification",
    "expand",
    "template_names",
]

EventName = Literal[
    "started",
    "succeeded",
    "rolled_back",
    "failed",
    "partial",
    "awaiting_approval",
    "awaiting_decision",
    "frozen",
    "unfrozen",
    "failover_started",
    "failover_done",
    "drill_verdict",
    "readiness_changed",
    "standing_readiness_changed",
]
EVENT_NAMES: tuple[EventName, ...] = get_args(EventName)
"""Every event a notification may ask for, in the order the documentation lists them."""

HookStage = Literal["pre_rollout", "pre_region", "post_batch", "post_region"]
HOOK_STAGES: tuple[HookStage, ...] = get_args(HookStage)

FILE_CONTEXT: dict[str, bool] = {"file": True}
"""The pydantic validation context of a configuration file: the checks that need Apprise run."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = "placeholder0"  # letters and a digit: fits the token patterns of most Apprise services


class MissingVariable(KeyError):
    """A `${NAME}` of a URL template names no variable of this environment."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def template_names(template: str) -> list[str]:
    """The variable names of a URL template, in order; ValueError for a `$` that starts none."""
    names = _VAR.findall(template)
    stray = _VAR.sub("", template)
    if "${" in stray:
        raise ValueError(
            "a '${' that is not a ${NAME} reference (NAME: letters, digits and _, not starting with a digit)"
        )
    return names


def expand(template: str, env: Mapping[str, str]) -> str:
    """The URL with each `${NAME}` replaced by env[NAME]; MissingVariable naming the first one unset."""
    template_names(template)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingVariable(name)
        return env[name]

    return _VAR.sub(value, template)


def _check_template(url: str) -> str:
    if url != url.strip() or any(c.isspace() for c in url):
        raise ValueError("a URL must not contain spaces")
    template_names(url)
    return url


def _check_apprise_url(url: str) -> None:
    """Raise ValueError unless `url`, its variables replaced by a placeholder, is an Apprise URL.

    Without variables the URL must build a working Apprise service (tokens checked too); with them
    it must parse for a known service, and the secrets' own format is checked when the worker sends.
    """
    # Imported here: Apprise is heavy, and only a file load (the CLI, a worker) ever needs it.
    import apprise
    from apprise import plugins
    from apprise.manager_plugins import NotificationManager

    filled = _VAR.sub(_PLACEHOLDER, url)
    scheme = filled.partition("://")[0].lower() if "://" in filled else ""
    if not scheme:
        raise ValueError("not an Apprise URL: expected <service>://..., e.g. json://host/path or slack://...")
    known = NotificationManager()  # type: ignore[no-untyped-call]  # Apprise leaves it unannotated
    if scheme not in known:
        raise ValueError(f"not an Apprise URL: unknown service {scheme!r} (see the Apprise services list)")
    ok = apprise.Apprise.instantiate(filled) is not None
    if not ok and filled != url:
        ok = plugins.url_to_dict(filled) is not None  # type: ignore[no-untyped-call]  # unannotated
    if not ok:
        with_vars = " with each ${NAME} as a placeholder" if filled != url else ""
        raise ValueError(f"does not parse as an Apprise URL for {scheme!r}{with_vars}")


def _known_event(value: Any) -> Any:
    """Name the allowed events instead of pydantic's long literal message."""
    if value not in EVENT_NAMES:
        raise ValueError(f"unknown event {value!r}; allowed events: {', '.join(EVENT_NAMES)}")
    return value


class Notification(BaseModel):
    """One sink: an Apprise URL template and the events it wants."""

    model_config = CONFIG

    url: str = Field(
        min_length=1,
        description="Apprise URL; ${NAME} stands for the worker's environment variable NAME (secrets).",
    )
    events: list[Annotated[EventName, BeforeValidator(_known_event)]] = Field(
        min_length=1, description="The events this sink receives."
    )
    give_up_after: Duration = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="How long a failing sink is retried before it is given up.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        _check_template(value)
        if isinstance(info.context, Mapping) and info.context.get("file"):
            _check_apprise_url(value)
        return value

    def wants(self, event: str) -> bool:
        """True if this sink receives `event`."""
        return event in self.events


class Hook(BaseModel):
    """An HTTP endpoint asked at a stage of an operation: a 2xx answer lets it go on."""

    model_config = CONFIG

    url: str = Field(
        min_length=1,
        description="http(s) URL the JSON body is POSTed to; ${NAME} is a worker environment variable.",
    )
    timeout: Duration = Field(default=10.0, gt=0, le=600, description="How long one attempt may wait.")
    retries: int = Field(
        default=2, ge=0, le=20, description="Further attempts after a timeout or connection error."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _check_template(value)
        parts = urlsplit(_VAR.sub(_PLACEHOLDER, value))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a hook URL must be http://host/... or https://host/...")
        return value


class Hooks(BaseModel):
    """Webhook gates by stage; each runs its hooks in order and fails at the first that says no."""

    model_config = CONFIG

    pre_rollout: list[Hook] = Field(default_factory=list, description="Before a rollout changes anything.")
    pre_region: list[Hook] = Field(default_factory=list, description="Before each region is changed.")
    post_batch: list[Hook] = Field(default_factory=list, description="After each batch of a region.")
    post_region: list[Hook] = Field(default_factory=list, description="After each region's final gate.")

    def at(self, stage: HookStage) -> list[Hook]:
        """The hooks of `stage`, in order."""
        hooks: list[Hook] = getattr(self, stage)
        return hooks
