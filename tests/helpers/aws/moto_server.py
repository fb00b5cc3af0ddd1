"""A moto server (all services) on a free port, reached over HTTP like real AWS, and its reset."""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.request
from collections.abc import Iterator

import pytest

from tests.helpers.aws.moto_extensions import install
from tests.helpers.inflight import MOTO_HOLD
from tests.helpers.ports import free_port

#: Fake credentials and a fast moto, for this test process only (restored when the server stops).
MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server with MOTO_ENV set (and no AWS profile or config of the machine), extended with
    what moto lacks (moto_extensions.py); yield its URL."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in MOTO_ENV.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        from moto.server import ThreadedMotoServer

        install()  # percentiles and EC2 quotas, which moto lacks (moto_extensions.py)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        assert server._server is not None
        # Idle unless a crash test arms it: a request made, its answer held (tests/helpers/inflight.py).
        server._server.app = MOTO_HOLD.wrap(server._server.app)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def reset_moto(endpoint: str) -> None:
    """Forget every resource of the moto server (its own reset API)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - local URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the same URL
        pass
