"""Advisory coverage: a scan of an OS the advisory DB does not cover never reads as clean.

The image is a real Debian 12 root filesystem (debootstrap, cached per machine). With only PyPI
advisories loaded, every one of its dpkg packages must be reported as not checked: on stderr, in the
table, in the JSON `coverage` section and as SARIF notifications. With Debian tracker data for
bookworm loaded (real tracker JSON from vunnel's fixtures), the same scan states Debian 12 covered.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.cli.test_scan_cli import openhss
from tests.support.rootfs import debootstrap_rootfs

pytestmark = pytest.mark.slow


def _dpkg_packages(rootfs: Path) -> set[str]:
    out = subprocess.run(
        ["dpkg-query", "--admindir", str(rootfs / "var/lib/dpkg"), "-W", "-f", "${Package} ${Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {line for line in out.splitlines() if line}


@pytest.fixture
def pypi_only(tmp_path: Path, shared_dir: Path) -> Path:
    data = tmp_path / "data"
    done = openhss("db", "import", str(shared_dir / "data/osv/PyPI.zip"), data_dir=data)
    assert done.returncode == 0, done.stderr
    return data


def test_uncovered_release_is_reported_everywhere(pypi_only: Path) -> None:
    rootfs = debootstrap_rootfs()
    truth = _dpkg_packages(rootfs)
    ref = f"dir:{rootfs}"
    table = openhss("scan", ref, "--scanners", "vuln", "--no-cache", data_dir=pypi_only)
    assert table.returncode == 0, table.stderr
    assert f"{len(truth)} Debian 12 package(s) NOT checked" in table.stderr
    assert f"{len(truth)} Debian 12 package(s) NOT checked" in table.stdout
    assert "No vulnerabilities found" not in table.stdout

    doc = json.loads(
        openhss("scan", ref, "--scanners", "vuln", "-f", "json", "-q", data_dir=pypi_only).stdout
    )
    [debian] = [e for e in doc["coverage"] if e["kind"] == "os"]
    assert (debian["ecosystem"], debian["release"], debian["covered"]) == ("Debian", "12", False)
    assert debian["unchecked_count"] == len(truth) and set(debian["unchecked"]) == truth
    assert debian["feeds"] == [] and debian["records"] == 0

    sarif = json.loads(
        openhss("scan", ref, "--scanners", "vuln", "-f", "sarif", "-q", data_dir=pypi_only).stdout
    )
    [run] = sarif["runs"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any(f"{len(truth)} Debian 12 package(s) NOT checked" in n["message"]["text"] for n in notes)
    assert run["properties"]["coverage"][0]["covered"] is False

    status = openhss("db", "status", data_dir=pypi_only)
    assert "PyPI" in status.stdout and "Debian" not in status.stdout.split("coverage:", 1)[1]


def test_covered_release_is_stated_with_its_feed(pypi_only: Path, shared_dir: Path, tmp_path: Path) -> None:
    fixtures = zipfile.ZipFile(shared_dir / "data/distro-samples/vunnel-provider-fixtures.zip")
    tracker = tmp_path / "debian.json"
    tracker.write_bytes(fixtures.read("debian/test-fixtures/input/debian.json"))
    done = openhss("db", "import", str(tracker), data_dir=pypi_only)
    assert done.returncode == 0, done.stderr
    rootfs = debootstrap_rootfs()
    out = openhss("scan", f"dir:{rootfs}", "--scanners", "vuln", "-f", "json", "-q", data_dir=pypi_only)
    assert out.returncode == 0 and "NOT checked" not in out.stderr, out.stderr
    [debian] = json.loads(out.stdout)["coverage"]
    assert debian["covered"] is True and debian["unchecked_count"] == 0
    assert [f["name"] for f in debian["feeds"]] == ["debian-tracker"] and debian["records"] > 0
    status = openhss("db", "status", data_dir=pypi_only).stdout.split("coverage:", 1)[1]
    assert "Debian 12" in status and "debian-tracker" in status
