"""The settings every configuration model shares: frozen, tolerant on the wire, strict in files.

Topology and policies travel inside workflow inputs, so an older worker must accept a field a newer
CLI added (DESIGN rule 12): the models ignore unknown fields. Files are read through
`config.loader`, which validates with `extra="forbid"` and names the file and the unknown field.

`defer_build`: a model's validator is built when it is first used, not when its module is imported,
so a command that validates one model (`rollout status`) does not build all of them (pydantic 2.14
builds under a lock, so the worker's threads may race to a first use safely).
"""

from __future__ import annotations

from pydantic import ConfigDict

CONFIG = ConfigDict(extra="ignore", frozen=True, defer_build=True)
