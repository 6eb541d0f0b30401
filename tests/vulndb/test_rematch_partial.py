"""A re-match rewrites only the touched packages' rows, and stores exactly what matching the whole
inventory again stores: findings, the vulnerability index, apps' counts and the image summary."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openhss.cli import app
from openhss.db.engine import transaction
from openhss.db.models import Image, ImageApp, ImageVulnerability, VulImageIndex
from openhss.db.scheduling import RematchRun
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.applier import Inventory
from openhss.services import dispatch, rematch, results, vulnerabilities
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.services.vulndb import VulnDbService
from tests.support.pg import temp_database
from tests.support.service import make_settings
from tests.vulndb.helpers import osv, write_zip
from tests.worker.brokers import REDIS
from tests.worker.helpers import add_image

FIX = [{"introduced": "0"}, {"fixed": "9.0"}]
DEB_FIX = [{"introduced": "0"}, {"fixed": "9.0-1"}]
HIGH = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}]
LOW = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]
SITE = "/usr/lib/python3/dist-packages"
ROW_COLUMNS = ("vul_id", "app_name", "app_version", "app_path", "vul_type", "repair_necessity",
               "severity_rank", "fixed_version", "status", "cvss_score", "description", "severity_source",
               "epss", "kev_date_added", "layer_digest", "app_type", "project_id")  # fmt: skip


def _inventory() -> Inventory:
    """500 packages: 300 Debian packages of 100 source packages, 200 Python distributions, one of them
    installed twice (same name and version at two paths, so its apps share one vul count)."""
    deb = [
        Package(f"lib{i}", f"1.{i}-1", Ecosystem.DEBIAN, PackageType.DEB, path="/var/lib/dpkg/status",
                source_name=f"src{i // 3}", source_version=f"1.{i // 3}-1")
        for i in range(300)
    ]  # fmt: skip
    py = [
        Package(f"py{i}", f"1.{i}", Ecosystem.PYPI, PackageType.PYTHON, path=f"{SITE}/py{i}-1.{i}.dist-info")
        for i in range(199)
    ]
    py.append(Package("py5", "1.5", Ecosystem.PYPI, PackageType.PYTHON, path="/opt/venv/py5-1.5.dist-info"))
    return Inventory(os=OSInfo("debian", "12"), packages=[*deb, *py])


def _shared(vid: str, names: list[str], severity: list[dict[str, str]]) -> dict[str, Any]:
    doc = osv(vid, "PyPI", names[0], events=FIX, severity=severity)
    doc["affected"] = [
        {"package": {"ecosystem": "PyPI", "name": n}, "ranges": [{"type": "ECOSYSTEM", "events": FIX}]}
        for n in names
    ]
    return doc


def _feed(touched: bool) -> list[dict[str, Any]]:
    docs = [osv(f"DSA-{i}", "Debian:12", f"src{i}", events=DEB_FIX) for i in range(0, 100, 7)]
    docs += [osv(f"PYSEC-{i}", "PyPI", f"py{i}", events=FIX, severity=LOW if i % 2 else HIGH)
             for i in range(0, 200, 9)]  # fmt: skip
    # One id on a touched and an untouched package: its index row must survive the touched one's change.
    docs.append(_shared("GHSA-shared", ["py7", "py5"] if not touched else ["py7"], HIGH))
    docs.append(_shared("GHSA-low", ["py5", "py8"], LOW))
    if touched:  # the change touches py5 only: two new advisories, one withdrawn from it
        docs.append(osv("PYSEC-new", "PyPI", "py5", events=FIX, severity=HIGH))
        docs.append(osv("PYSEC-new2", "PyPI", "py5", events=FIX))
    return docs


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        rt = open_runtime(make_settings(tmp_path))
        bootstrap_admin(rt)
        yield rt
        rt.engine.dispose()
    else:
        with temp_database() as url:
            rt = open_runtime(make_settings(tmp_path, url))
            bootstrap_admin(rt)
            yield rt
            rt.engine.dispose()


def _snapshot(rt: Runtime, pk: int) -> dict[str, Any]:
    with transaction(rt.sessions) as s:
        img = s.get_one(Image, pk)
        rows = s.scalars(select(ImageVulnerability).where(ImageVulnerability.image_pk == pk)).all()
        index = s.scalars(select(VulImageIndex).where(VulImageIndex.image_pk == pk)).all()
        apps = s.scalars(select(ImageApp).where(ImageApp.image_pk == pk)).all()
        return {
            "rows": sorted(tuple(getattr(r, c) for c in ROW_COLUMNS) for r in rows),
            "index": sorted(
                (r.vul_id, r.vul_type, r.repair_necessity, r.status, r.handled, r.image_type, r.project_id)
                for r in index
            ),
            "apps": sorted((a.app_name, a.app_version, a.app_path, a.vul_num) for a in apps),
            "summary": (img.vul_num, img.severity_level, img.component_num),
        }


def test_partial_rematch_stores_what_a_full_rematch_stores(runtime: Runtime, tmp_path: Path) -> None:
    rt = runtime
    settings = make_settings(tmp_path)
    service = VulnDbService.from_settings(settings)
    service.import_paths([write_zip(tmp_path / "advisories.zip", _feed(touched=False))])
    inventory = _inventory()
    before = service.matcher()(inventory)
    partial, full = add_image(rt.sessions, "fleet/a", ""), add_image(rt.sessions, "fleet/b", "")
    with transaction(rt.sessions) as s:
        for pk in (partial, full):
            results.record_scan(s, pk, inventory, before, scanned_at=1_000)
            rematch.store_inventory(s, pk, inventory, 1_000)
    with transaction(rt.sessions) as s:  # a user's verdict, on an id whose rows the change rewrites
        pairs = s.execute(
            select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk)
            .where(VulImageIndex.vul_id == "GHSA-low")
        ).all()  # fmt: skip
        vulnerabilities.apply_verdict(
            s, [(i, img) for i, img in pairs], "ignore", "vul_status_ignored", "t", ""
        )
        untouched_ids = set(
            s.scalars(
                select(ImageVulnerability.id).where(
                    ImageVulnerability.image_pk == partial, ImageVulnerability.app_name != "py5"
                )
            )
        )

    report = service.import_paths([write_zip(tmp_path / "advisories.zip", _feed(touched=True))])
    assert report.changed == {("PyPI", "py5")}
    matcher = service.matcher()
    with transaction(rt.sessions) as s:
        run_pk = rematch.create_rematch_run(s, report.changed).id
    done = rematch.rematch(rt.sessions, run_pk, matcher)
    assert (done.checked, done.rematched) == (2, 2)
    gained = ["PYSEC-new", "PYSEC-new2"]
    assert done.newly_affected == [(partial, gained), (full, gained)]
    with transaction(rt.sessions) as s:
        run = s.get_one(RematchRun, run_pk)
        assert (run.status, run.images_checked, run.images_rematched, run.images_newly_affected) == (
            "finished", 2, 2, 2,
        )  # fmt: skip
        # Only py5's rows were rewritten: every other row is the row the scan wrote.
        assert untouched_ids <= set(
            s.scalars(select(ImageVulnerability.id).where(ImageVulnerability.image_pk == partial))
        )
        # The reference: the other image's whole inventory matched again and all its rows rewritten.
        results.rematch(s, full, matcher(inventory))

    got, want = _snapshot(rt, partial), _snapshot(rt, full)
    assert got == want
    assert ("GHSA-shared", "py5", "1.5", f"{SITE}/py5-1.5.dist-info") not in {r[:4] for r in got["rows"]}
    assert "GHSA-shared" in {r[0] for r in got["index"]}  # still on py7
    assert {r[0]: r[3] for r in got["index"]}["GHSA-low"] == "vul_status_ignored"
    assert {(a[0], a[2]): a[3] for a in got["apps"]}[("py5", "/opt/venv/py5-1.5.dist-info")] == 3


def test_db_import_queues_the_rematch_for_workers_when_a_broker_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = pytest.importorskip("redis")
    settings = make_settings(tmp_path)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    prefix = f"t{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("OPENHSS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENHSS_BROKER_URL", REDIS)
    monkeypatch.setenv("OPENHSS_QUEUE_PREFIX", prefix)
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS} unavailable: {exc}")
    feed = write_zip(tmp_path / "advisories.zip", _feed(touched=False))
    try:
        result = CliRunner().invoke(app, ["db", "import", str(feed)])
        keys = [k for k in client.scan_iter(f"{prefix}*") if b"_kombu" not in k]
        queued = [json.loads(m) for k in keys for m in client.lrange(k, 0, -1)]
    finally:
        dispatch.set_sender(None)
        for k in client.scan_iter(f"{prefix}*"):
            client.delete(k)
    assert result.exit_code == 0, result.output
    with transaction(rt.sessions) as s:
        run = s.scalars(select(RematchRun)).one()
    assert run.status == "waiting"  # nothing ran here: the workers take it
    assert f"re-match queued as run {run.id}" in result.output
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in queued] == [
        (rematch.REMATCH_TASK, f"[{run.id}]")
    ]
    rt.engine.dispose()
