"""Accuracy on real OSV data: the matcher must give exactly what an independent reading of the JSON gives.

The expectation is computed here with `packaging` straight from the raw PyPI.zip records (OSV's own
evaluation rule: sort events, walk them), never by copying advisory ids into the test.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from openhss.domain.enums import Ecosystem, PackageType, VulType
from openhss.domain.models import Package
from openhss.scan.matcher import VulnerabilityMatcher
from openhss.services.vulndb import VulnDbService

INSTALLED = {"requests": "2.19.1", "urllib3": "1.24.1", "Django": "2.2.0", "PyYAML": "5.3", "Jinja2": "2.10"}


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _affected_by_range(version: Version, events: list[dict[str, str]]) -> bool:
    def order(ev: dict[str, str]) -> Version:
        (value,) = ev.values()
        return Version("0") if value == "0" else Version(value)

    affected = False
    for ev in sorted(events, key=order):
        if "introduced" in ev and version >= order(ev):
            affected = True
        elif ("fixed" in ev and version >= order(ev)) or ("last_affected" in ev and version > order(ev)):
            affected = False
    return affected


def _independent(docs: list[dict[str, Any]], name: str, version: str) -> set[str]:
    v = Version(version)
    hits: set[str] = set()
    for doc in docs:
        if doc.get("withdrawn"):
            continue
        for aff in doc.get("affected", []):
            pkg = aff.get("package", {})
            if pkg.get("ecosystem") != "PyPI" or _canon(pkg.get("name", "")) != _canon(name):
                continue
            explicit = set()
            for s in aff.get("versions", []):
                try:
                    explicit.add(Version(s))
                except InvalidVersion:
                    continue
            ranges = [r for r in aff.get("ranges", []) if r["type"] == "ECOSYSTEM"]
            if v in explicit or any(_affected_by_range(v, r["events"]) for r in ranges):
                hits.add(doc["id"])
    return hits


@pytest.fixture(scope="module")
def pypi(
    shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[VulnDbService, list[dict[str, Any]]]:
    zpath = shared_dir / "data/osv/PyPI.zip"
    svc = VulnDbService(tmp_path_factory.mktemp("pypi-db"))
    svc.import_paths([zpath])
    with zipfile.ZipFile(zpath) as zf:
        docs = [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]
    return svc, docs


def test_known_vulnerable_pypi_packages(pypi: tuple[VulnDbService, list[dict[str, Any]]]) -> None:
    svc, docs = pypi
    packages = [Package(n, v, Ecosystem.PYPI, PackageType.PYTHON, path=f"/app/{n}.dist-info/METADATA")
                for n, v in INSTALLED.items()]  # fmt: skip
    result = VulnerabilityMatcher(svc.open_index()).match(None, packages)
    total = 0
    for name, version in INSTALLED.items():
        expected = _independent(docs, name, version)
        assert expected, f"the data should know vulnerabilities of {name} {version}"
        findings = [f for f in result.findings if f.package_name == name]
        got = {i for f in findings for i in (f.vul_id, *f.aliases) if i.startswith("PYSEC-")}
        assert got == expected, name
        # one finding per alias group: no CVE twice for a package
        ids = [f.vul_id for f in findings]
        assert len(ids) == len(set(ids))
        for f in findings:
            assert f.type is VulType.APP and f.package_version == version and f.path.endswith("METADATA")
            assert f.fixed_version == "" or Version(f.fixed_version) > Version(version)
        total += len(findings)
    assert total == len(result.findings) and total >= 30
    # a patched release of the same packages has fewer or no advisories
    fixed = VulnerabilityMatcher(svc.open_index()).match(None, [
        Package("requests", "2.32.3", Ecosystem.PYPI, PackageType.PYTHON)])  # fmt: skip
    assert {
        i for f in fixed.findings for i in (f.vul_id, *f.aliases) if i.startswith("PYSEC-")
    } == _independent(docs, "requests", "2.32.3")
