"""`sbom:FILE`: scanning openhss's own CycloneDX and SPDX output gives the findings of scanning the image.

The image is a directory root filesystem built here from real packages (Debian's python3-urllib3 and
python3-idna, old PyPI wheels, Debian's Go-built fzf copied outside dpkg), matched against the real
PyPI and Go OSV data; the SBOMs are what `openhss scan -f cyclonedx|spdx` writes for it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
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
from tests.support.wheels import download_wheel, install_wheel, syft_binary

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


def test_syft_sboms_of_the_same_directory(setup: tuple[Path, Settings], tmp_path: Path) -> None:
    """Syft's CycloneDX and SPDX of the directory: the same OS, and the image's findings for every
    package Syft reports at a path openhss scans the same way (Syft cannot say dpkg owns a package, so
    the dpkg-owned copies are matched upstream there: what openhss's own SBOM avoids)."""
    root, settings = setup
    syft = syft_binary()
    image = _scan(f"dir:{root}", settings)
    outs = [f"cyclonedx-json={tmp_path / 'syft.cdx.json'}", f"spdx-json={tmp_path / 'syft.spdx.json'}"]
    env = {"SYFT_CHECK_FOR_APP_UPDATE": "false", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([str(syft), "scan", f"dir:{root}", "-q", *(a for o in outs for a in ("-o", o))],
                         capture_output=True, text=True, env=env, check=False, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-500:]
    mine = {(v.vul_id, v.package_name, v.package_version) for v in image.vulnerabilities if SITE in v.path}
    assert mine
    for name in ("syft.cdx.json", "syft.spdx.json"):
        again = _scan(f"sbom:{tmp_path / name}", settings)
        assert again.os is not None and (again.os.family, again.os.version) == ("debian", "12"), name
        debs = {(p.name, p.source_name) for p in again.packages if p.type.is_os}
        assert ("python3-urllib3", "python-urllib3") in debs, name
        theirs = {(v.vul_id, v.package_name, v.package_version) for v in again.vulnerabilities}
        assert mine <= theirs, name
        covered = {(e.ecosystem, e.release): e.covered for e in image.coverage or []}
        assert {
            (e.ecosystem, e.release): e.covered for e in again.coverage or [] if e.kind != "unidentified"
        }.items() <= covered.items(), name
