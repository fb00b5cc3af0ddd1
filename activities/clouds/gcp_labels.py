"""Label codec and resource names: GCE labels allow only [a-z0-9_-], at most 63 characters.

A value is stored with a one-letter prefix saying how to read it back:
`p` plain (already in the charset, <= 62 chars), `x` an even-length hex string as base32 of
its bytes (a sha256 fits: 53 chars), `b` base32 of short UTF-8 (<= 38 bytes). Anything longer
is refused; keys are never stored whole in labels, only their digest (and whole in descriptions).
"""

from __future__ import annotations

import base64
import re

from activities.clouds.gcp_api import digest
from contracts.errors import InvalidRequest

PREFIX = "gops-"
SERVICE, ENV, KEY, KIND = "gops-service", "gops-env", "gops-key", "gops-kind"
SOURCE_REGION, TAKEN_AT, CHECKSUM, WATERMARK = "gops-src", "gops-taken-at", "gops-checksum", "gops-mark"
COPY_OF, SNAPSHOT, RELEASE = "gops-copy-of", "gops-snapshot", "gops-release"

_PLAIN = re.compile(r"[a-z0-9_-]{0,62}")
_HEX = re.compile(r"(?:[0-9a-f]{2}){1,39}")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def encode(value: str) -> str:
    """A label value that decodes back to exactly `value`."""
    if _PLAIN.fullmatch(value):
        return "p" + value
    if _HEX.fullmatch(value):
        return "x" + _b32(bytes.fromhex(value))
    raw = value.encode()
    if len(raw) <= 38:
        return "b" + _b32(raw)
    raise InvalidRequest(f"gcp: value {value[:40]!r}... is too long for a label (max 38 bytes)")


def decode(label: str) -> str:
    kind, body = label[:1], label[1:]
    if kind == "p":
        return body
    if kind == "x":
        return _unb32(body).hex()
    if kind == "b":
        return _unb32(body).decode()
    raise ValueError(f"not a globalops label value: {label!r}")


def key_label(key: str) -> str:
    """The searchable stand-in of an idempotency key (its digest)."""
    return "k" + digest(key, 40)


def name_for(prefix: str, key: str) -> str:
    """A valid GCE resource name derived from a key, so a retry addresses the same resource."""
    return f"gos-{prefix}-{digest(key, 24)}"


def slug(text: str) -> str:
    """`text` in the GCE name charset (lowercase, digits, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def template_name(service: str, release: str) -> str:
    """The instance template of a release: readable, and unique per exact release string."""
    return f"{slug(service)[:30]}-{slug(release)[:20]}-{digest(service + '/' + release, 8)}".lstrip("-")


def label_filter(labels: dict[str, str]) -> str:
    return " AND ".join(f'labels.{k} = "{v}"' for k, v in sorted(labels.items()))
