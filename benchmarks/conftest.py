"""Benchmarks run on demand: `python -m pytest benchmarks/ --benchmark-only`."""
