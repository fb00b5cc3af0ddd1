"""The layout of tests/, read with `ast`: three rules, each failure naming the file and the rule.

1. A conftest.py holds fixtures and pytest_* hooks only: no other `def`, no `class`, no public
   constant but `pytest_plugins`. Plain helpers live in tests/helpers/.
2. No module imports a test module (`test_*`) or a conftest: shared code is in tests/helpers/,
   shared fixtures are defined once, in a conftest.py where pytest finds them.
3. The end-to-end tests are exactly the tests in tests/e2e/: every test marked e2e is there, and
   every test there is marked e2e (a module-level `pytestmark` or its own mark).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
E2E = TESTS / "e2e"
FIXTURE_DECORATORS = {"pytest.fixture", "pytest_asyncio.fixture", "fixture"}
SKIPPED_DIRS = {"__pycache__", "build", "dist", "node_modules", "venv"}

RULE_1 = "rule 1 (a conftest.py holds only fixtures and pytest_* hooks; helpers go to tests/helpers/)"
RULE_2 = "rule 2 (no module imports a test module or a conftest)"
RULE_3 = "rule 3 (every e2e test is in tests/e2e/, every test in tests/e2e/ is marked e2e)"


# ----- the checks, on source text (so that the rules themselves can be tested below) ---------------


def _dotted(node: ast.expr) -> str:
    """`pytest.fixture` for `@pytest.fixture`, `@pytest.fixture(scope=...)` and the like; "" otherwise."""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _names(element)


def conftest_problems(name: str, source: str) -> list[str]:
    """Rule 1 for one conftest.py."""
    problems = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fixture = any(_dotted(d) in FIXTURE_DECORATORS for d in node.decorator_list)
            if not fixture and not node.name.startswith("pytest_"):
                problems.append(f"`def {node.name}` (line {node.lineno}) is neither a fixture nor a hook")
        elif isinstance(node, ast.ClassDef):
            problems.append(f"`class {node.name}` (line {node.lineno})")
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for var in (v for t in targets for v in _names(t)):
                if var == "__all__" or (var != "pytest_plugins" and not var.startswith("_")):
                    problems.append(f"the module-level name `{var}` (line {node.lineno})")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            continue
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):  # a docstring
            problems.append(f"a top-level `{type(node).__name__}` statement (line {node.lineno})")
    return [f"{name}: {RULE_1}: {problem}" for problem in problems]


def _forbidden(module: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in module.split("."))


def import_problems(name: str, source: str) -> list[str]:
    """Rule 2 for one module: every import in it, at any depth (imports inside functions too)."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            # `from tests.e2e import test_crash`, `from . import conftest`: the names may be modules too.
            imported = [base] + [f"{base.rstrip('.')}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in imported:
            if _forbidden(module.lstrip(".")):
                problems.append(f"line {node.lineno} imports `{module}`")
                break
    return [f"{name}: {RULE_2}: {problem}" for problem in problems]


def _is_e2e_mark(node: ast.AST) -> bool:
    """`pytest.mark.e2e`, `mark.e2e`, with or without a call."""
    return isinstance(node, ast.Attribute) and node.attr == "e2e" and _dotted(node.value).endswith("mark")


def _marks_e2e(node: ast.AST | None) -> bool:
    return node is not None and any(_is_e2e_mark(n) for n in ast.walk(node))


def _tests(body: list[ast.stmt], marked: bool) -> Iterator[tuple[str, bool]]:
    """(name, marked e2e?) of each test function, in test classes too."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node.name, marked or any(_marks_e2e(d) for d in node.decorator_list)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            in_class = marked or any(_marks_e2e(d) for d in node.decorator_list)
            for test, test_marked in _tests(node.body, in_class):
                yield f"{node.name}.{test}", test_marked


def e2e_problems(name: str, source: str, in_e2e: bool) -> list[str]:
    """Rule 3 for one test module (`in_e2e`: it is under tests/e2e/)."""
    tree = ast.parse(source)
    module_marked = any(
        isinstance(node, ast.Assign)
        and "pytestmark" in {v for t in node.targets for v in _names(t)}
        and _marks_e2e(node.value)
        for node in tree.body
    )
    if in_e2e:
        tests = _tests(tree.body, module_marked)
        problems = [f"{test} is not marked e2e" for test, marked in tests if not marked]
    else:
        marks = [n for n in ast.walk(tree) if _is_e2e_mark(n)]
        problems = [f"line {mark.lineno} marks a test e2e outside tests/e2e/" for mark in marks]
    return [f"{name}: {RULE_3}: {problem}" for problem in problems]


# ----- the files ---------------------------------------------------------------------------------


def _python_files(top: Path) -> list[Path]:
    """The .py files under `top`, without hidden directories (.venv, .git, ...) and build output."""
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
        found += [Path(folder) / f for f in sorted(files) if f.endswith(".py")]
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_conftest_files_hold_only_fixtures_and_hooks() -> None:
    conftests = [p for p in _python_files(TESTS) if p.name == "conftest.py"]
    assert TESTS / "conftest.py" in conftests
    problems = [msg for path in conftests for msg in conftest_problems(_name(path), _read(path))]
    assert not problems, "\n".join(problems)


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    """Every module of the repository (tests/, scripts/, bench/, the packages): none imports one."""
    files = _python_files(ROOT)
    assert Path(__file__).resolve() in files
    problems = [msg for path in files for msg in import_problems(_name(path), _read(path))]
    assert not problems, "\n".join(problems)


def test_the_e2e_tests_are_exactly_the_tests_in_tests_e2e() -> None:
    modules = [p for p in _python_files(TESTS) if p.name.startswith("test_")]
    assert any(p.parent == E2E for p in modules), "no test module in tests/e2e/"
    problems = [
        msg for path in modules for msg in e2e_problems(_name(path), _read(path), in_e2e=E2E in path.parents)
    ]
    # Only test modules, their conftest.py and __init__.py in tests/e2e/: helpers go to tests/helpers/.
    problems += [
        f"{_name(path)}: {RULE_3}: not a test module in tests/e2e/ (helpers go to tests/helpers/)"
        for path in _python_files(E2E)
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    ]
    assert not problems, "\n".join(problems)


# ----- the rules catch what they should (and only that) ------------------------------------------


CLEAN_CONFTEST = '''"""Fixtures."""
import pytest
import pytest_asyncio
from tests.helpers.temporal import time_skipping_server

pytest_plugins = ["tests.plugin"]
_CACHE: dict[str, int] = {}


def pytest_collection_modifyitems(items): ...


@pytest.fixture
def sim(): ...


@pytest.fixture(scope="session")
def topology(): ...


@pytest_asyncio.fixture(scope="module")
async def ts_env(): ...
'''


def test_a_conftest_of_fixtures_and_hooks_passes_rule_1() -> None:
    assert conftest_problems("tests/conftest.py", CLEAN_CONFTEST) == []


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("def make_worker(): ...\n", "`def make_worker`"),
        ("def _free_port(): ...\n", "`def _free_port`"),
        ("async def apoll(): ...\n", "`def apoll`"),
        ("class User: ...\n", "`class User`"),
        ("ROOT = 1\n", "`ROOT`"),
        ("GCP_REGIONS: tuple[str, ...] = ()\n", "`GCP_REGIONS`"),
        ("__all__ = ['moto_endpoint']\n", "`__all__`"),
        ("import pytest\n@pytest.mark.e2e\ndef helper(): ...\n", "`def helper`"),
    ],
)
def test_rule_1_names_the_conftest_and_the_helper(source: str, names: str) -> None:
    [problem] = conftest_problems("tests/x/conftest.py", source)
    assert problem.startswith(f"tests/x/conftest.py: {RULE_1}: ") and names in problem


@pytest.mark.parametrize(
    "source",
    [
        "from tests.integration.aws.conftest import aws  # noqa\n",
        "from tests.reliability.test_crash import crash_at\n",
        "import tests.e2e.test_crash\n",
        "from tests.e2e import test_crash\n",
        "from . import conftest\n",
        "from .test_gcp_failover_dr import backup\n",
        "def f():\n    from tests.conftest import make_worker\n",
    ],
)
def test_rule_2_names_the_module_and_the_import(source: str) -> None:
    [problem] = import_problems("tests/x/test_y.py", source)
    assert problem.startswith(f"tests/x/test_y.py: {RULE_2}: line ")


def test_rule_2_lets_helpers_and_libraries_be_imported() -> None:
    source = (
        "import pytest\nfrom temporalio.testing import WorkflowEnvironment\n"
        "from tests.helpers.temporal import make_worker\nfrom tests.helpers import gcp\n"
    )
    assert import_problems("tests/x/test_y.py", source) == []


E2E_MODULE = "pytestmark = pytest.mark.e2e\ndef test_a(): ...\nclass TestB:\n  def test_c(self): ...\n"
PER_TEST = "@pytest.mark.e2e\ndef test_a(): ...\n@pytest.mark.e2e\nclass TestB:\n  def test_c(self): ...\n"
LIST_MARK = "pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]\nasync def test_a(): ...\n"
PARTLY = "import pytest\n@pytest.mark.e2e\ndef test_a(): ...\ndef test_b(): ...\n"
UNMARKED = "import pytest\n@pytest.mark.slow\ndef test_a(): ...\n"


@pytest.mark.parametrize("source", [E2E_MODULE, PER_TEST, LIST_MARK])
def test_rule_3_accepts_marked_tests_in_tests_e2e(source: str) -> None:
    assert e2e_problems("tests/e2e/test_x.py", source, in_e2e=True) == []


def test_rule_3_names_an_unmarked_test_in_tests_e2e() -> None:
    [problem] = e2e_problems("tests/e2e/test_x.py", PARTLY, in_e2e=True)
    assert problem == f"tests/e2e/test_x.py: {RULE_3}: test_b is not marked e2e"
    assert len(e2e_problems("tests/e2e/test_x.py", UNMARKED, in_e2e=True)) == 1


@pytest.mark.parametrize("source", [E2E_MODULE, PER_TEST, LIST_MARK, PARTLY])
def test_rule_3_names_an_e2e_test_outside_tests_e2e(source: str) -> None:
    problems = e2e_problems("tests/integration/test_x.py", source, in_e2e=False)
    assert problems and all(p.startswith(f"tests/integration/test_x.py: {RULE_3}: line ") for p in problems)
    assert e2e_problems("tests/integration/test_x.py", UNMARKED, in_e2e=False) == []
