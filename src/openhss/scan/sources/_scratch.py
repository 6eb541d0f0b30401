"""Spool files for sources whose store only hands out a whole-image archive (daemon, containerd)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from openhss.scan.errors import ImageOversized


def scratch_file(scratch_dir: Path | None, suffix: str) -> Path:
    """A new empty file in the scratch dir (or the system temp dir), owned by the caller."""
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="openhss-", suffix=suffix, dir=scratch_dir)
    os.close(fd)
    return Path(name)


def check_spool_size(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        path.unlink(missing_ok=True)
        raise ImageOversized(f"exported image is {size} bytes, larger than the maximum of {limit}")
