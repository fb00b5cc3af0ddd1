"""Optional AES-GCM payload encryption, so Temporal's history never holds our inputs or results in clear.

Every payload the SDK writes (workflow and activity inputs and results, update arguments,
queries, summaries, failure messages) becomes one `binary/encrypted` payload: a 12-byte
random nonce followed by the AES-256-GCM ciphertext of the original serialized Payload,
authenticated with the key id. The key id travels in the metadata so keys can rotate:
a process decrypts with any key it holds and encrypts with the current one.

Configured from the environment (absent → no encryption):
  GLOBALOPS_CODEC_KEY_ID          the current key's id, e.g. `2026-01`
  GLOBALOPS_CODEC_KEY             base64 of 32 random bytes
  GLOBALOPS_CODEC_PREVIOUS_KEYS   optional, `id=base64,id=base64`: old keys, for decrypting only
Search attributes are not payload-encoded (the server indexes them): they stay plaintext.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

KEY_ID_VAR = "GLOBALOPS_CODEC_KEY_ID"
KEY_VAR = "GLOBALOPS_CODEC_KEY"
PREVIOUS_KEYS_VAR = "GLOBALOPS_CODEC_PREVIOUS_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
GENERATE_HINT = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"


class CodecConfigError(ValueError):
    """The encryption variables are set but unusable; the message names the variable, never the key."""


class PayloadDecryptionError(ValueError):
    """A payload cannot be decrypted: unknown key id, wrong key, or tampered bytes."""


class AesGcmCodec(PayloadCodec):
    """Encrypts every payload with the current key; decrypts with whichever known key the payload names."""

    def __init__(self, key_id: str, key: bytes, previous: Mapping[str, bytes] | None = None) -> None:
        for kid, k in {key_id: key, **(previous or {})}.items():
            if not _KEY_ID.match(kid):
                raise CodecConfigError(f"key id '{kid}' must be 1-64 of letters, digits, '.', '_' or '-'")
            if len(k) != KEY_BYTES:
                raise CodecConfigError(f"key '{kid}' must be {KEY_BYTES} bytes (AES-256), not {len(k)}")
        # Imported here: a process without a codec key (most CLI commands) never loads the crypto library.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.key_id = key_id
        self._ciphers = {kid: AESGCM(k) for kid, k in (previous or {}).items()}
        self._ciphers[key_id] = AESGCM(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload whole (metadata included), under the current key."""
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt `binary/encrypted` payloads; others (written before encryption was on) pass through."""
        return self.decode_sync(payloads)

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        """`encode` without an event loop, for the codec server's threads."""
        return [self._encrypt(p) for p in payloads]

    def decode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        """`decode` without an event loop, for the codec server's threads."""
        return [self._decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        kid = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            known = ", ".join(sorted(self._ciphers))
            raise PayloadDecryptionError(
                f"payload is encrypted with key id '{kid}', which this process does not hold "
                f"(known: {known}); add it to {PREVIOUS_KEYS_VAR}"
            )
        if len(payload.data) <= NONCE_BYTES:
            raise PayloadDecryptionError(f"encrypted payload (key id '{kid}') is truncated")
        from cryptography.exceptions import InvalidTag

        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"cannot decrypt payload with key id '{kid}': "
                "wrong key for that id, or the bytes were altered"
            ) from None
        return Payload.FromString(plain)


def _decode_key(var: str, text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CodecConfigError(
            f"{var} is not valid base64 (want base64 of {KEY_BYTES} random bytes; make one with: "
            f"{GENERATE_HINT})"
        ) from None
    if len(key) != KEY_BYTES:
        raise CodecConfigError(
            f"{var} decodes to {len(key)} bytes, not {KEY_BYTES} (AES-256; make one with: {GENERATE_HINT})"
        )
    return key


def _check_key_id(var: str, kid: str) -> str:
    if not _KEY_ID.match(kid):
        raise CodecConfigError(f"{var}: key id '{kid}' must be 1-64 of letters, digits, '.', '_' or '-'")
    return kid


def codec_from_env(environ: Mapping[str, str] | None = None) -> AesGcmCodec | None:
    """The codec the environment asks for; None when encryption is off; CodecConfigError when malformed."""
    env = os.environ if environ is None else environ
    key_id, key_text = env.get(KEY_ID_VAR, "").strip(), env.get(KEY_VAR, "").strip()
    previous_text = env.get(PREVIOUS_KEYS_VAR, "").strip()
    if not key_id and not key_text:
        if previous_text:
            raise CodecConfigError(f"{PREVIOUS_KEYS_VAR} is set but {KEY_ID_VAR} and {KEY_VAR} are not")
        return None
    if not key_id:
        raise CodecConfigError(f"{KEY_VAR} is set but {KEY_ID_VAR} is not: set both, or neither")
    if not key_text:
        raise CodecConfigError(f"{KEY_ID_VAR} is set but {KEY_VAR} is not: set both, or neither")
    current = _decode_key(KEY_VAR, key_text)
    previous: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in previous_text.split(","))):
        kid, sep, text = item.partition("=")
        if not sep:
            raise CodecConfigError(f"{PREVIOUS_KEYS_VAR}: entries are `id=base64`, comma-separated")
        previous[_check_key_id(PREVIOUS_KEYS_VAR, kid.strip())] = _decode_key(
            f"{PREVIOUS_KEYS_VAR} ({kid.strip()})", text
        )
    return AesGcmCodec(_check_key_id(KEY_ID_VAR, key_id), current, previous)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic converter, plus the codec (and failure messages moved into encrypted payloads) if any."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter_from_env(environ: Mapping[str, str] | None = None) -> DataConverter:
    """The converter for this process's environment (CodecConfigError when the variables are malformed)."""
    return data_converter(codec_from_env(environ))
