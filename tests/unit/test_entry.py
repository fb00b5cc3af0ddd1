"""The console entry turns an unexpected Temporal error into one line and exit 1, not a traceback."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
from temporalio.service import RPCError, RPCStatusCode

import cli.main
from cli import entry


class Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def run_with(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> int:
    """Run the entry with an app that raises `error`; the exit code it would leave with."""

    def app(**_: object) -> NoReturn:
        raise error

    def exit_(code: int) -> NoReturn:
        raise Exited(code)

    monkeypatch.setattr(cli.main, "app", app)
    monkeypatch.setattr(os, "_exit", exit_)
    with pytest.raises(Exited) as exited:
        entry.run()
    return exited.value.code


def test_a_temporal_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_with(monkeypatch, RPCError("Namespace default is not found", RPCStatusCode.NOT_FOUND, b""))
    assert code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: Temporal: Namespace default is not found"]


def test_any_other_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def app(**_: object) -> NoReturn:
        raise ValueError("a bug of ours")

    monkeypatch.setattr(cli.main, "app", app)
    with pytest.raises(ValueError, match="a bug of ours"):
        entry.run()
