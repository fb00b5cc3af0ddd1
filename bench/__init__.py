"""Benchmarks of globalops on a real Temporal dev server: `make bench` writes bench/RESULTS.md."""
