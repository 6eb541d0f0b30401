"""Advisory sources: one module per feed family, listed in `registry.py`."""
