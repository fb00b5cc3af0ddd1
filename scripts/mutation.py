"""`make mutation`: mutation testing of the pure decision logic, one module at a time (docs/mutation.md).

Each module is mutated by mutmut against its own unit test file only, in a work directory of its
own, mutants/<module>/, made afresh on every run: a symlink to the module's package, copies of the
test file and of the __init__.py / conftest.py files above it, a symlink to tests/helpers/ (the
root conftest imports it), and a pyproject.toml with the
project's pytest options and a `[tool.mutmut]` table: this repository's shared settings plus the
module (only_mutate), its package (source_paths) and its test file (the test selection). mutmut
copies all that into mutants/<module>/mutants/, where the tests import the mutated code from.

The counts are mutmut's own (`mutmut export-cicd-stats`; `mutmut results` names the survivors).
Prints one line per module; exits 1 when a module scores under its threshold (after the diff of
each of its survivors), 2 when mutmut itself fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"


@dataclass(frozen=True)
class Module:
    name: str
    source: str  # the file mutated, relative to the repository
    tests: str  # its unit test file: the only tests run against its mutants (with `more_tests`)
    threshold: float = 95.0  # per cent of the mutants killed
    more_tests: tuple[str, ...] = ()  # other unit test files of the same module

    @property
    def test_files(self) -> list[str]:
        return [self.tests, *self.more_tests]


MODULES = [
    Module("planning", "workflows/logic/planning.py", "tests/unit/test_planning.py"),
    Module(
        "failover_logic",
        "workflows/logic/failover.py",
        "tests/unit/test_failover_logic.py",
        more_tests=("tests/unit/test_global_traffic_logic.py",),
    ),
    Module("dr_logic", "workflows/logic/dr.py", "tests/unit/test_dr_logic.py"),
    Module("drill_report", "workflows/logic/drill_report.py", "tests/unit/test_drill_report.py"),
    Module("markdown", "workflows/logic/markdown.py", "tests/unit/test_markdown.py"),
    Module("judge", "activities/judge.py", "tests/unit/test_judge.py"),
    Module("change", "workflows/logic/change.py", "tests/unit/test_change_logic.py"),
    Module("readiness_logic", "workflows/logic/readiness.py", "tests/unit/test_readiness_logic.py"),
    Module("practice_logic", "workflows/logic/practice.py", "tests/unit/test_practice_logic.py"),
    Module("triggers", "contracts/triggers.py", "tests/unit/test_triggers.py"),
]


@dataclass
class Result:
    module: Module
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)  # mutmut-cicd-stats.json
    survivors: dict[str, str] = field(default_factory=dict)  # every mutant not killed: name -> status
    error: str | None = None

    @property
    def mutants(self) -> int:
        return self.stats.get("total", 0) - self.stats.get("skipped", 0)

    @property
    def killed(self) -> int:
        # As mutmut's own badge counts: a mutant that makes the tests time out is caught too.
        return self.stats.get("killed", 0) + self.stats.get("timeout", 0)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.mutants if self.mutants else 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.mutants > 0 and self.score >= self.module.threshold


def _toml_table(name: str, values: dict[str, Any]) -> str:
    """A TOML table of strings, numbers, booleans and lists of them (written as in JSON, valid TOML)."""
    return "\n".join([f"[{name}]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]) + "\n"


def prepare(module: Module) -> Path:
    """A fresh work directory for `module` (see the module docstring)."""
    work = WORK / module.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    package = Path(module.source).parts[0]
    (work / package).symlink_to(ROOT / package, target_is_directory=True)
    tests = [Path(t) for t in module.test_files]
    wanted = [
        *tests,
        *(d / name for d in tests[0].parents if d != Path(".") for name in ("__init__.py", "conftest.py")),
    ]
    for path in wanted:
        if (ROOT / path).is_file():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, work / path)
    # The root conftest.py imports the plain helpers (tests/helpers/); they are never mutated.
    (work / "tests" / "helpers").symlink_to(ROOT / "tests" / "helpers", target_is_directory=True)

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    # addopts only serves make test's parallel run (pytest-xdist); the test selection is mutmut's.
    pytest_options = {
        key: value
        for key, value in pyproject["tool"]["pytest"]["ini_options"].items()
        if key not in {"addopts", "testpaths"}
    }
    mutmut_options = {
        **pyproject["tool"]["mutmut"],
        "source_paths": [package],
        "only_mutate": [module.source],
        "pytest_add_cli_args_test_selection": module.test_files,
    }
    text = _toml_table("tool.pytest.ini_options", pytest_options) + "\n"
    text += _toml_table("tool.mutmut", mutmut_options)
    (work / "pyproject.toml").write_text(text, "utf-8")
    return work


def mutmut(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No bytecode caches: the mutated copies are thrown away, and none is written next to the real code.
    return subprocess.run(
        [str(MUTMUT), *args],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def run_module(module: Module, children: int) -> Result:
    start = time.monotonic()
    work = prepare(module)
    run = mutmut(work, "run", "--max-children", str(children))
    output = run.stdout + run.stderr
    (work / "mutmut-run.log").write_text(output, "utf-8")
    if run.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        return Result(module, time.monotonic() - start, error=f"mutmut run exited {run.returncode}:\n{tail}")
    export = mutmut(work, "export-cicd-stats")
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    if export.returncode != 0 or not stats_file.is_file():
        return Result(module, time.monotonic() - start, error=f"mutmut export-cicd-stats: {export.stdout}")
    survivors = {}
    for line in mutmut(work, "results").stdout.splitlines():  # "    <mutant name>: <status>", not killed
        name, colon, status = line.strip().rpartition(": ")
        if colon and name and status != "timeout":  # a timeout is caught (see Result.killed)
            survivors[name] = status
    stats = json.loads(stats_file.read_text("utf-8"))
    return Result(module, time.monotonic() - start, stats=stats, survivors=survivors)


def show_survivors(result: Result) -> None:
    """Each mutant of `result` that was not killed, with its diff (`mutmut show`)."""
    work = WORK / result.module.name
    tests = ", ".join(result.module.test_files)
    print(f"\n=== {result.module.name}: {len(result.survivors)} mutants not killed by {tests}")
    for name, status in sorted(result.survivors.items()):
        print(f"\n--- {status}: {name}\n{mutmut(work, 'show', name).stdout.rstrip()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "modules", nargs="*", help=f"modules to run (default: all of {[m.name for m in MODULES]})"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="modules at once (default: CPUs)"
    )
    parser.add_argument("--children", type=int, default=1, help="mutmut run --max-children per module")
    parser.add_argument(
        "--show", action="store_true", help="show the survivors of every module, not only failing"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - {m.name for m in MODULES})
    if unknown:
        parser.error(f"unknown modules {unknown}; known: {[m.name for m in MODULES]}")
    chosen = [m for m in MODULES if not args.modules or m.name in args.modules]

    # One mutmut per CPU beats mutmut's own parallelism here (its children re-run pytest's start-up);
    # the biggest modules go first so that the small ones fill in at the end.
    start = time.monotonic()
    biggest_first = sorted(chosen, key=lambda m: (ROOT / m.source).stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, min(args.jobs, len(chosen)))) as pool:
        done = dict(
            zip(biggest_first, pool.map(lambda m: run_module(m, args.children), biggest_first), strict=True)
        )
    results = [done[m] for m in chosen]

    print(f"{'module':<16}{'mutants':>8}{'killed':>8}{'survived':>10}{'score':>9}{'min':>6}  time")
    for r in results:
        if r.error is not None:
            print(f"{r.module.name:<16}ERROR {r.error}")
            continue
        others = {
            k: v for k, v in r.stats.items() if v and k not in {"total", "killed", "timeout", "survived"}
        }
        print(
            f"{r.module.name:<16}{r.mutants:>8}{r.killed:>8}{r.stats.get('survived', 0):>10}{r.score:>8.1f}%"
            f"{r.module.threshold:>5.0f}%  {r.seconds:4.0f}s  {'ok' if r.ok else 'UNDER THRESHOLD'}"
            + (f"  (not killed, not survived: {others})" if others else "")
        )
    print(f"mutation testing took {time.monotonic() - start:.0f}s")

    failed = [r for r in results if not r.ok]
    for r in results:
        if r.error is None and r.survivors and (args.show or not r.ok):
            show_survivors(r)
    if failed:
        mutmut_there = os.path.relpath(MUTMUT, WORK / "module")
        print(f"\nInspect a mutant: cd mutants/<module> && {mutmut_there} show <name>")
    print(f"mutation: {len(results) - len(failed)} passed, {len(failed)} failed")
    if any(r.error is not None for r in results):
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
