"""The base of every model that travels between client, workflow and activity: tolerant of new fields.

A newer CLI or workflow may send a field an older worker does not know; ignoring it keeps a running
operation alive across a rolling upgrade (DESIGN rule 12). Configuration files stay strict: the
loader validates them with `extra="forbid"` (config/loader.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A request, result or value type on the wire: unknown fields are ignored, never an error."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class FrozenWireModel(BaseModel):
    """A value type on the wire that code never changes in place."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
