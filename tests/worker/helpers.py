"""Real test images and advisories for executor tests, built at test time from this machine's bytes.

The image's OS layer carries the host's own `/etc/os-release` and the real dpkg stanzas of two installed
packages (zlib1g, libzstd1); its app layer carries the real installed metadata of a PyPI wheel (certifi)
from the test environment. The advisory fixture names those packages below their installed versions,
so a scan must find exactly these vulnerabilities through the matcher.
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTask, ScanTaskImage
from openhss.services.vulndb import VulnDbService
from tests.scan_sources.builders import LayerSpec, build_oci
from tests.support.service import PROJECT
from tests.vulndb.helpers import osv, write_zip

DEB_PACKAGES = ("zlib1g", "libzstd1")
PYPI_PACKAGE = "certifi"
ZLIB_VUL = "OPENHSS-TEST-ZLIB-1"
ZSTD_VUL = "OPENHSS-TEST-ZSTD-1"
CERTIFI_VUL = "OPENHSS-TEST-CERTIFI-1"


def _dpkg_stanzas(names: tuple[str, ...]) -> bytes:
    text = Path("/var/lib/dpkg/status").read_text(errors="replace")
    keep = [s for s in text.split("\n\n") if any(s.startswith(f"Package: {n}\n") for n in names)]
    if len(keep) != len(names):
        pytest.skip(f"host dpkg database lacks one of {names}")
    return ("\n\n".join(keep) + "\n").encode()


def os_layer(extra: int = 0) -> LayerSpec:
    """The OS layer; `extra` > 0 adds that many distinct filler files (a distinct diff_id per value)."""
    spec = (
        LayerSpec("ADD rootfs /")
        .add_dir("etc")
        .add_bytes("etc/os-release", Path("/etc/os-release").read_bytes())
        .add_dir("var/lib/dpkg")
        .add_bytes("var/lib/dpkg/status", _dpkg_stanzas(DEB_PACKAGES))
    )
    for i in range(extra):
        spec.add_bytes(f"usr/share/filler/{extra}/{i}.txt", f"filler {extra} {i}\n".encode() * 8)
    return spec


def app_layer(tag: str = "") -> LayerSpec:
    dist = importlib.metadata.distribution(PYPI_PACKAGE)
    meta = dist.read_text("METADATA") or ""
    d = f"usr/lib/python3/dist-packages/{PYPI_PACKAGE}-{dist.version}.dist-info"
    spec = LayerSpec("RUN pip install certifi").add_dir(d).add_bytes(f"{d}/METADATA", meta.encode())
    if tag:
        spec.add_bytes(f"app/{tag}.txt", tag.encode())
    return spec


def build_image(out: Path, *, tag: str = "app", base: int = 0, app_tag: str = "") -> str:
    """Build the image under `out` (OCI layout) and return its `oci:` source reference."""
    build_oci(out, [os_layer(base), app_layer(app_tag)], tag=tag)
    return f"oci:{out}:{tag}"


def advisories(path: Path) -> Path:
    zlib_fixed = "1:9.9.9-1"
    return write_zip(
        path,
        [
            osv(ZLIB_VUL, "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": zlib_fixed}]),
            osv(ZSTD_VUL, "Debian:12", "libzstd", events=[{"introduced": "0"}, {"fixed": "9.9.9-1"}]),
            osv(CERTIFI_VUL, "PyPI", PYPI_PACKAGE, events=[{"introduced": "0"}, {"fixed": "9999.1.1"}]),
        ],
    )


def import_advisories(settings: Settings, tmp: Path) -> None:
    VulnDbService.from_settings(settings).import_paths([advisories(tmp / "advisories.zip")])


def add_image(
    settings_or_sessions: Any, name: str, source_ref: str, *, project: str = PROJECT, version: str = "1.0"
) -> int:
    sessions = settings_or_sessions
    with transaction(sessions) as s:
        img = Image(
            project_id=project,
            image_type="local",
            image_id="sha256:" + uuid.uuid4().hex * 2,
            image_name=name,
            image_version=version,
            source_ref=source_ref,
        )
        s.add(img)
        s.flush()
        return img.id


def wait_for(pred: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_statuses(sessions: Any) -> dict[int, str]:
    with transaction(sessions) as s:
        return dict(s.execute(select(ScanTaskImage.image_pk, ScanTaskImage.status)).all())


def tasks(sessions: Any) -> list[ScanTask]:
    with transaction(sessions) as s:
        return list(s.scalars(select(ScanTask).order_by(ScanTask.id)))


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[str]
    log: Path

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def settings_env(settings: Settings) -> dict[str, str]:
    s = settings.scans
    return {
        **os.environ,
        "OPENHSS_DATA_DIR": str(settings.data_dir),
        "OPENHSS_DATABASE_URL": settings.resolved_database_url,
        "OPENHSS_BROKER_URL": settings.resolved_broker_url,
        "OPENHSS_QUEUE_PREFIX": settings.queue_prefix,
        "OPENHSS_SCANS__LEASE_SECONDS": str(s.lease_seconds),
        "OPENHSS_SCANS__SWEEP_INTERVAL_SECONDS": str(s.sweep_interval_seconds),
        "OPENHSS_SCANS__RESEND_AFTER_SECONDS": str(s.resend_after_seconds),
        "OPENHSS_SCANS__PROJECT_CONCURRENCY": str(s.project_concurrency),
        "OPENHSS_SCANS__LAYER_CACHE": "true" if s.layer_cache else "false",
    }


@contextmanager
def worker_process(
    settings: Settings, log: Path, *, concurrency: int = 1, beat: bool = False, pool: str = "threads"
) -> Iterator[WorkerProcess]:
    """`openhss worker` as a separate process (its own process group, so SIGKILL takes all of it)."""
    args = [sys.executable, "-m", "openhss.cli", "worker", "--concurrency", str(concurrency), "--pool", pool]
    if beat:
        args.append("--beat")
    fh = log.open("w")
    proc = subprocess.Popen(
        args,
        env=settings_env(settings),
        stdout=fh,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    w = WorkerProcess(proc, log)
    try:
        yield w
    finally:
        w.stop()
        fh.close()
