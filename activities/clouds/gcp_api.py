"""Compute clients per endpoint, keyed request ids, and waiting for operations to be DONE."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import compute_v1

from activities.google_errors import (
    by_status,
    call_retry,
    translated,
)
from activities.heartbeat import beat
from config.gcp import GcpRegionConfig
from contracts.errors import (
    InvalidRequest,
    Unavailable,
)

#: Namespace of every requestId: uuid5(NAMESPACE, "<idempotency key>/<step>").
NAMESPACE = uuid.UUID("5b0c4a61-6f0e-4d1c-9b7a-2a7e0e8f9c3d")
DONE = compute_v1.Operation.Status.DONE


def request_id(key: str, step: str) -> str:
    """The requestId of one call of a keyed method: stable across retries, distinct per step."""
    return str(uuid.uuid5(NAMESPACE, f"{key}/{step}"))


def digest(text: str, n: int = 20) -> str:
    """A short lowercase hex digest, for resource names and label values derived from keys."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class Clients:
    """The Compute clients of one endpoint (REST transport), built on first use."""

    def __init__(self, endpoint: str | None) -> None:
        self._options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        # Anonymous only against an override (a local test server); else google-auth's default chain.
        self._credentials: Credentials | None = AnonymousCredentials() if endpoint else None  # type: ignore[no-untyped-call]

    def _make(self, cls: Callable[..., Any]) -> Any:
        return cls(credentials=self._credentials, client_options=self._options, transport="rest")

    @cached_property
    def templates(self) -> compute_v1.InstanceTemplatesClient:
        return self._make(compute_v1.InstanceTemplatesClient)  # type: ignore[no-any-return]

    @cached_property
    def migs(self) -> compute_v1.RegionInstanceGroupManagersClient:
        return self._make(compute_v1.RegionInstanceGroupManagersClient)  # type: ignore[no-any-return]

    @cached_property
    def backends(self) -> compute_v1.BackendServicesClient:
        return self._make(compute_v1.BackendServicesClient)  # type: ignore[no-any-return]

    @cached_property
    def snapshots(self) -> compute_v1.SnapshotsClient:
        return self._make(compute_v1.SnapshotsClient)  # type: ignore[no-any-return]

    @cached_property
    def disks(self) -> compute_v1.DisksClient:
        return self._make(compute_v1.DisksClient)  # type: ignore[no-any-return]

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        return self._make(compute_v1.InstancesClient)  # type: ignore[no-any-return]

    @cached_property
    def regions(self) -> compute_v1.RegionsClient:
        return self._make(compute_v1.RegionsClient)  # type: ignore[no-any-return]

    @cached_property
    def machine_types(self) -> compute_v1.MachineTypesClient:
        return self._make(compute_v1.MachineTypesClient)  # type: ignore[no-any-return]

    @cached_property
    def zone_ops(self) -> compute_v1.ZoneOperationsClient:
        return self._make(compute_v1.ZoneOperationsClient)  # type: ignore[no-any-return]

    @cached_property
    def region_ops(self) -> compute_v1.RegionOperationsClient:
        return self._make(compute_v1.RegionOperationsClient)  # type: ignore[no-any-return]

    @cached_property
    def global_ops(self) -> compute_v1.GlobalOperationsClient:
        return self._make(compute_v1.GlobalOperationsClient)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Place:
    """One region of one service: where its resources live and what they are called."""

    service: str
    region: str
    cfg: GcpRegionConfig
    clients: Clients
    lock: threading.Lock

    @property
    def project(self) -> str:
        return self.cfg.project

    @property
    def zone(self) -> str:
        return self.cfg.zones[0] if self.cfg.zones else f"{self.region}-b"

    @property
    def zones(self) -> list[str]:
        return list(self.cfg.zones) or [self.zone]

    def mig(self, group: str) -> str:
        return self.cfg.instance_group.format(service=self.service, group=group)

    @property
    def backend_service(self) -> str:
        return self.cfg.backend_service.format(service=self.service)

    @property
    def data_disk(self) -> str:
        return self.cfg.data_disk.format(service=self.service)

    def group_url(self, group: str) -> str:
        return f"projects/{self.project}/regions/{self.region}/instanceGroups/{self.mig(group)}"

    def zone_path(self, zone: str | None = None) -> str:
        return f"projects/{self.project}/zones/{zone or self.zone}"

    @property
    def retry(self) -> Any:
        return call_retry(self.cfg.call_retry_s)

    def call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One API call with google-api-core's short retry; errors classified."""
        with translated(what):
            return fn(retry=self.retry, **kwargs)

    def run(self, what: str, fn: Callable[..., compute_v1.Operation], **kwargs: Any) -> compute_v1.Operation:
        """Start an operation (an *_unary call) and wait until it is DONE; a failed one raises."""
        op = self.call(what, fn, **kwargs)
        return self.wait(what, op)

    def wait(self, what: str, op: compute_v1.Operation) -> compute_v1.Operation:
        deadline = time.monotonic() + self.cfg.operation_timeout_s
        while op.status != DONE:
            # What the step waits for shows in the pending activity (and proves the worker alive).
            beat(f"gcp: {what}: operation {op.name} {compute_v1.Operation.Status(op.status).name}")
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"gcp: {what}: operation {op.name} not DONE after {self.cfg.operation_timeout_s:g}s"
                )
            op = self._poll(what, op)
        if op.error and op.error.errors:
            first = op.error.errors[0]
            status = op.http_error_status_code or 400
            raise by_status(status, f"gcp: {what}: {first.code}: {first.message}", first.code)
        return op

    def _poll(self, what: str, op: compute_v1.Operation) -> compute_v1.Operation:
        """`wait` on the operation's own scope, against the configured endpoint (never the default)."""
        name = op.name
        polled: compute_v1.Operation
        if op.zone:
            zone = op.zone.rsplit("/", 1)[-1]
            polled = self.call(
                what, self.clients.zone_ops.wait, project=self.project, zone=zone, operation=name
            )
        elif op.region:
            region = op.region.rsplit("/", 1)[-1]
            polled = self.call(
                what, self.clients.region_ops.wait, project=self.project, region=region, operation=name
            )
        else:
            polled = self.call(what, self.clients.global_ops.wait, project=self.project, operation=name)
        return polled


def require_config(region: str, cfg: GcpRegionConfig | None) -> GcpRegionConfig:
    if cfg is None:
        raise InvalidRequest(f"gcp: region '{region}' has no `gcp:` block (project, zones, endpoint)")
    return cfg
