"""docs/cli.md is generated from the typer app (`make cli-docs`): fail when the committed page is stale.

The page is generated exactly as the Makefile's `cli-docs` target does it (typer's own `utils docs`
on `cli.main`, with a fixed terminal and no colour, so the page does not depend on the machine),
into a temporary file, and compared with the committed one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.md"
#: The environment of `make cli-docs` (CLI_DOCS_ENV in the Makefile); keep the two the same.
CLI_DOCS_ENV = {"COLUMNS": "80", "TERMINAL_WIDTH": "80", "NO_COLOR": "1", "TERM": "dumb"}


def generate(output: Path) -> str:
    """Write the CLI reference of `cli.main:app` to `output`, as `make cli-docs` does, and return it."""
    argv = [sys.executable, "-m", "typer", "cli.main", "utils", "docs", "--name", "globalops"]
    subprocess.run(
        [*argv, "--output", str(output)],
        cwd=ROOT,
        env={**os.environ, **CLI_DOCS_ENV},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return output.read_text(encoding="utf-8")


def test_the_committed_cli_reference_is_what_the_app_generates(tmp_path: Path) -> None:
    fresh = generate(tmp_path / "cli.md")
    committed = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    assert committed == fresh, "docs/cli.md is stale: run `make cli-docs`"


def test_the_makefile_generates_the_page_with_the_same_environment() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    expected = " ".join(f"{name}={value}" for name, value in CLI_DOCS_ENV.items())
    assert f"CLI_DOCS_ENV := {expected}\n" in makefile
    command = "$(CLI_DOCS_ENV) $(VENV)/bin/typer cli.main utils docs --name globalops --output docs/cli.md"
    assert command in makefile
