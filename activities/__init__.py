"""Idempotent activities that touch the clouds."""
