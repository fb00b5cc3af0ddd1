"""The consoles commands print to, importable without the Temporal SDK (cli/follow.py imports it)."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True)
