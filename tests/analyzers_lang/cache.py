"""Build-once fixtures (pip/npm installs, Go builds) cached under `~/.cache/openhss-tests/`, keyed by
their inputs; built in a temporary sibling and renamed into place under a lock, so parallel sessions
never see a half-built tree."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.support.rootfs import CACHE


def cached_dir(kind: str, key: str, build: Callable[[Path], None]) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    base = CACHE / "lang"
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{kind}-{digest}"
    if target.is_dir():
        return target
    with (base / f".{kind}-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        tmp = base / f".{kind}-{digest}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            build(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        tmp.rename(target)
    return target
