"""Real distribution root filesystems for tests, built once with debootstrap and cached.

A minbase debootstrap takes ~30 s and needs the network, so the result is cached under
`~/.cache/openhss-tests/rootfs/<suite>-<variant>/` (keyed by suite, variant and mirror) and shared by
every test session. The build goes to a temporary sibling directory and is renamed into place only when
complete, under a file lock, so parallel sessions never see a half-built tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("OPENHSS_TEST_CACHE", Path.home() / ".cache" / "openhss-tests"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 or one-line sources), else the default."""
    for src in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]:
        if not src.is_file():
            continue
        text = src.read_text(errors="replace")
        m = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s", text, re.M
        )
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


def debootstrap_rootfs(suite: str = "bookworm", variant: str = "minbase", mirror: str | None = None) -> Path:
    """Return a cached debootstrap root filesystem; skip the test when it cannot be built here."""
    mirror = mirror or debian_mirror()
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (scripts/test-debs.txt lists it)")
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root (device nodes)")
    key = hashlib.sha256(f"{suite}|{variant}|{mirror}".encode()).hexdigest()[:12]
    base = CACHE / "rootfs"
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{suite}-{variant}-{key}"
    # The marker lives beside the tree, so the rootfs itself stays exactly what debootstrap made.
    marker = base / f"{target.name}.complete"
    if marker.is_file() and target.is_dir():
        return target
    with open(base / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and target.is_dir():
            return target
        tmp = base / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(
            ["debootstrap", f"--variant={variant}", suite, str(tmp), mirror],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"debootstrap {suite} failed: {proc.stderr[-500:]}")
        # What debootstrap leaves behind that no image would carry.
        for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        marker.write_text(f"{suite} {variant} {mirror}\n")
    return target
