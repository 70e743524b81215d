"""Benchmarks of appgraph, each measured against a baseline in the same run.

Run all with ``python -m bench`` or one with ``python -m bench NAME``. The
results and the machine they came from are recorded in docs/benchmarks.md.
"""
