"""One boto3 Session for the adapter, its clients cached per (service, region), and tag helpers.

Credentials come only from boto3's default chain (environment, profile, instance role): they are
never part of the configuration, the activity inputs or the logs.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import boto3
from botocore.config import Config

ServiceName = Literal["ec2", "ebs", "autoscaling", "elbv2", "route53", "cloudwatch", "service-quotas"]

#: (event name, handler) pairs registered on the session, e.g. ("before-send", inject_fault).
EventHook = tuple[str, Callable[..., Any]]

#: Tag keys the adapter writes and filters on.
TAG_SERVICE = "globalops:service"
TAG_ENV = "globalops:env"
TAG_KEY = "globalops:key"
TAG_RELEASE = "globalops:release"
TAG_KIND = "globalops:kind"
TAG_TAKEN_AT = "globalops:taken-at"
TAG_CHECKSUM = "globalops:checksum"
TAG_WATERMARK = "globalops:watermark"
TAG_SOURCE_REGION = "globalops:source-region"
TAG_COPY_OF = "globalops:copy-of"
TAG_SNAPSHOT = "globalops:snapshot"
TAG_VOLUME = "globalops:volume"
TAG_SIZE = "globalops:size"
TAG_PROMOTE = "globalops:promote"
#: A snapshot's block manifest (activities/clouds/aws_blocks.py): its block count and digest.
TAG_BLOCKS = "globalops:blocks"
TAG_MANIFEST = "globalops:manifest"

_TAG_VALUE_MAX = 256


class AwsClients:
    """Clients of one boto3 Session, built once per (service, region) and shared by threads."""

    def __init__(
        self,
        endpoints: Mapping[str, str | None],
        max_attempts: int = 4,
        event_hooks: Sequence[EventHook] = (),
        default_endpoint: str | None = None,
    ) -> None:
        """`endpoints` maps a region to its endpoint override (None = AWS); hooks go on the session."""
        self._session = boto3.session.Session()
        for event, handler in event_hooks:
            self._session.events.register(event, handler)
        self._endpoints = dict(endpoints)
        self._default_endpoint = default_endpoint
        self._config = Config(
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: ServiceName, region: str) -> Any:
        """The cached client of `service` in `region` (Route 53 is global: any region works)."""
        with self._lock:
            cached = self._clients.get((service, region))
            if cached is None:
                endpoint = self._endpoints.get(region, self._default_endpoint)
                cached = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=endpoint,
                    config=self._config,
                )
                self._clients[(service, region)] = cached
            return cached


def token(key: str) -> str:
    """An EC2 ClientToken for an idempotency key: <= 64 ASCII characters, stable per key."""
    return hashlib.sha256(key.encode()).hexdigest()


def tag_value(value: str) -> str:
    """A tag value for `value`: itself when short enough, else a stable hash of it."""
    return value if len(value) <= _TAG_VALUE_MAX else "sha256:" + token(value)


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    """A resource's `Tags` list as a dict."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in resource.get("Tags", [])}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A dict of tags as AWS's [{Key, Value}] list."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_spec(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """TagSpecifications tagging one resource type at creation."""
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]


def tag_filters(tags: Mapping[str, str], extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """EC2 describe filters matching every tag exactly, plus `extra` filters."""
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()] + list(extra)
