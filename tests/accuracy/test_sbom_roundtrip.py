"""`sbom:FILE`: scanning openhss's own CycloneDX and SPDX output gives the findings of scanning the image.

The image is a directory root filesystem built here from real packages (Debian's python3-urllib3 and
python3-idna, old PyPI wheels, Debian's Go-built fzf copied outside dpkg), matched against the real
PyPI and Go OSV data; the SBOMs are what `openhss scan -f cyclonedx|spdx` writes for it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from openhss.config import Settings
from openhss.domain.enums import ScanScope
from openhss.domain.report import ImageReport
from openhss.exports import cyclonedx, spdx
from openhss.exports.scan_json import coverage_doc
from openhss.scan.errors import CorruptImage, ImageNotFound
from openhss.scan.refs import Transport, parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.scan.sources.sbom import read_sbom
from openhss.services.scanning import build_pipeline, scan_image
from openhss.services.vulndb import VulnDbService
from tests.support.debs import download_debs, install_debs
from tests.support.wheels import download_wheel, install_wheel

SITE = "usr/local/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> tuple[Path, Settings]:
    tmp = tmp_path_factory.mktemp("sbom")
    root = tmp / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    install_debs(download_debs(["python3-urllib3", "python3-idna", "fzf"]), root)
    for req in ("requests==2.19.1", "urllib3==1.24.1", "idna==2.7"):
        install_wheel(download_wheel(req), root / SITE)
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy(root / "usr/bin/fzf", root / "usr/local/bin/fzf-static")
    settings = Settings(data_dir=tmp / "data")
    VulnDbService.from_settings(settings).import_paths(
        [shared_dir / "data/osv/PyPI.zip", shared_dir / "data/osv/Go.zip"]
    )
    return root, settings


def _scan(ref: str, settings: Settings) -> ImageReport:
    options = build_pipeline(ScanScope.VULNERABILITY, settings=settings)
    return scan_image(parse_ref(ref), SourceOptions(), options)


def _findings(report: ImageReport) -> set[tuple[str, str, str, str, str]]:
    return {
        (v.vul_id, v.package_name, v.package_version, v.path, v.fixed_version) for v in report.vulnerabilities
    }


def test_own_cyclonedx_and_spdx_give_the_image_findings(setup: tuple[Path, Settings], tmp_path: Path) -> None:
    root, settings = setup
    image = _scan(f"dir:{root}", settings)
    expected = _findings(image)
    assert any(v.ecosystem.value == "PyPI" for v in image.vulnerabilities)
    assert any(v.ecosystem.value == "Go" for v in image.vulnerabilities)
    assert not [v for v in image.vulnerabilities if "dist-packages" in v.path or v.path == "usr/bin/fzf"]
    for name, render in (("bom.cdx.json", cyclonedx.render), ("bom.spdx.json", spdx.render)):
        sbom = tmp_path / name
        sbom.write_text(render(image))
        again = _scan(f"sbom:{sbom}", settings)
        assert again.os is not None and image.os is not None, name
        assert (again.os.family, again.os.version) == (image.os.family, image.os.version), name
        assert _findings(again) == expected, name
        assert [coverage_doc(e) | {"feeds": None} for e in again.coverage or []] == [
            coverage_doc(e) | {"feeds": None} for e in image.coverage or []
        ], name


def test_a_foreign_sbom_is_read_from_purls(setup: tuple[Path, Settings], tmp_path: Path) -> None:
    """Another tool's CycloneDX (no openhss properties; the OS as an operating-system component, as
    Syft and Trivy write it): language packages are matched from their purls alone."""
    root, settings = setup
    image = _scan(f"dir:{root}", settings)
    doc = json.loads(cyclonedx.render(image))
    for comp in [doc["metadata"]["component"], *doc["components"]]:
        comp.pop("properties", None)
    doc["components"].append({"type": "operating-system", "name": "debian", "version": "12.5"})
    sbom = tmp_path / "foreign.cdx.json"
    sbom.write_text(json.dumps(doc))
    again = _scan(f"sbom:{sbom}", settings)
    assert again.os is not None and (again.os.family, again.os.version) == ("debian", "12.5")
    # Without paths or ownership the findings are the image's for the packages pip installed, plus the
    # upstream matches of the dpkg-owned copies (a foreign SBOM cannot say dpkg owns them).
    mine = {(v, n, ver) for v, n, ver, path, _ in _findings(image) if SITE in path}
    theirs = {(v.vul_id, v.package_name, v.package_version) for v in again.vulnerabilities}
    assert mine and mine <= theirs


def test_sbom_reference_and_hostile_files(tmp_path: Path) -> None:
    ref = parse_ref("sbom:/tmp/bom.json")
    assert (ref.transport, ref.path, str(ref)) == (Transport.SBOM, "/tmp/bom.json", "sbom:/tmp/bom.json")
    for name, data in (("deep.json", "[" * 100_000), ("other.json", '{"a": 1}'), ("bad.json", "{")):
        (tmp_path / name).write_text(data)
        with pytest.raises(CorruptImage):
            read_sbom(tmp_path / name, f"sbom:{tmp_path / name}")
    with pytest.raises(ImageNotFound):
        read_sbom(tmp_path / "absent.json", "sbom:absent.json")
