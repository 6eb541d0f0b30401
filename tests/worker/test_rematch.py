"""Re-match after `openhss db import`: stored inventories are matched again without reading layers, the
vulnerability index and summaries follow, and the newly affected images are printed and kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openhss.cli import app
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTaskImage, VulImageIndex
from openhss.db.scheduling import RematchRun
from openhss.domain.enums import ScanStatus
from openhss.services import dispatch, rematch, scan_executor, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from tests.support.service import PROJECT, make_settings
from tests.vulndb.helpers import osv, write_zip
from tests.worker.helpers import CERTIFI_VUL, PYPI_PACKAGE, ZLIB_VUL, add_image, build_image

pytestmark = pytest.mark.slow


def test_db_import_rematches_stored_inventories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    dispatch.set_sender(None)
    feed = tmp_path / "feed" / "advisories.zip"
    feed.parent.mkdir()
    zlib = osv(ZLIB_VUL, "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:9.9.9-1"}])
    VulnDbService.from_settings(settings).import_paths([write_zip(feed, [zlib])])

    ref = build_image(tmp_path / "img")
    pk = add_image(rt.sessions, "e2e/app", ref)
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
    # The layers are gone: a re-match must work from the stored inventory alone.
    shutil.rmtree(tmp_path / "img")

    certifi = osv(CERTIFI_VUL, "PyPI", PYPI_PACKAGE, events=[{"introduced": "0"}, {"fixed": "9999.1.1"}])
    write_zip(feed, [zlib, certifi])
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["db", "import", str(feed)])
    assert result.exit_code == 0, result.output
    assert "re-matched 1 of 1 stored images; 1 newly affected" in result.output
    assert f"newly affected: {PROJECT} local e2e/app:1.0: {CERTIFI_VUL}" in result.output

    with transaction(rt.sessions) as s:
        assert set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk))) == {
            ZLIB_VUL,
            CERTIFI_VUL,
        }
        img = s.get(Image, pk)
        assert img is not None and img.vul_num == 2
        total, rows = rematch.newly_affected(s, Scope(PROJECT, None))
        assert total == 1 and rows[0].image_name == "e2e/app" and rows[0].vul_ids == [CERTIFI_VUL]
        assert rematch.newly_affected(s, Scope("someoneelse", None)) == (0, [])
        run = s.scalars(select(RematchRun)).one()
        assert (run.status, run.images_checked, run.images_rematched) == ("finished", 1, 1)

    # Withdrawing the advisory re-matches again: nothing newly affected, the finding disappears.
    write_zip(feed, [zlib])
    result = CliRunner().invoke(app, ["db", "import", str(feed)])
    assert "0 newly affected" in result.output
    with transaction(rt.sessions) as s:
        assert set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk))) == {ZLIB_VUL}
    rt.engine.dispose()
