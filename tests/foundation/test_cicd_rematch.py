"""An advisory import re-matches CI/CD images too: the pipeline's upload stores the matchable inventory
like a scan does (before, only scanned images had one, so CI/CD images never gained new advisories)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openhss.cli import app
from openhss.db.engine import transaction
from openhss.db.models import Image, VulImageIndex
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.domain.report import ImageSummary
from openhss.domain.upload import ScanUpload
from openhss.services import cicd, dispatch
from openhss.services.identity import Scope
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from tests.support.service import PROJECT, make_settings
from tests.vulndb.helpers import osv, write_zip

FIRST, LATER = "OPENHSS-TEST-CICD-1", "OPENHSS-TEST-CICD-2"


def _advisory(vid: str) -> dict[str, object]:
    return osv(vid, "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:9.9.9-1"}])


def test_advisory_import_rematches_a_cicd_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    dispatch.set_sender(None)
    feed = tmp_path / "advisories.zip"
    VulnDbService.from_settings(settings).import_paths([write_zip(feed, [_advisory(FIRST)])])
    zlib = Package(
        name="zlib1g",
        version="1:1.2.13.dfsg-1",
        ecosystem=Ecosystem.DEBIAN,
        type=PackageType.DEB,
        path="var/lib/dpkg/status",
        source_name="zlib",
    )
    upload = ScanUpload(
        image=ImageSummary(
            "shop/web:b1", "oci", "sha256:" + "d1" * 32, "sha256:" + "c1" * 32, "linux", "amd64"
        ),
        os=OSInfo("debian", "12"),
        packages=[zlib],
    )
    with transaction(rt.sessions) as s:
        pk = cicd.record_upload(
            s, rt.matchers, Scope(PROJECT, frozenset({"0"})), "jenkins", "shop/web", "b1", "shop", upload
        ).id
    with transaction(rt.sessions) as s:
        assert s.get(ImageInventory, pk) is not None
        assert set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk))) == {FIRST}

    write_zip(feed, [_advisory(FIRST), _advisory(LATER)])
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["db", "import", str(feed)])
    assert result.exit_code == 0, result.output
    assert "re-matched 1 of 1 stored images; 1 newly affected" in result.output
    with transaction(rt.sessions) as s:
        assert set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk))) == {
            FIRST,
            LATER,
        }
        image = s.get_one(Image, pk)
        assert image.image_type == "cicd" and image.vul_num == 2
    rt.engine.dispose()
