"""Analyzers: one module each, listed in `registry.py`; all share one pass over each layer."""
