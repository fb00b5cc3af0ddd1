"""Connects to Temporal from temporalio.envconfig (env vars, TOML profiles), with the pydantic converter."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError, RPCStatusCode

from contracts.search_attributes import REGISTRATION
from workers.address import DEFAULT_ADDRESS
from workers.codec import data_converter_from_env


async def connect() -> Client:
    """A client for TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TLS / API key (default localhost:7233).

    Payloads are encrypted when GLOBALOPS_CODEC_KEY_ID / GLOBALOPS_CODEC_KEY are set (workers/codec.py);
    a malformed key raises workers.codec.CodecConfigError before any connection is tried.
    """
    converter = data_converter_from_env()
    config = ClientConfig.load_client_connect_config()
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return await Client.connect(**config, data_converter=converter)


_INDEXED = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


async def register_search_attributes(client: Client) -> None:
    """Register globalops' custom search attributes on a server that lacks them (dev server: at start)."""
    for name, kind in REGISTRATION.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace, search_attributes={name: _INDEXED[kind]}
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
