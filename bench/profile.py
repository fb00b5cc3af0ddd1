"""Where a worker's CPU goes: py-spy samples the worker process, and the samples are summed by part."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"

#: Innermost frames of a thread that waits (for work, a lock, a timer or the network): not CPU. A pool
#: thread whose innermost Python frame is its loop `_worker` is blocked in the work queue's get.
IDLE = re.compile(
    r"^_worker \(concurrent/futures/thread\.py|Condition\.wait|EpollSelector\.select|"
    r"_wait_for_tstate_lock|Event\.wait"
)

#: What a busy sample is spent on, first match wins (a frame anywhere in the stack).
PARTS: list[tuple[str, re.Pattern[str]]] = [
    ("workflow sandbox: importing the workflow modules of each new run", re.compile("_create_workflow_inst")),
    ("payloads: converting and visiting (SDK)", re.compile("PayloadVisitor|DataConverter|converter")),
    ("workflow code and the SDK's activation handling", re.compile(r"_handle_activation|_run_code")),
    ("activities: the sim's SQLite", re.compile(r"sim_store\.py")),
    ("activities: the sim's logic and adapters", re.compile(r"activities/")),
    ("logging", re.compile(r"structlog|logging/__init__")),
    ("thread hand-off and event loop", re.compile("call_soon_threadsafe|_to_self|_from_self|futures")),
]


@dataclass
class Profile:
    """Busy samples by part (share of all busy samples) and the samples that were idle or native."""

    busy: int
    idle: int
    parts: dict[str, float]


@contextlib.contextmanager
def sampling(pid: int, out: Path, rate: int = 50) -> Iterator[None]:
    """Sample `pid` with py-spy (non-blocking: the process is not paused) while the block runs."""
    cmd = [str(PY_SPY), "record", "-p", str(pid), "-r", str(rate), "--nonblocking", "--threads"]
    cmd += ["--format", "raw", "-o", str(out), "-d", "3600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summarise(raw: Path) -> Profile:
    """Sum py-spy's raw (collapsed) stacks by part; idle stacks are counted apart."""
    parts: Counter[str] = Counter()
    busy = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")[1:]
        if not frames or IDLE.search(frames[-1]):  # no Python frame: a native thread, not ours to split
            idle += n
            continue
        busy += n
        part = next((name for name, rx in PARTS if rx.search(stack)), "other")
        parts[part] += n
    return Profile(busy, idle, {name: n / busy for name, n in parts.most_common()})
