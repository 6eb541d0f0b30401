"""Real Debian packages for tests: downloaded once with `apt-get download`, unpacked as dpkg would.

`install_debs` writes what dpkg itself leaves on disk for an installed package (the payload, the
`info/NAME.list` file list and a `status` stanza), without running maintainer scripts, so a layer built
from it is what `apt-get install` would produce as far as any analyzer can see.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.rootfs import CACHE

_STATUS_FIELDS = ("Package", "Source", "Version", "Architecture", "Maintainer")


def download_debs(names: list[str]) -> list[Path]:
    """The .debs of the machine's apt candidates for `names`, cached per session set; skip if offline."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb are not installed")
    base = CACHE / "debs"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = {n: sorted(base.glob(f"{n}_*.deb")) for n in names}
        missing = [n for n, debs in found.items() if not debs]
        if missing:
            proc = subprocess.run(
                ["apt-get", "download", *missing], cwd=base, capture_output=True, text=True, check=False,
                timeout=300,
            )  # fmt: skip
            if proc.returncode != 0:
                pytest.skip(f"apt-get download {' '.join(missing)} failed: {proc.stderr[-300:]}")
            found = {n: sorted(base.glob(f"{n}_*.deb")) for n in names}
    return [debs[-1] for debs in found.values()]


def _fields(deb: Path) -> dict[str, str]:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), *_STATUS_FIELDS], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    fields: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            fields[key.strip()] = value.strip()
    return fields


def install_debs(debs: list[Path], root: Path) -> list[dict[str, str]]:
    """Unpack `debs` into `root` and register them in its dpkg database; returns their control fields."""
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True, exist_ok=True)
    status = root / "var/lib/dpkg/status"
    stanzas = [status.read_text()] if status.is_file() else []
    installed = []
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True)
        paths = ["/."]
        for line in listing.stdout.splitlines():
            name = line.split(None, 5)[-1].split(" -> ", 1)[0]
            name = name[1:].rstrip("/") if name.startswith("./") else name
            if name and name != "/.":
                paths.append(name)
        fields = _fields(deb)
        (info / f"{fields['Package']}.list").write_text("\n".join(paths) + "\n")
        stanza = [f"Package: {fields['Package']}", "Status: install ok installed"]
        stanza += [f"{k}: {fields[k]}" for k in _STATUS_FIELDS[1:] if k in fields]
        stanzas.append("\n".join(stanza) + "\n")
        installed.append(fields)
    status.write_text("\n".join(s.rstrip("\n") + "\n" for s in stanzas))
    return installed
