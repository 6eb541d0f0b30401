"""Importing enrichment re-matches stored images: their findings get the new severity, EPSS and KEV
without a rescan (the layers are gone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openhss.cli import app
from openhss.db.engine import transaction
from openhss.db.models import Image, ImageVulnerability, ScanTaskImage
from openhss.domain.enums import ScanStatus
from openhss.services import dispatch, scan_executor, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from tests.support.service import PROJECT, make_settings
from tests.vulndb.enrich_helpers import cve5, write_cve5_zip, write_epss, write_kev
from tests.vulndb.helpers import osv, write_zip
from tests.worker.helpers import PYPI_PACKAGE, add_image, build_image

pytestmark = pytest.mark.slow
CVE = "CVE-2099-4242"


def test_enrichment_import_rematches_stored_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    dispatch.set_sender(None)
    advisory = osv("PYSEC-4242", "PyPI", PYPI_PACKAGE, events=[{"introduced": "0"}, {"fixed": "9999.1.1"}],
                   aliases=[CVE])  # fmt: skip
    VulnDbService.from_settings(settings).import_paths([write_zip(tmp_path / "PyPI.zip", [advisory])])

    pk = add_image(rt.sessions, "e2e/app", build_image(tmp_path / "img"))
    with transaction(rt.sessions) as s:
        image_id = s.scalars(select(Image.image_id).where(Image.id == pk)).one()
        task = scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id=image_id)],
            settings=rt.settings.scans,
        )
        [job] = s.scalars(select(ScanTaskImage.id).where(ScanTaskImage.task_pk == task.id))
    assert scan_executor.run_job(rt, job).status is ScanStatus.SUCCESS
    shutil.rmtree(tmp_path / "img")

    def stored() -> ImageVulnerability:
        with transaction(rt.sessions) as s:
            (row,) = s.scalars(select(ImageVulnerability).where(ImageVulnerability.image_pk == pk))
            s.expunge(row)
            return row

    before = stored()
    assert (before.vul_id, before.severity_source, before.repair_necessity) == (CVE, "none", "Medium")
    assert before.epss is None and before.kev_date_added == ""

    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path))
    crit = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    kev = {CVE: ("2099-03-01", "2099-03-22")}
    result = CliRunner().invoke(app, ["db", "import",
        str(write_cve5_zip(tmp_path / "cve5.zip", [cve5(CVE, cna=crit)])),
        str(write_kev(tmp_path / "known_exploited_vulnerabilities.json", kev)),
        str(write_epss(tmp_path / "epss-2099-03-02.csv.gz", {CVE: (0.5, 0.98)})),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "re-matched 1 of 1 stored images" in result.output
    after = stored()
    assert (after.severity_source, after.repair_necessity, after.cvss_score) == (
        "cve5:cna:acme",
        "Critical",
        9.8,
    )
    assert (after.epss, after.epss_date, after.kev_date_added, after.kev_due_date) == (
        0.5, "2099-03-02", "2099-03-01", "2099-03-22",
    )  # fmt: skip
    with transaction(rt.sessions) as s:
        img = s.get(Image, pk)
        assert img is not None and img.severity_level == "High"  # HSS image level has no Critical
    rt.engine.dispose()
