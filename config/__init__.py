"""Typed configuration: topology and policies, validated before anything starts."""
