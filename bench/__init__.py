"""Throughput measurements, run from the repository root: `python -m bench.broadcast`."""
