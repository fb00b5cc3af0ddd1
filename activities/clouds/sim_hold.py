"""A test-only hook of the simulated cloud: hold a keyed change's answer after the change is made.

Crash tests kill the worker while a mutating call is "in flight": the cloud has made the change,
the answer has not reached the activity. Off unless GLOBALOPS_SIM_HOLD names a directory (never
set outside tests). A file `<dir>/<op>.arm` makes the next keyed change `op` rename it to
`<op>.held` (one call wins the rename) and wait before answering: the test sees the file and kills
the worker then. The wait ends by itself after HOLD_LIMIT_S, so a missed kill only slows a test.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: The environment variable naming the directory of arm files; unset: the hook does nothing.
ENV = "GLOBALOPS_SIM_HOLD"
#: Longest a held answer waits for the kill.
HOLD_LIMIT_S = 60.0


def hold_after(op: str) -> None:
    """Called once the change `op` is committed: wait here if a test armed `op` (see the module doc)."""
    where = os.environ.get(ENV)
    if not where:
        return
    try:
        (Path(where) / f"{op}.arm").rename(Path(where) / f"{op}.held")
    except FileNotFoundError:
        return  # not armed (or another call took it)
    end = time.monotonic() + HOLD_LIMIT_S
    while time.monotonic() < end:
        time.sleep(0.05)
