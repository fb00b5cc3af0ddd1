"""Refuse a malformed GLOBALOPS_CODEC_* before any command runs, without importing the codec's crypto
when no codec variable is set (every command runs this check: it must cost nothing then)."""

from __future__ import annotations

import os

#: Every variable workers/codec.py reads starts so (KEY, KEY_ID, PREVIOUS_KEYS).
PREFIX = "GLOBALOPS_CODEC_"


def check_codec_environment() -> None:
    """One line naming the variable, exit 2, when a codec variable is set but malformed."""
    if not any(name.startswith(PREFIX) and value.strip() for name, value in os.environ.items()):
        return  # encryption off: nothing to check (codec_from_env would return None)
    from cli.errors import fail
    from workers.codec import CodecConfigError, codec_from_env

    try:
        codec_from_env()
    except CodecConfigError as exc:
        fail(str(exc))
