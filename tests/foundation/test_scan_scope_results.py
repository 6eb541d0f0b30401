"""A scan limited by `scan_scope` replaces only the results of the families it ran.

The defect this guards: a malware-only scan set `vul_num` from its value to 0 and took the image off
`/vulnerability/images`, because every scan replaced every result table wholesale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openhss.db.engine import transaction
from openhss.db.models import Image, ImageApp, ImageFinding, ImageVulnerability, ScanTaskImage, VulImageIndex
from openhss.domain.enums import FindingKind, ScanScope, ScanStatus, Severity
from openhss.domain.models import Finding
from openhss.services import dispatch, results, scan_queue, scan_tasks
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from tests.api.conftest import BUILD_RISK, NGINX_VULS, nginx_inventory
from tests.support.service import PROJECT, make_settings

SECRET = Finding(FindingKind.SECRET, "aws-access-key", Severity.HIGH, "AWS key", path="app/.env", line=3)
MALWARE_A = Finding(FindingKind.MALWARE, "eicar", Severity.HIGH, "EICAR test file", path="tmp/a.com")
MALWARE_B = Finding(FindingKind.MALWARE, "eicar", Severity.HIGH, "EICAR test file", path="tmp/b.com")


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    runtime = open_runtime(make_settings(tmp_path))
    bootstrap_admin(runtime)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()
        dispatch.set_sender(None)


def _image(rt: Runtime) -> int:
    with transaction(rt.sessions) as s:
        img = Image(
            project_id=PROJECT,
            enterprise_project_id="0",
            image_type="local",
            image_id="sha256:" + "ab" * 32,
            image_name="nginx",
            image_version="1.25",
        )
        s.add(img)
        s.flush()
        inv = nginx_inventory()
        inv.findings = [SECRET, MALWARE_A]
        results.record_scan(s, img.id, inv, NGINX_VULS, [BUILD_RISK], scanned_at=1_700_000_000_000)
        return img.id


def _state(rt: Runtime, pk: int) -> dict[str, object]:
    with transaction(rt.sessions) as s:
        img = s.get_one(Image, pk)
        kinds = dict(
            s.execute(
                select(ImageFinding.kind, func.count())
                .where(ImageFinding.image_pk == pk)
                .group_by(ImageFinding.kind)
            ).all()
        )
        return {
            "vul_num": img.vul_num,
            "severity_level": img.severity_level,
            "malicious_file_num": img.malicious_file_num,
            "vul_rows": s.scalar(select(func.count()).where(ImageVulnerability.image_pk == pk)),
            "indexed": s.scalar(select(func.count()).where(VulImageIndex.image_pk == pk)),
            "app_vul_num": sum(s.scalars(select(ImageApp.vul_num).where(ImageApp.image_pk == pk))),
            "kinds": kinds,
            "malware_paths": sorted(
                s.scalars(
                    select(ImageFinding.path).where(
                        ImageFinding.image_pk == pk, ImageFinding.kind == "malwares"
                    )
                )
            ),
        }


def test_a_malware_only_scan_keeps_the_vulnerabilities_and_other_findings(rt: Runtime) -> None:
    pk = _image(rt)
    before = _state(rt, pk)
    assert before["vul_num"] and before["indexed"] and before["app_vul_num"]
    inv = nginx_inventory()
    inv.findings = [SECRET, MALWARE_B]  # a secret found again is not stored: the scope did not ask for it
    with transaction(rt.sessions) as s:
        results.record_scan(s, pk, inv, [], [], scanned_at=1_700_000_100_000, scope=ScanScope.MALWARE)
    after = _state(rt, pk)
    for key in ("vul_num", "vul_rows", "indexed", "app_vul_num", "severity_level"):
        assert after[key] == before[key], key
    assert after["malware_paths"] == ["tmp/b.com"] and after["malicious_file_num"] == 1
    assert after["kinds"] == before["kinds"]  # one secret, one build risk, one malware: as before


def test_a_vulnerability_only_scan_keeps_the_findings(rt: Runtime) -> None:
    pk = _image(rt)
    before = _state(rt, pk)
    with transaction(rt.sessions) as s:
        results.record_scan(
            s,
            pk,
            nginx_inventory(),
            NGINX_VULS[:1],
            [],
            scanned_at=1_700_000_100_000,
            scope=ScanScope.VULNERABILITY,
        )
    after = _state(rt, pk)
    assert after["vul_rows"] == 1 and after["vul_num"] == 1
    assert after["kinds"] == before["kinds"] and after["malware_paths"] == ["tmp/a.com"]


def test_a_full_scan_still_replaces_everything(rt: Runtime) -> None:
    pk = _image(rt)
    clean = nginx_inventory()
    clean.findings = []
    with transaction(rt.sessions) as s:
        results.record_scan(s, pk, clean, [], [], scanned_at=1_700_000_100_000)
    after = _state(rt, pk)
    assert (after["vul_rows"], after["vul_num"], after["indexed"], after["kinds"]) == (0, 0, 0, {})


def test_a_malware_scan_task_through_the_job_state_machine(rt: Runtime) -> None:
    """The worker's path: the task's scan_scope reaches the result writer."""
    pk = _image(rt)
    before = _state(rt, pk)
    with transaction(rt.sessions) as s:
        task = scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id="sha256:" + "ab" * 32)],
            scan_scope=int(ScanScope.MALWARE),
            settings=rt.settings.scans,
        )
        job_pk = s.scalars(select(ScanTaskImage.id).where(ScanTaskImage.task_pk == task.id)).one()
    with transaction(rt.sessions) as s:
        assert isinstance(
            scan_queue.start_job(s, job_pk, "w", settings=rt.settings.scans), scan_queue.Started
        )
    inv = nginx_inventory()
    inv.findings = [MALWARE_B]
    with transaction(rt.sessions) as s:
        assert scan_queue.finish_job(s, job_pk, "w", ScanStatus.SUCCESS, inventory=inv)
    after = _state(rt, pk)
    assert (after["vul_num"], after["indexed"]) == (before["vul_num"], before["indexed"])
    assert after["malware_paths"] == ["tmp/b.com"]


def test_task_status_and_counters_come_from_one_read(rt: Runtime) -> None:
    """`task_status` and success/failed counts are one aggregate of the job rows: 100 means every
    image is counted (the list once showed 100 with 3 of 4 images counted)."""
    _image(rt)
    with transaction(rt.sessions) as s:
        task = scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=False,
            refs=[scan_tasks.ImageRefIn(image_id="sha256:" + "ab" * 32)],
            settings=rt.settings.scans,
        )
        job_pk = s.scalars(select(ScanTaskImage.id).where(ScanTaskImage.task_pk == task.id)).one()
        assert scan_tasks.task_progress(s, task) == scan_tasks.TaskProgress(0, 0, 0)
    with transaction(rt.sessions) as s:
        assert isinstance(
            scan_queue.start_job(s, job_pk, "w", settings=rt.settings.scans), scan_queue.Started
        )
    with transaction(rt.sessions) as s:
        assert scan_queue.finish_job(s, job_pk, "w", ScanStatus.DOWNLOAD_FAILED, "registry unreachable")
    with transaction(rt.sessions) as s:
        got = scan_tasks.task_progress(s, s.get_one(type(task), task.id))
    assert got == scan_tasks.TaskProgress(100, 0, 1)
