"""The console-script entry: run the app and keep its exit code (one line for usage errors)."""

from __future__ import annotations

import os
import sys

import typer

from cli.errors import fail_line


def run() -> None:
    """Console-script entry: run the app, then leave without interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop and abort the process
    during CPython finalization ("PyGILState_Release ... finalizing", temporalio/sdk-python
    issue 300), which would turn a successful command into exit code -6. Exiting with
    `os._exit` after flushing keeps the command's real exit code.
    """
    code = 0
    try:
        from cli.main import app

        returned = app(standalone_mode=False)
        code = returned if isinstance(returned, int) else 0
    except typer.Abort:
        code = 130
    except typer.TyperException as exc:
        # Usage errors (exit 2) become one line (DESIGN rule 8), not a boxed usage text.
        code = int(getattr(exc, "exit_code", 1))
        ctx = getattr(exc, "ctx", None)
        where = str(ctx.command_path) if ctx is not None else "globalops"
        format_message = getattr(exc, "format_message", None)
        message = str(format_message()) if callable(format_message) else str(exc)
        if message.strip():  # no_args_is_help has printed the help and has nothing to add
            fail_line(f"{where}: {message} (see `{where} --help`)" if code == 2 else message)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        if not type(exc).__module__.startswith("temporalio."):
            raise  # our own bug: its traceback is what to report
        # A Temporal error no command expected (the server gone mid-call, a refused call): one line.
        code = 1
        fail_line(f"Temporal: {exc}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
