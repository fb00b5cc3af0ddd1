"""The worker's sandbox passes through only helper modules: no workflow definitions, no module state."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest
from temporalio import workflow

import workflows
from workers.main import SANDBOX_PASSTHROUGH, workflow_runner


def _modules(name: str) -> list[types.ModuleType]:
    """The module `name` and, for a package, every module under it."""
    module = importlib.import_module(name)
    found = [module]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{name}."):
            found.append(importlib.import_module(info.name))
    return found


@pytest.mark.parametrize("name", SANDBOX_PASSTHROUGH)
def test_a_passed_through_module_defines_no_workflow(name: str) -> None:
    for module in _modules(name):
        defined = [
            obj.__name__
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and obj.__module__ == module.__name__
            and workflow._Definition.from_class(obj) is not None
        ]
        assert defined == [], f"{module.__name__} defines workflows {defined}: it must stay sandboxed"


@pytest.mark.parametrize("name", SANDBOX_PASSTHROUGH)
def test_a_passed_through_module_keeps_no_mutable_state(name: str) -> None:
    for module in _modules(name):
        mutable = [
            key
            for key, value in vars(module).items()
            if not key.startswith("__") and isinstance(value, dict | list | set | bytearray)
        ]
        assert mutable == [], f"{module.__name__} holds mutable module state {mutable}"


def test_every_module_that_defines_a_workflow_stays_sandboxed() -> None:
    """The helpers listed are all there is to pass through: a workflow module is never listed."""
    for info in pkgutil.iter_modules(workflows.__path__, prefix="workflows."):
        module = importlib.import_module(info.name)
        has_workflow = any(
            inspect.isclass(obj) and obj.__module__ == info.name and workflow._Definition.from_class(obj)
            for obj in vars(module).values()
        )
        listed = any(info.name == p or info.name.startswith(p + ".") for p in SANDBOX_PASSTHROUGH)
        assert not (has_workflow and listed), info.name


def test_the_runner_passes_the_helpers_through() -> None:
    runner = workflow_runner()
    assert set(SANDBOX_PASSTHROUGH) <= set(runner.restrictions.passthrough_modules)
