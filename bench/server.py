"""A Temporal dev server for one benchmark: `temporal server start-dev`, in memory, on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from contracts.search_attributes import REGISTRATION

TEMPORAL = Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def temporal_version() -> str:
    done = subprocess.run([str(TEMPORAL), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


@dataclass(frozen=True)
class DevServer:
    """A running bench dev server: its gRPC address, its HTTP API address, a pydantic client."""

    address: str
    http_address: str
    client: Client


@contextlib.asynccontextmanager
async def dev_server(log: Path, metrics_port: int | None = None) -> AsyncIterator[DevServer]:
    """Start a dev server (no Web UI, in-memory SQLite) and yield it.

    `metrics_port`: where its Prometheus metrics go (B6 reads the `action` counter there).
    """
    port, http_port = free_port(), free_port()
    cmd = [
        str(TEMPORAL),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port or free_port()),
        "--headless",
        "--log-level",
        "error",
    ]
    for name, kind in REGISTRATION.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        client = await _connect(address, proc)
        yield DevServer(address=address, http_address=f"127.0.0.1:{http_port}", client=client)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def _connect(address: str, proc: subprocess.Popen[bytes]) -> Client:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {proc.returncode}")
        try:
            return await Client.connect(address, data_converter=pydantic_data_converter)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
