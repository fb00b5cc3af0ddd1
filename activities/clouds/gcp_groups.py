"""Instance templates and regional managed instance groups: what runs where, and changing it."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass

from google.cloud import compute_v1

from activities.clouds import gcp_labels as labels
from activities.clouds.gcp_api import Place, request_id
from activities.google_errors import AlreadyExists
from contracts.errors import NotFound

_REQUESTS: dict[str, type] = {
    "delete_unary": compute_v1.DeleteRegionInstanceGroupManagerRequest,
    "set_instance_template_unary": compute_v1.SetInstanceTemplateRegionInstanceGroupManagerRequest,
    "recreate_instances_unary": compute_v1.RecreateInstancesRegionInstanceGroupManagerRequest,
    "delete_instances_unary": compute_v1.DeleteInstancesRegionInstanceGroupManagerRequest,
    "resize_unary": compute_v1.ResizeRegionInstanceGroupManagerRequest,
    "create_instances_unary": compute_v1.CreateInstancesRegionInstanceGroupManagerRequest,
}


@dataclass(frozen=True)
class Member:
    """One managed instance: its URL, the release of its template, and whether it runs."""

    url: str
    name: str
    release: str | None
    running: bool


class Groups:
    """MIG operations of the adapter; caches template → release (templates are immutable)."""

    def __init__(self) -> None:
        self._releases: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # --- templates ---------------------------------------------------------------------------

    def template(self, place: Place, release: str) -> str:
        """The URL of the release's instance template, created if missing (named by release)."""
        name = labels.template_name(place.service, release)
        url = f"projects/{place.project}/global/instanceTemplates/{name}"
        with self._lock:
            if url in self._releases:
                return url
        try:
            place.call(
                "read template", place.clients.templates.get, project=place.project, instance_template=name
            )
        except NotFound:
            self._insert_template(place, name, release)
        with self._lock:
            self._releases[url] = release
        return url

    def _insert_template(self, place: Place, name: str, release: str) -> None:
        props = compute_v1.InstanceProperties(
            machine_type=place.cfg.machine_type,
            labels={labels.SERVICE: labels.encode(place.service), labels.RELEASE: labels.encode(release)},
            metadata=compute_v1.Metadata(
                items=[
                    compute_v1.Items(key="globalops-release", value=release),
                    compute_v1.Items(key="globalops-service", value=place.service),
                ]
            ),
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    initialize_params=compute_v1.AttachedDiskInitializeParams(
                        source_image=place.cfg.source_image
                    ),
                )
            ],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        )
        with contextlib.suppress(AlreadyExists):  # made by a concurrent call: same name, same release
            place.run(
                f"create template {name}",
                place.clients.templates.insert_unary,
                request=compute_v1.InsertInstanceTemplateRequest(
                    project=place.project,
                    instance_template_resource=compute_v1.InstanceTemplate(
                        name=name, description=f"globalops {place.service} {release}", properties=props
                    ),
                    request_id=request_id(f"template:{place.project}:{name}", "insert"),
                ),
            )

    def release_of(self, place: Place, url: str) -> str | None:
        """The release an instance template runs (its label), cached."""
        path = url.split("/compute/v1/", 1)[-1]
        with self._lock:
            if path in self._releases:
                return self._releases[path]
        name = path.rsplit("/", 1)[-1]
        try:
            found = place.call(
                "read template", place.clients.templates.get, project=place.project, instance_template=name
            )
        except NotFound:
            return None
        value = found.properties.labels.get(labels.RELEASE)
        release = labels.decode(value) if value else None
        with self._lock:
            self._releases[path] = release
        return release

    # --- groups ------------------------------------------------------------------------------

    def mig(self, place: Place, group: str) -> compute_v1.InstanceGroupManager | None:
        try:
            return place.call(  # type: ignore[no-any-return]
                "read instance group",
                place.clients.migs.get,
                project=place.project,
                region=place.region,
                instance_group_manager=place.mig(group),
            )
        except NotFound:
            return None

    def members(self, place: Place, group: str) -> list[Member] | None:
        """Managed instances of a group in list order (None: the group does not exist)."""
        try:
            pager = place.call(
                "list managed instances",
                place.clients.migs.list_managed_instances,
                project=place.project,
                region=place.region,
                instance_group_manager=place.mig(group),
            )
            managed = list(pager)
        except NotFound:
            return None
        return [
            Member(
                url=m.instance.split("/compute/v1/", 1)[-1],
                name=m.name,
                release=self.release_of(place, m.version.instance_template)
                if m.version.instance_template
                else None,
                running=m.instance_status == "RUNNING",
            )
            for m in managed
        ]

    def _mig_call(
        self, place: Place, group: str, what: str, method: str, key: str, step: str, **body: object
    ) -> None:
        """One keyed call on a group: the request object carries the requestId (flattened args cannot)."""
        fn = getattr(place.clients.migs, method)
        request_type = _REQUESTS[method]
        place.run(
            f"{what} {place.mig(group)} in {place.region}",
            fn,
            request=request_type(
                project=place.project,
                region=place.region,
                instance_group_manager=place.mig(group),
                request_id=request_id(key, step),
                **body,
            ),
        )

    def create(self, place: Place, group: str, template: str, count: int, key: str, step: str) -> None:
        zones = [compute_v1.DistributionPolicyZoneConfiguration(zone=f"zones/{z}") for z in place.zones]
        resource = compute_v1.InstanceGroupManager(
            name=place.mig(group),
            base_instance_name=place.mig(group),
            instance_template=template,
            target_size=count,
            distribution_policy=compute_v1.DistributionPolicy(zones=zones),
        )
        with contextlib.suppress(AlreadyExists):  # a retry after the first call created it
            place.run(
                f"create {place.mig(group)} in {place.region}",
                place.clients.migs.insert_unary,
                request=compute_v1.InsertRegionInstanceGroupManagerRequest(
                    project=place.project,
                    region=place.region,
                    instance_group_manager_resource=resource,
                    request_id=request_id(key, step),
                ),
            )

    def delete(self, place: Place, group: str, key: str, step: str) -> bool:
        """Delete a group; False if it did not exist (and no earlier call with this key deleted it)."""
        try:
            self._mig_call(place, group, "delete", "delete_unary", key, step)
        except NotFound:
            return False
        return True

    def set_template(self, place: Place, group: str, template: str, key: str, step: str) -> None:
        body = compute_v1.RegionInstanceGroupManagersSetTemplateRequest(instance_template=template)
        self._mig_call(
            place,
            group,
            "set template",
            "set_instance_template_unary",
            key,
            step,
            region_instance_group_managers_set_template_request_resource=body,
        )

    def recreate(self, place: Place, group: str, urls: list[str], key: str, step: str) -> None:
        body = compute_v1.RegionInstanceGroupManagersRecreateRequest(instances=urls)
        self._mig_call(
            place,
            group,
            "recreate",
            "recreate_instances_unary",
            key,
            step,
            region_instance_group_managers_recreate_request_resource=body,
        )

    def remove(self, place: Place, group: str, urls: list[str], key: str, step: str) -> None:
        body = compute_v1.RegionInstanceGroupManagersDeleteInstancesRequest(instances=urls)
        self._mig_call(
            place,
            group,
            "delete instances",
            "delete_instances_unary",
            key,
            step,
            region_instance_group_managers_delete_instances_request_resource=body,
        )

    def resize(self, place: Place, group: str, size: int, key: str, step: str) -> None:
        self._mig_call(place, group, "resize", "resize_unary", key, step, size=size)

    def add_named(self, place: Place, names: list[str], volume_url: str, key: str, step: str) -> None:
        """Named instances in the stable group, each with the volume as a preserved read-only disk."""
        disk = compute_v1.PreservedStatePreservedDisk(
            source=volume_url, mode="READ_ONLY", auto_delete="NEVER"
        )
        body = compute_v1.RegionInstanceGroupManagersCreateInstancesRequest(
            instances=[
                compute_v1.PerInstanceConfig(
                    name=name, preserved_state=compute_v1.PreservedState(disks={"data": disk})
                )
                for name in names
            ]
        )
        self._mig_call(
            place,
            "stable",
            "create instances",
            "create_instances_unary",
            key,
            step,
            region_instance_group_managers_create_instances_request_resource=body,
        )

    def reshape(self, place: Place, group: str, release: str, count: int, key: str, step: str) -> int:
        """Make `group` exactly `count` instances on `release` (the sim's rules); changes made."""
        template = self.template(place, release)
        current = self.members(place, group)
        if current is None:
            if count == 0:
                return 0
            self.create(place, group, template, count, key, f"{step}/create")
            return count
        self.set_template(place, group, template, key, f"{step}/template")
        on = [m for m in current if m.release == release]
        off = [m for m in current if m.release != release]
        kept, extra = on[:count], on[count:]
        need = count - len(kept)
        replaced, dropped = off[:need], off[need:]
        created = need - len(replaced)
        gone = [m.url for m in (*extra, *dropped)]
        if gone:
            self.remove(place, group, gone, key, f"{step}/remove")
        if replaced:
            self.recreate(place, group, [m.url for m in replaced], key, f"{step}/recreate")
        self.resize(place, group, count, key, f"{step}/resize")
        return created + len(extra) + len(dropped) + len(replaced)


def majority(members: list[Member], newest: str | None) -> str | None:
    """The release most members run; a tie goes to the group's current template (`newest`)."""
    counts = Counter(m.release for m in members if m.release is not None)
    if not counts:
        return None
    return max(counts, key=lambda r: (counts[r], r == newest))
