"""The settings every configuration model shares: frozen, tolerant on the wire, strict in files.

Topology and policies travel inside workflow inputs, so an older worker must accept a field a newer
CLI added (DESIGN rule 12): the models ignore unknown fields. Files are read through
`config.loader`, which validates with `extra="forbid"` and names the file and the unknown field.

`defer_build`: a model's validator is built when it is first used, not when its module is imported,
so a command that validates one model (`rollout status`) does not build all of them (pydantic 2.14
builds under a lock, so threads may race to a first use safely). The worker builds them all before
it runs anything (workers/main.py: build_models), so no workflow task or activity pays a first-use
build (B5's real 100-region rollout: 16.30 s, the same as before models were deferred, 16.29 s).
"""

from __future__ import annotations

from pydantic import ConfigDict

CONFIG = ConfigDict(extra="ignore", frozen=True, defer_build=True)
