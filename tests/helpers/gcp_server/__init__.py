"""A local Compute REST test server for the GCP adapter (no GCP emulator exists)."""

from tests.helpers.gcp_server.server import ComputeTestServer

__all__ = ["ComputeTestServer"]
