"""Fill `${NAME}` in a notification or hook URL from the worker's environment, and keep the values secret.

The filled URL exists only inside the activity: it is never returned, raised or logged. While a
call runs, its secret values are registered with a logging filter on the HTTP libraries' loggers
(Apprise's, urllib3's), so even their DEBUG lines (URLs with paths and query strings) show `***`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from config.notify import MissingVariable, expand, template_names

__all__ = ["MASK", "fill", "hiding", "redact"]

MASK = "***"
#: Loggers that may print a URL with its path or query string (the places a secret sits).
NOISY_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


def fill(template: str, what: str) -> tuple[str, list[str]]:
    """(the URL with its variables filled in, their values). A missing variable is a non-retryable
    error naming the variable and the template, never a value: another attempt would not find it."""
    try:
        url = expand(template, os.environ)
    except MissingVariable as missing:
        raise ApplicationError(
            f"{what} {template}: environment variable {missing.name} is not set on this worker",
            type="MissingSecret",
            non_retryable=True,
        ) from None
    return url, [os.environ[name] for name in template_names(template)]


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


class _Redactor(logging.Filter):
    """Masks the secret values of the calls in flight in every record of the loggers it sits on."""

    def __init__(self) -> None:
        super().__init__("globalops.secrets")
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()

    def add(self, secrets: list[str]) -> None:
        with self._lock:
            self._active.update(s for s in secrets if s)

    def remove(self, secrets: list[str]) -> None:
        with self._lock:
            self._active.subtract(s for s in secrets if s)
            self._active = +self._active  # drop the values no call uses any more

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            active = list(self._active)
        if active:
            message = record.getMessage()
            masked = redact(message, active)
            if masked != message:
                record.msg, record.args = masked, ()
        return True


_REDACTOR = _Redactor()
for _name in NOISY_LOGGERS:
    if _REDACTOR not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_REDACTOR)


@contextmanager
def hiding(secrets: list[str]) -> Iterator[None]:
    """While the block runs, the HTTP libraries' log lines show *** for these values."""
    _REDACTOR.add(secrets)
    try:
        yield
    finally:
        _REDACTOR.remove(secrets)
