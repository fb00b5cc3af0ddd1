"""The worker profile's summary: waiting and native threads are left out, busy samples go to their part."""

from __future__ import annotations

from pathlib import Path

from bench.profile import summarise

#: py-spy's raw format: one stack per line, frames outermost first, then the sample count.
SAMPLES = [
    (["MainThread", "run (asyncio/runners.py:118)", "EpollSelector.select (selectors.py:468)"], 50),
    (["Thread-1", "Thread.run (threading.py:982)", "_worker (concurrent/futures/thread.py:83)"], 30),
    (["tokio-runtime-worker"], 20),  # a native thread: no Python frame
    (
        [
            "Thread-1",
            "_worker (concurrent/futures/thread.py:83)",
            "_WorkItem.run (concurrent/futures/thread.py:58)",
            "SimStore._transaction (activities/clouds/sim_store.py:194)",
        ],
        6,
    ),
    (["MainThread", "_create_workflow_instance (temporalio/worker/_workflow.py:668)", "exec (x.py:1)"], 3),
    (["MainThread", "Handle._run (asyncio/events.py:80)", "something_else (x.py:1)"], 1),
]
RAW = "\n".join(f"thread (1): {';'.join(frames)} {n}" for frames, n in SAMPLES) + "\nnot a sample line\n"


def test_idle_and_native_samples_are_left_out_and_busy_ones_go_to_their_part(tmp_path: Path) -> None:
    raw = tmp_path / "worker.pyspy"
    raw.write_text(RAW)
    profile = summarise(raw)
    assert (profile.busy, profile.idle) == (10, 100)
    assert profile.parts == {
        "activities: the sim's SQLite": 0.6,
        "workflow sandbox: importing the workflow modules of each new run": 0.3,
        "other": 0.1,
    }
    assert list(profile.parts) == sorted(profile.parts, key=lambda k: -profile.parts[k])
