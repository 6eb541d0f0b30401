"""Per-distro descriptors (see `base.py`); the list is `registry.DISTROS`."""
