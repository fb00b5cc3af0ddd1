"""The moto server and the Compute REST test server, shared with the AWS and GCP suites."""

from tests.integration.aws.conftest import moto_endpoint
from tests.integration.gcp.conftest import gcp_server

__all__ = ["gcp_server", "moto_endpoint"]
