"""Unchanged rescans (no layer read, no result row written) and leased re-match runs (an abandoned run
is re-sent by the sweep and finished), on the real databases."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, table

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTaskImage, VulImageIndex
from openhss.db.scheduling import ImageInventory, RematchHit, RematchRun
from openhss.domain.enums import ScanStatus
from openhss.services import dispatch, rematch, rematch_lease, scan_executor, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime
from openhss.services.vulndb import VulnDbService
from tests.support.service import BACKENDS, PROJECT, runtime_on
from tests.vulndb.helpers import osv, write_zip
from tests.worker.helpers import (
    CERTIFI_VUL,
    PYPI_PACKAGE,
    ZLIB_VUL,
    add_image,
    build_image,
    import_advisories,
)

pytestmark = pytest.mark.slow
#: The scan request's own rows: everything else a rescan may not add to.
REQUEST_TABLES = {"scan_tasks", "scan_task_images", "alembic_version"}


@pytest.fixture
def sent() -> Iterator[list[dispatch.Message]]:
    """What the services send (the broker's side is tested in test_e2e); a test may "lose" messages."""
    out: list[dispatch.Message] = []
    dispatch.set_sender(out.append)
    yield out
    dispatch.set_sender(None)


@pytest.fixture(params=BACKENDS)
def rt(request: pytest.FixtureRequest, tmp_path: Path, sent: list[dispatch.Message]) -> Iterator[Runtime]:
    with runtime_on(request.param, tmp_path) as runtime:
        yield runtime


def _scan(rt: Runtime, pk: int, settings: Settings | None = None) -> ScanStatus | None:
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
    runtime = rt if settings is None else dataclasses.replace(rt, settings=settings)
    return scan_executor.run_job(runtime, job).status


def _row_counts(rt: Runtime) -> dict[str, int]:
    names = [n for n in inspect(rt.engine).get_table_names() if n not in REQUEST_TABLES]
    with transaction(rt.sessions) as s:
        return {n: int(s.scalar(select(func.count()).select_from(table(n))) or 0) for n in names}


def _layer_blobs(layout: Path) -> list[Path]:
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest).read_text())
    return [layout / "blobs" / "sha256" / d["digest"].split(":")[1] for d in manifest["layers"]]


def test_unchanged_rescan_reads_no_layer_and_writes_no_row(rt: Runtime, tmp_path: Path) -> None:
    # Without the layer cache a scan that reads the layers is a scan that needs them.
    uncached = rt.settings.model_copy(
        update={"scans": rt.settings.scans.model_copy(update={"layer_cache": False})}
    )
    import_advisories(rt.settings, tmp_path)
    layout = tmp_path / "img"
    pk = add_image(rt.sessions, "e2e/app", build_image(layout))
    assert _scan(rt, pk, uncached) is ScanStatus.SUCCESS
    with transaction(rt.sessions) as s:
        first = s.get_one(Image, pk).latest_scan_time
        fingerprint = s.scalar(select(ImageInventory.fingerprint).where(ImageInventory.image_pk == pk))
        vulns = set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk)))
    assert fingerprint and ZLIB_VUL in vulns
    before = _row_counts(rt)

    # Without its layers the image can only be rescanned from the stored results.
    for blob in _layer_blobs(layout):
        blob.unlink()
    assert _scan(rt, pk, uncached) is ScanStatus.SUCCESS
    assert _row_counts(rt) == before
    with transaction(rt.sessions) as s:
        img = s.get_one(Image, pk)
        assert img.scan_status == ScanStatus.SUCCESS.value and img.latest_scan_time >= first
        assert set(s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk))) == vulns

    # A changed advisory set is part of the fingerprint: the rescan reads the layers (gone: it fails).
    VulnDbService.from_settings(rt.settings).import_paths(
        [
            write_zip(
                tmp_path / "more.zip",
                [osv("OPENHSS-TEST-OTHER-1", "PyPI", "nothing-installed", events=[{"introduced": "0"}])],
            )
        ]
    )
    assert _scan(rt, pk, uncached) is ScanStatus.DOWNLOAD_FAILED

    # So is the image content: a rebuilt image is scanned in full, and gets a fingerprint of its own.
    build_image(layout, app_tag="v2")
    assert _scan(rt, pk, uncached) is ScanStatus.SUCCESS
    with transaction(rt.sessions) as s:
        again = s.scalar(select(ImageInventory.fingerprint).where(ImageInventory.image_pk == pk))
    assert again and again != fingerprint


def test_abandoned_rematch_run_is_resent_by_the_sweep_and_finished(
    rt: Runtime, tmp_path: Path, sent: list[dispatch.Message]
) -> None:
    feed = tmp_path / "advisories.zip"
    zlib = osv(ZLIB_VUL, "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:9.9.9-1"}])
    VulnDbService.from_settings(rt.settings).import_paths([write_zip(feed, [zlib])])
    pk = add_image(rt.sessions, "e2e/app", build_image(tmp_path / "img"))
    assert _scan(rt, pk) is ScanStatus.SUCCESS
    certifi = osv(CERTIFI_VUL, "PyPI", PYPI_PACKAGE, events=[{"introduced": "0"}, {"fixed": "9999.1.1"}])
    sync = VulnDbService.from_settings(rt.settings).import_paths([write_zip(feed, [zlib, certifi])])
    assert sync.changed

    with transaction(rt.sessions) as s:
        run_pk = rematch.queue_rematch(s, sync.changed).id
    sent.clear()  # the message is lost, and the worker that had taken the run is killed mid-run:
    lease_ms = rt.settings.scans.lease_seconds * 1000
    with transaction(rt.sessions) as s:
        t0 = s.get_one(RematchRun, run_pk).created_at
        assert rematch_lease.take(s, run_pk, "dead-worker", lease_ms=lease_ms, now=t0)
    matcher = rt.matchers.get()
    # While its lease is live nobody else runs it: a duplicate delivery does nothing.
    assert not rematch.rematch(
        rt.sessions, run_pk, matcher, owner="other", lease_seconds=rt.settings.scans.lease_seconds
    ).taken
    with transaction(rt.sessions) as s:
        assert rematch_lease.sweep_runs(s, rt.settings.scans, now=t0 + lease_ms - 1) == 0
    assert sent == []

    # One sweep after the lease ran out re-sends it, and the worker that gets the message finishes it.
    with transaction(rt.sessions) as s:
        assert rematch_lease.sweep_runs(s, rt.settings.scans, now=t0 + lease_ms + 1) == 1
    assert [(m.name, m.args) for m in sent] == [(rematch.REMATCH_TASK, (run_pk,))]
    report = rematch.rematch(
        rt.sessions, run_pk, matcher, owner="second-worker", lease_seconds=rt.settings.scans.lease_seconds
    )
    assert report.taken and report.rematched == 1
    assert [vul_ids for _, vul_ids in report.newly_affected] == [[CERTIFI_VUL]]
    with transaction(rt.sessions) as s:
        run = s.get_one(RematchRun, run_pk)
        assert (run.status, run.attempts, run.images_newly_affected) == ("finished", 2, 1)
        assert s.scalar(select(func.count()).select_from(RematchHit)) == 1
        # The dead worker, had it come back, can no longer finish or renew the run.
        assert not rematch_lease.finish(s, run_pk, "dead-worker")
        assert not rematch_lease.renew(s, run_pk, "dead-worker", lease_ms=lease_ms)
    # A finished run is never re-sent, and a late duplicate message changes nothing.
    sent.clear()
    with transaction(rt.sessions) as s:
        assert rematch_lease.sweep_runs(s, rt.settings.scans, now=t0 + 100 * lease_ms) == 0
    assert not rematch.rematch(
        rt.sessions, run_pk, matcher, owner="late", lease_seconds=rt.settings.scans.lease_seconds
    ).taken
