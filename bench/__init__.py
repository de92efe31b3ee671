"""Benchmarks of the analytics recompute (run as ``python -m bench.<module>``; see README.md)."""
