"""Models build their validators at first use (config/base.py: defer_build), and a first use raced by
many threads still validates with the model's own validator, never its parent's.

Each case runs in a fresh interpreter: the models this test process already used are built.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ONLY = """
import inspect
import pydantic
import config.models, contracts.rollout
models = [
    m for mod in (config.models, contracts.rollout) for _, m in inspect.getmembers(mod, inspect.isclass)
    if issubclass(m, pydantic.BaseModel) and m.__module__.startswith(("config.", "contracts."))
]
print(len(models), sum(bool(m.__pydantic_complete__) for m in models))
"""

RACE = """
import concurrent.futures
from config.models import DeployPolicies, Policies
data = {"failover": {"probe_interval": 7}, "bake": {"core": 5}, "health": {"max_error_rate": 0.02}}
start = concurrent.futures.ThreadPoolExecutor(32)
results = list(start.map(lambda _: Policies.model_validate(data), range(64)))
assert DeployPolicies.__pydantic_complete__ is False  # built only what was used
bad = [r for r in results
       if type(r) is not Policies or r.failover.probe_interval != 7 or r.bake_for("core") != 5]
print(len(results), len(bad))
"""


WORKER_START = """
import inspect, pkgutil, importlib
import pydantic
import config, contracts
from workers.main import build_models
first, second = build_models(), build_models()
left = [
    cls.__name__
    for package in (config, contracts)
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
    for _, cls in inspect.getmembers(importlib.import_module(info.name), inspect.isclass)
    if issubclass(cls, pydantic.BaseModel) and cls.__module__ == info.name and not cls.__pydantic_complete__
]
print(first, second, len(left))
"""


def run(script: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [int(word) for word in done.stdout.split()]


def test_importing_the_models_builds_none_of_them() -> None:
    models, built = run(IMPORT_ONLY)
    assert models > 30
    assert built == 0


def test_a_first_use_raced_by_32_threads_validates_with_the_models_own_validator() -> None:
    results, bad = run(RACE)
    assert (results, bad) == (64, 0)


def test_the_worker_builds_every_model_before_it_runs_anything() -> None:
    """workers.main.build_models (called by build_workers): no workflow pays a first-use build."""
    first, second, left = run(WORKER_START)
    assert first > 100
    assert (second, left) == (0, 0)
