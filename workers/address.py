"""Where Temporal is (address, namespace) from the environment, without importing the SDK."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_ADDRESS = "localhost:7233"


def temporal_address() -> str:
    """The address the client will use, for messages."""
    return os.environ.get("TEMPORAL_ADDRESS", DEFAULT_ADDRESS)


def namespace(environ: Mapping[str, str] | None = None) -> str:
    """The namespace the client will use, for Web UI links."""
    return (os.environ if environ is None else environ).get("TEMPORAL_NAMESPACE", "default")
