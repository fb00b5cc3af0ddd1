"""One way for the CLI to refuse bad input: a single clear line and exit code 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

BAD_INPUT = 2
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail_line(message: str) -> None:
    """Print `error: <message>` on one line to stderr."""
    _stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, emoji=False)


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """Print `error: <message>` on one line to stderr and exit (2 = bad input, nothing started)."""
    fail_line(message)
    raise typer.Exit(code)
