"""Where globalops keeps local state, so worker, CLI and tests agree on one place."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent


def state_dir() -> Path:
    """The state folder: $GLOBALOPS_HOME, else `.globalops` in the working directory."""
    home = os.environ.get("GLOBALOPS_HOME")
    path = Path(home) if home else Path.cwd() / ".globalops"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_topology_path() -> Path:
    """The topology shipped with globalops (16 regions, all on the sim)."""
    return DEFAULTS_DIR / "topology.yaml"


def default_policies_path() -> Path:
    """The production-grade default policies (bake times in hours)."""
    return DEFAULTS_DIR / "policies.yaml"
