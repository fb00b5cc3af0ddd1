"""`dev up` / `dev down` act only on the processes they started: not a zombie, not a reused pid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.dev import _pid_alive


@contextmanager
def daemon(*marker: str, new_session: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """A process that waits on its stdin, its command line ending with `marker`, like `dev up` starts."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()", *marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=new_session,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # it runs its own command line now (until exec, /proc shows the parent's)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_running_worker_or_server_we_started_is_alive(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    for marker in (("-m", "cli.main", "worker"), ("server", "start-dev")):
        with daemon(*marker) as proc:
            pid_file.write_text(str(proc.pid))
            assert _pid_alive(pid_file) == proc.pid


def test_a_pid_reused_by_another_process_is_not_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    pid_file.write_text(str(os.getpid()))  # this test runner: not a session leader, not our command
    assert _pid_alive(pid_file) is None
    with daemon("something-else") as proc:  # a session leader running another program
        pid_file.write_text(str(proc.pid))
        assert _pid_alive(pid_file) is None
    with daemon("cli.main", new_session=False) as proc:  # our command, but not the session we started
        pid_file.write_text(str(proc.pid))
        assert _pid_alive(pid_file) is None


def test_an_exited_unreaped_worker_is_not_alive(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    child = subprocess.Popen([sys.executable, "-c", "pass", "cli.main"], start_new_session=True)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # it has exited; not reaped: a zombie
    pid_file.write_text(str(child.pid))
    try:
        assert _pid_alive(pid_file) is None
    finally:
        child.wait()
    assert _pid_alive(pid_file) is None  # reaped: gone


def test_a_missing_or_garbled_pid_file_means_not_running(tmp_path: Path) -> None:
    assert _pid_alive(tmp_path / "absent.pid") is None
    garbled = tmp_path / "garbled.pid"
    garbled.write_text("not a pid")
    assert _pid_alive(garbled) is None
