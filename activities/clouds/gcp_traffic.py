"""Traffic on GCP: the per-region backends of one global backend service carry every weight.

Mapping (documented in the report and here, the one place that knows it):

* Each GCP region of a service has a stable backend (its stable MIG's instance group) and, while a
  canary / green group exists, a canary backend, all in the service's global backend service.
* The exact intent — the region's share of global traffic `w` and the canary share of the region
  `c` — is written as JSON in the description of the region's backends ("globalops:{...}"), so
  `traffic()` and `region_state()` return exactly what was set (floats round-trip through JSON).
* What the load balancer acts on is each backend's `capacityScaler`: the backend's intended
  share (stable `w·(1-c)`, canary `w·c`) divided by the largest share of the service, so the
  busiest backend gets 1.0. GCE accepts only 0 or [0.1, 1.0]: a non-zero share under a tenth of
  the largest is raised to 0.1 (coarser than the intent; exact percentages need URL-map
  weightedBackendServices, a follow-up).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from google.cloud import compute_v1

from activities.clouds.gcp_api import Place, request_id
from contracts.cloud import TrafficState
from contracts.errors import (
    InvalidRequest,
    NotFound,
)

SUM_TOLERANCE = 1e-6
_TAG = "globalops:"


@dataclass
class Split:
    """A region's intended traffic: its share of the service (`weight`) and the canary's share of it."""

    weight: float = 0.0
    canary: float = 0.0


def _parse(description: str) -> Split | None:
    if not description.startswith(_TAG):
        return None
    data = json.loads(description[len(_TAG) :])
    return Split(weight=float(data["region_weight"]), canary=float(data["canary_weight"]))


def _describe(split: Split) -> str:
    return _TAG + json.dumps({"region_weight": split.weight, "canary_weight": split.canary})


def _where(group_url: str) -> tuple[str, str]:
    """(region, instance group name) of a backend's group URL."""
    parts = group_url.split("/")
    return parts[parts.index("regions") + 1], parts[-1]


def scaler(share: float, largest: float) -> float:
    """The capacityScaler of a backend: its share relative to the largest, in GCE's 0 or [0.1, 1]."""
    if share <= 0 or largest <= 0:
        return 0.0
    return max(0.1, min(1.0, round(share / largest, 4)))


class GcpTraffic:
    """Reads and rewrites the backend service; `places` maps a GCP region to its Place."""

    def __init__(self, lb: Place, places: dict[str, Place]) -> None:
        self.lb = lb
        self.places = places

    def _read(self) -> compute_v1.BackendService:
        return self.lb.call(  # type: ignore[no-any-return]
            "read backend service",
            self.lb.clients.backends.get,
            project=self.lb.project,
            backend_service=self.lb.backend_service,
        )

    def _role(self, backend: compute_v1.Backend) -> tuple[str, str] | None:
        region, name = _where(backend.group)
        place = self.places.get(region)
        if place is None:
            return None
        for group in ("stable", "canary"):
            if name == place.mig(group):
                return region, group
        return None

    def splits(self, bs: compute_v1.BackendService | None = None) -> dict[str, Split]:
        """Each region's intent, from its stable backend (description, else its scaler)."""
        bs = bs or self._read()
        out: dict[str, Split] = {}
        raw: dict[str, float] = {}
        for backend in bs.backends:
            role = self._role(backend)
            if role is None or role[1] != "stable":
                continue
            parsed = _parse(backend.description or "")
            if parsed is not None:
                out[role[0]] = parsed
            else:
                raw[role[0]] = float(backend.capacity_scaler)
        total = math.fsum(raw.values())
        for region, value in raw.items():  # backends made outside globalops: scalers as shares
            out[region] = Split(weight=value / total if total else 0.0)
        return out

    def state(self, service: str) -> TrafficState:
        splits = self.splits()
        if not splits:
            raise NotFound(f"gcp: service '{service}' has no regional backends in {self.lb.backend_service}")
        return TrafficState(service=service, weights={r: s.weight for r, s in sorted(splits.items())})

    def split(self, region: str) -> Split:
        return self.splits().get(region, Split())

    def _write(self, bs: compute_v1.BackendService, splits: dict[str, Split], key: str, step: str) -> None:
        backends = list(bs.backends)
        shares = {id(b): self._share(b, splits) for b in backends}
        largest = max(shares.values(), default=0.0)
        for backend in backends:
            role = self._role(backend)
            if role is None or role[0] not in splits:
                continue
            backend.description = _describe(splits[role[0]])
            backend.capacity_scaler = scaler(shares[id(backend)], largest)
        patch = compute_v1.BackendService(backends=backends, fingerprint=bs.fingerprint)
        self.lb.run(
            f"{step} on {self.lb.backend_service}",
            self.lb.clients.backends.patch_unary,
            request=compute_v1.PatchBackendServiceRequest(
                project=self.lb.project,
                backend_service=self.lb.backend_service,
                backend_service_resource=patch,
                request_id=request_id(key, step),
            ),
        )

    def _share(self, backend: compute_v1.Backend, splits: dict[str, Split]) -> float:
        role = self._role(backend)
        if role is None or role[0] not in splits:
            return 0.0
        split = splits[role[0]]
        return split.weight * (split.canary if role[1] == "canary" else 1.0 - split.canary)

    def set_weights(self, service: str, weights: dict[str, float], key: str) -> TrafficState:
        """Named regions' weights (others keep theirs); the split must sum to 1; once per key."""
        for region, weight in weights.items():
            if not (isinstance(weight, int | float) and 0.0 <= weight <= 1.0):
                raise InvalidRequest(f"gcp: traffic weight of '{region}' must be within 0..1, got {weight}")
        with self.lb.lock:
            bs = self._read()
            splits = self.splits(bs)
            unknown = sorted(r for r in weights if r not in splits)
            if unknown:
                raise NotFound(
                    f"gcp: service '{service}' has no backend in region(s) {', '.join(unknown)}"
                    f" of {self.lb.backend_service}"
                )
            for region, weight in weights.items():
                splits[region].weight = float(weight)
            total = math.fsum(s.weight for s in splits.values())
            if abs(total - 1.0) > SUM_TOLERANCE:
                raise InvalidRequest(f"gcp: weights must sum to 1, got {total:.6g}")
            self._write(bs, splits, key, "traffic")
        return self.state(service)

    def set_canary(self, place: Place, weight: float, key: str, step: str) -> None:
        """The canary share of one region; adds the canary backend when it is missing."""
        with self.lb.lock:
            bs = self._read()
            splits = self.splits(bs)
            if place.region not in splits:
                raise NotFound(
                    f"gcp: region '{place.region}' has no stable backend in {self.lb.backend_service}"
                )
            splits[place.region].canary = weight
            roles = {self._role(b) for b in bs.backends}
            if weight > 0 and (place.region, "canary") not in roles:
                bs.backends.append(self._backend(place, "canary"))
            self._write(bs, splits, key, step)

    def drop_canary(self, place: Place, key: str, step: str) -> None:
        """Canary share 0 and the canary backend removed (before its group is deleted)."""
        with self.lb.lock:
            bs = self._read()
            splits = self.splits(bs)
            kept = [b for b in bs.backends if self._role(b) != (place.region, "canary")]
            split = splits.get(place.region, Split())
            if len(kept) == len(bs.backends) and split.canary == 0.0:
                return  # no canary backend and no canary share: nothing to change
            split.canary = 0.0
            del bs.backends[:]
            bs.backends.extend(kept)
            self._write(bs, splits, key, step)

    @staticmethod
    def _backend(place: Place, group: str) -> compute_v1.Backend:
        return compute_v1.Backend(
            group=place.group_url(group),
            balancing_mode="UTILIZATION",
            capacity_scaler=0.0,
            description=_describe(Split()),
        )

    def ensure_backend_service(self, places: list[Place], key: str) -> None:
        """Create the backend service with each region's stable backend, equal shares (bootstrap)."""
        from activities.google_errors import AlreadyExists

        shares = 1.0 / len(places)
        backends = []
        for place in places:
            backend = self._backend(place, "stable")
            backend.description = _describe(Split(weight=shares))
            backend.capacity_scaler = 1.0
            backends.append(backend)
        resource: dict[str, Any] = {"name": self.lb.backend_service, "backends": backends}
        try:
            self.lb.run(
                "create backend service",
                self.lb.clients.backends.insert_unary,
                request=compute_v1.InsertBackendServiceRequest(
                    project=self.lb.project,
                    backend_service_resource=compute_v1.BackendService(**resource),
                    request_id=request_id(key, "backend-service"),
                ),
            )
        except AlreadyExists:
            return
