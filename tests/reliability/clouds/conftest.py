"""The AWS (moto) fixtures, overriding the sim-only `topology` and `sim` of tests/conftest.py here."""

from tests.integration.aws.conftest import aws, executor, moto_endpoint, sim, topology  # noqa: F401
