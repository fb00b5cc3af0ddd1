"""`dev up` must not mistake a killed, unreaped worker for a running one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli.dev import _pid_alive


def test_a_running_process_is_alive_and_an_exited_unreaped_one_is_not(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    pid_file.write_text(str(os.getpid()))
    assert _pid_alive(pid_file) == os.getpid()

    child = subprocess.Popen([sys.executable, "-c", "pass"])
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
