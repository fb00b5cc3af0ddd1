"""Durable Temporal workflows and the pure decision logic they use."""
