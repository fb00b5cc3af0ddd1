"""Every `workflow.patched()` id is on the register (workflows/patches.py), and the docs list the same."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workflows import patches

ROOT = Path(__file__).resolve().parents[2]
CALLS = ("patched", "deprecate_patch")


def _uses() -> dict[str, list[str]]:
    """Register attribute name -> where code asks for it; a literal or unknown argument is an error."""
    uses: dict[str, list[str]] = {}
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in CALLS or ast.unparse(node.func.value) != "workflow":
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            arg = ast.unparse(node.args[0]) if node.args else ""
            match = re.fullmatch(r"patches\.([A-Z_]+)\.id", arg)
            assert match, (
                f"{where}: workflow.{node.func.attr}({arg}) must name a register entry: patches.X.id"
            )
            uses.setdefault(match.group(1), []).append(where)
    return uses


def _registered() -> dict[str, patches.Patch]:
    return {name: value for name, value in vars(patches).items() if isinstance(value, patches.Patch)}


def test_code_asks_only_for_registered_patches_and_every_entry_is_used() -> None:
    registered, uses = _registered(), _uses()
    assert set(uses) <= set(registered), f"not on the register: {sorted(set(uses) - set(registered))}"
    assert set(registered) <= set(uses), f"registered but used nowhere: {sorted(set(registered) - set(uses))}"
    added = [p.added for p in patches.REGISTER]
    assert added == sorted(added), "the register lists patches in the order they came"


def test_register_entries_are_complete_and_unique() -> None:
    ids = [p.id for p in patches.REGISTER]
    assert len(ids) == len(set(ids))
    assert set(patches.REGISTER) == set(_registered().values())
    for p in patches.REGISTER:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.id), p.id
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.added), p
        assert p.why.strip() and p.deprecate_after.strip(), p


def test_the_docs_list_the_register_in_order() -> None:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("## Patch register", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = [re.match(r"\| `([^`]+)`", line).group(1) for line in rows]  # type: ignore[union-attr]
    assert documented == [p.id for p in patches.REGISTER], "docs/development.md's patch register differs"
