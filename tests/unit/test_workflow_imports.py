"""The sandbox sees workflow code: helpers and pure logic are imported normally, only contracts,
config and activity classes pass through (samples-python `updatable_timer/`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / "workflows").rglob("*.py"))
PASSED_THROUGH = ("config", "contracts", "activities")


def _is_passthrough(node: ast.With) -> bool:
    return any(
        isinstance(item.context_expr, ast.Call)
        and ast.unparse(item.context_expr.func).endswith("imports_passed_through")
        for item in node.items
    )


def _imports(tree: ast.Module) -> list[tuple[str, bool, int]]:
    """(module, inside a passthrough block, line) of every top-level import, and inside `with` blocks."""
    found: list[tuple[str, bool, int]] = []

    def visit(body: list[ast.stmt], passthrough: bool) -> None:
        for node in body:
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((node.module, passthrough, node.lineno))
            elif isinstance(node, ast.Import):
                found.extend((alias.name, passthrough, node.lineno) for alias in node.names)
            elif isinstance(node, ast.With):
                visit(node.body, passthrough or _is_passthrough(node))

    visit(tree.body, False)
    return found


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_contracts_config_and_activities_pass_through(path: Path) -> None:
    for module, passthrough, line in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        top = module.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line}: {module}"
        if top in PASSED_THROUGH:
            assert passthrough, f"{where} must be imported inside imports_passed_through()"
        if top == "workflows":
            assert not passthrough, f"{where} is workflow code: import it normally so the sandbox checks it"


def test_pure_logic_lives_apart_from_workflow_classes() -> None:
    for path in sorted((ROOT / "workflows" / "logic").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "@workflow.defn" not in text and "workflow.execute_activity" not in text, path
        tree = ast.parse(text)
        assert not any(m.split(".")[0] == "activities" for m, _, _ in _imports(tree)), path
