"""`openhss scan` end to end, as a CI pipeline runs it: a real process, real images, real advisories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.scan_sources.builders import LayerSpec, build_oci
from tests.support.rootfs import debootstrap_rootfs


def openhss(*args: str, data_dir: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENHSS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", *args], capture_output=True, text=True, env=env, check=check
    )


def dist_info(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: Apache 2.0\n".encode()


@pytest.fixture
def app_image(tmp_path: Path) -> Path:
    site = "usr/local/lib/python3.11/site-packages"
    build_oci(
        tmp_path / "app",
        [
            LayerSpec("FROM scratch").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            LayerSpec("RUN pip install requests==2.19.1 urllib3==1.24.1")
            .add_bytes(f"{site}/requests-2.19.1.dist-info/METADATA", dist_info("requests", "2.19.1"))
            .add_bytes(f"{site}/urllib3-1.24.1.dist-info/METADATA", dist_info("urllib3", "1.24.1")),
        ],
    )
    return tmp_path / "app"


def test_dir_scan_inventory_equals_dpkg_query(tmp_path: Path) -> None:
    rootfs = debootstrap_rootfs()
    out = openhss("scan", f"dir:{rootfs}", "--scanners", "none", "-f", "json", "-q", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    ours = {(p["name"], p["version"]) for p in doc["packages"] if p["type"] == "deb"}
    truth = subprocess.run(
        ["dpkg-query", "--admindir", str(rootfs / "var/lib/dpkg"), "-W", "-f", "${Package} ${Version}\n"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    assert ours == {tuple(line.split(" ", 1)) for line in truth if line}
    assert doc["image"]["os"]["family"] == "debian"


def test_sbom_formats_validate(app_image: Path, tmp_path: Path) -> None:
    out = openhss("scan", f"oci:{app_image}:app", "--scanners", "none", "-f", "cyclonedx", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.stdout) is None
    purls = {c.get("purl") for c in json.loads(out.stdout)["components"]}
    assert {"pkg:pypi/requests@2.19.1", "pkg:pypi/urllib3@1.24.1"} <= purls


def test_vulnerability_scan_needs_a_database_and_says_so(app_image: Path, tmp_path: Path) -> None:
    out = openhss("scan", f"oci:{app_image}:app", data_dir=tmp_path)
    assert out.returncode == 1  # a runtime failure: the command line itself is fine
    assert out.stderr.count("\n") == 1 and "openhss db update" in out.stderr


def test_vulnerabilities_filters_and_exit_code(app_image: Path, tmp_path: Path, shared_dir: Path) -> None:
    imported = openhss("db", "import", str(shared_dir / "data/osv/PyPI.zip"), data_dir=tmp_path)
    assert imported.returncode == 0, imported.stderr
    ref = f"oci:{app_image}:app"
    out = openhss("scan", ref, "-f", "json", "-q", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    vulns = json.loads(out.stdout)["vulnerabilities"]
    ids = {(v["package"], v["vul_id"]) for v in vulns}
    assert ("requests", "CVE-2018-18074") in ids
    assert all(v["type"] == "app_vul" and v["layer_digest"] for v in vulns)
    # the CI gate: fail only when something at the asked severity remains
    gate = openhss("scan", ref, "--severity", "CRITICAL,HIGH", "--exit-code", "7", "-q", data_dir=tmp_path)
    assert gate.returncode == 7, gate.stderr
    assert "CVE-" in gate.stdout
    none_left = openhss("scan", ref, "--severity", "LOW", "--ignore-unfixed", "--exit-code", "7", "-q",
                        "-f", "json", data_dir=tmp_path)  # fmt: skip
    left = json.loads(none_left.stdout)
    assert all(v["severity"] == "Low" and v["fixed_version"] for v in left["vulnerabilities"])
    kinds = ("vulnerabilities", "secrets", "malware", "baseline", "build_command_risks", "non_compliant_apps")
    remaining = [item for key in kinds for item in left[key]]
    assert all(item["severity"] == "Low" for item in remaining)
    assert none_left.returncode == (7 if remaining else 0)


def test_missing_image_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    out = openhss("scan", "oci:/nonexistent/dir:tag", "--scanners", "none", data_dir=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("openhss:") and out.stderr.count("\n") == 1


def _sbom(text: str) -> dict[str, object]:
    """An SBOM without what differs between any two runs (serial number, timestamps, namespace)."""
    doc: dict[str, object] = json.loads(text)
    for key in ("serialNumber", "documentNamespace", "creationInfo"):
        doc.pop(key, None)
    meta = doc.get("metadata")
    if isinstance(meta, dict):
        meta.pop("timestamp", None)
    return doc


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_cached_rescan_reports_what_an_uncached_scan_does(fmt: str, tmp_path: Path) -> None:
    """A real Debian rootfs: no cache at all, then a cold and a warm layer cache (whose second run also
    answers license validation from the cache dir's SPDX memo) give the same document."""
    rootfs = debootstrap_rootfs()
    args = ("scan", f"dir:{rootfs}", "--scanners", "none", "-f", fmt, "-q")
    reference = openhss(*args, "--no-cache", data_dir=tmp_path, check=True).stdout
    cache = tmp_path / "cache"
    cold = openhss(*args, "--cache-dir", str(cache), data_dir=tmp_path, check=True).stdout
    memo = json.loads((cache / "spdx-expressions.json").read_text())
    assert len(memo["expressions"]) > 10  # minbase's packages name dozens of license strings
    warm = openhss(*args, "--cache-dir", str(cache), data_dir=tmp_path, check=True).stdout
    assert _sbom(cold) == _sbom(reference)
    assert _sbom(warm) == _sbom(reference)
