"""Wire tolerant, config strict: a newer client's extra fields never break an older worker's operation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import pkgutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import config
import contracts
from activities.clouds.registry import CloudRegistry
from activities.clouds.sim import SimCloud
from config.loader import ConfigError, load_policies
from config.models import Policies, Topology
from contracts.rollout import RolloutProgress, RolloutRequest
from workers.client import register_search_attributes
from workers.main import WORKFLOWS, activity_functions


def _models(package: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += [
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, BaseModel) and obj.__module__ == module.__name__
        ]
    return found


@pytest.mark.parametrize("package", [contracts, config], ids=["contracts", "config"])
def test_every_model_that_travels_ignores_unknown_fields(package: Any) -> None:
    models = _models(package)
    assert len(models) >= 10, models
    strict = [m.__qualname__ for m in models if m.model_config.get("extra") not in (None, "ignore")]
    assert strict == [], f"these models would reject a newer client's field: {strict}"


def test_an_older_cli_reads_a_newer_workers_result() -> None:
    newer: dict[str, Any] = {"workflow_id": "rollout:checkout", "service": "checkout", "release": "2.0.0"}
    newer |= {"rollback_policy": "rollback_all", "cost_usd": 1.5}
    newer["regions"] = [{"region": "us-east-1", "wave": "core", "eta_s": 3}]
    progress = RolloutProgress.model_validate(newer)
    assert progress.region("us-east-1").wave == "core"


def test_config_files_still_refuse_unknown_keys(tmp_path: Path) -> None:
    data = load_policies().model_dump(mode="json")
    data["health"]["max_p99_latency_msec"] = 500  # a typo a tolerant file would hide
    Policies.model_validate(data)  # on the wire: ignored
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_policies(path)
    assert "health.max_p99_latency_msec" in str(err.value) and "unknown field" in str(err.value)
    with pytest.raises(ValidationError):
        Policies.model_validate(data, extra="forbid")


async def test_a_newer_clients_request_runs_to_the_end_on_an_older_worker(
    ts_env: WorkflowEnvironment, sim: SimCloud, topology: Topology, policies: Policies
) -> None:
    await register_search_attributes(ts_env.client)
    queue = f"wire-{uuid.uuid4().hex[:8]}"
    request = RolloutRequest(
        service="checkout",
        release="2.0.0",
        request_id="wire",
        topology=topology.model_copy(update={"default_task_queue": queue}),
        policies=policies,
    ).model_dump(mode="json")
    # Fields this worker's code has never heard of, at every level of the request.
    request["notify_channel"] = "#deploys"
    request["topology"]["regions"][0]["rack_awareness"] = True
    request["topology"]["waves"][1]["max_parallel_ratio"] = 0.5
    request["policies"]["health"]["min_requests"] = 100
    request["policies"]["future_policy"] = {"enabled": True}
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        async with Worker(
            ts_env.client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=activity_functions(CloudRegistry({"sim": lambda: sim})),
            activity_executor=pool,
        ):
            # Started by name with the raw JSON a newer CLI would send (no model on this side).
            handle = await ts_env.client.start_workflow(
                "RegionalRolloutWorkflow", request, id=f"rollout:wire-{queue}", task_queue=queue
            )
            # Bounded: a worker that rejected the payload would fail its workflow task forever.
            result = RolloutProgress.model_validate(await asyncio.wait_for(handle.result(), 120))
    assert result.status == "succeeded", result.reason
    assert {r.release for r in result.regions} == {"2.0.0"}
    assert {row["release"] for row in sim.status("checkout")} == {"2.0.0"}
