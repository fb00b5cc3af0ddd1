"""Here `topology` is the moto one of tests/conftest.py: four regions (two on AWS), provisioned per test."""

from __future__ import annotations

import pytest

from config.models import Topology


@pytest.fixture
def topology(moto_topology: Topology) -> Topology:
    return moto_topology
