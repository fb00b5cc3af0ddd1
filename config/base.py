"""The settings every configuration model shares: frozen, tolerant on the wire, strict in files.

Topology and policies travel inside workflow inputs, so an older worker must accept a field a newer
CLI added (DESIGN rule 12): the models ignore unknown fields. Files are read through
`config.loader`, which validates with `extra="forbid"` and names the file and the unknown field.
"""

from __future__ import annotations

from pydantic import ConfigDict

CONFIG = ConfigDict(extra="ignore", frozen=True)
