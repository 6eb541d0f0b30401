"""State-changing image endpoints through the official SDK: scans, scan tasks, exports, vulnerability
handling; and `record_scan` / `rematch` keeping the index and summaries right."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import (
    BatchExportLocalVulInfoRequestInfo,
    BatchExportLocalVulTaskRequest,
    BatchScanLocalImageRequest,
    CreateManualImageScanTaskReqInfo,
    CreateManualImageScanTaskReqInfoImageInfo,
    CreateManualImageScanTaskReqInfoQueryInfo,
    CreateManualImageScanTaskRequest,
    ExportImageSecurityReportTaskRequest,
    ExportImageSecurityReportTaskRequestInfo,
    HandleImageVulnerabilityRequest,
    HandleImageVulnerabilityRequestBody,
    HandleImageVulnerabilityRequestBodyImageDataList,
    ListImageLocalRequest,
    ListImageScanTaskRequest,
    ListImageVulnerabilitiesRequest,
    ListQueryExportTaskRequest,
    ListVulAffectImagesRequest,
    LocalImageBatchScanRequestBody,
    LocalImageInfo,
    StopImageScanTaskRequest,
)
from sqlalchemy import select, update

from openhss.db.engine import transaction
from openhss.db.models import ExportTask, Image, ImageFinding, ImageVulOperation, ScanTaskImage, VulImageIndex
from openhss.domain.enums import Severity
from openhss.scan.applier import Inventory
from openhss.services import exports, results
from tests.api.conftest import (
    OTHER_AK,
    OTHER_PROJECT,
    OTHER_SK,
    READER_AK,
    READER_SK,
    ZLIB,
    Seeded,
    nginx_inventory,
    sdk,
    vul,
)
from tests.support.service import PROJECT
from tests.support.signed import signed_request

NGINX_ID = f"sha256:{1:064x}"
REDIS_ID = f"sha256:{2:064x}"


def statuses(seeded: Seeded) -> dict[str, str]:
    resp = sdk(seeded.svc).list_image_local(ListImageLocalRequest(enterprise_project_id="all_granted_eps"))
    return {r.image_name: r.scan_status for r in resp.data_list}


def tasks(seeded: Seeded, **kw: Any) -> list[Any]:
    resp = sdk(seeded.svc).list_image_scan_task(ListImageScanTaskRequest(type="image_scan", **kw))
    return list(resp.data_list)


def test_scans_tasks_and_stop(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    other = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    # Tenant B names our image: nothing of ours is queued.
    with pytest.raises(ClientRequestException) as err:
        other.batch_scan_local_image(
            BatchScanLocalImageRequest(
                region="cn-north-4",
                body=LocalImageBatchScanRequestBody(
                    operate_all=False, image_info_list=[LocalImageInfo(image_id=REDIS_ID)]
                ),
            )
        )
    assert err.value.status_code == 404
    assert statuses(seeded)["redis"] == "success"
    # A read-only user may not scan.
    with pytest.raises(ClientRequestException) as err:
        sdk(seeded.svc, ak=READER_AK, sk=READER_SK).batch_scan_local_image(
            BatchScanLocalImageRequest(region="r", body=LocalImageBatchScanRequestBody(operate_all=True))
        )
    assert err.value.status_code == 403

    c.batch_scan_local_image(
        BatchScanLocalImageRequest(
            region="cn-north-4",
            body=LocalImageBatchScanRequestBody(
                operate_all=False,
                image_info_list=[LocalImageInfo(image_id=REDIS_ID, image_name="redis", image_version="7.2")],
            ),
        )
    )
    assert statuses(seeded) == {"nginx": "success", "redis": "waiting_for_scan", "payments/api": "success"}
    [task] = tasks(seeded)
    assert task.total_num == 1 and task.task_type == "manual" and task.image_type == "local"
    assert task.scan_scope == 0x7FFFFFFF and task.task_status == 0
    # All local images on a host (query_info), vulnerabilities only; redis is already queued.
    c.create_manual_image_scan_task(
        CreateManualImageScanTaskRequest(
            region="cn-north-4",
            global_image_type="local",
            body=CreateManualImageScanTaskReqInfo(
                scan_scope=0x000F0000,
                rate_limit=0,
                is_all=True,
                query_info=CreateManualImageScanTaskReqInfoQueryInfo(private_ip="192.168.0.20"),
            ),
        )
    )
    assert statuses(seeded)["nginx"] == "waiting_for_scan"
    newest = tasks(seeded)[0]
    assert newest.total_num == 1 and newest.scan_scope == 0x000F0000 and newest.is_all
    assert json.loads(_task_filters(seeded, newest.task_id)) == {"private_ip": "192.168.0.20"}
    assert [t.task_id for t in tasks(seeded, scan_scope=0x000F0000)] == [newest.task_id]
    assert tasks(seeded, task_status="finished") == []
    assert sdk(seeded.svc).list_image_scan_task(ListImageScanTaskRequest(type="image_sync")).total_num == 0
    # Registry scan by the list's numeric id with a rate limit.
    with transaction(seeded.svc.runtime.sessions) as s:
        reg_pk = s.scalars(select(Image.id).where(Image.image_type == "registry")).one()
    c.create_manual_image_scan_task(
        CreateManualImageScanTaskRequest(
            body=CreateManualImageScanTaskReqInfo(
                rate_limit=1000,
                is_all=False,
                image_info=[CreateManualImageScanTaskReqInfoImageInfo(id=reg_pk, registry_type="SwrPrivate")],
            )
        )
    )
    reg_task = tasks(seeded, global_image_type="registry")[0]
    assert reg_task.rate_limit == 1000 and reg_task.total_num == 1

    # Stopping: waiting rows become image_scan_stop; progress -1; another tenant cannot stop it.
    with pytest.raises(ClientRequestException) as err:
        other.stop_image_scan_task(StopImageScanTaskRequest(task_id=newest.task_id, region="r"))
    assert err.value.status_code == 404
    c.stop_image_scan_task(StopImageScanTaskRequest(task_id=newest.task_id, region="r"))
    assert statuses(seeded)["nginx"] == "image_scan_stop"
    stopped = tasks(seeded, task_id=newest.task_id)[0]
    assert stopped.task_status == -1 and stopped.end_time > 0
    with transaction(seeded.svc.runtime.sessions) as s:
        waiting = s.scalars(select(ScanTaskImage.status).order_by(ScanTaskImage.id)).all()
    assert waiting == ["waiting_for_scan", "image_scan_stop", "waiting_for_scan"]


def _task_filters(seeded: Seeded, task_id: str) -> str:
    from openhss.db.models import ScanTask

    with transaction(seeded.svc.runtime.sessions) as s:
        return s.scalars(select(ScanTask.filters).where(ScanTask.task_id == task_id)).one()


def _post(seeded: Seeded, path: str, body: Any) -> httpx.Response:
    return signed_request(seeded.svc, "POST", f"/v5/{PROJECT}" + path, body)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/image/image-scan/tasks?global_image_type=local", {"rate_limit": 1001, "is_all": True}),
        ("/image/image-scan/tasks?global_image_type=local", {"rate_limit": -1, "is_all": True}),
        ("/image/image-scan/tasks?global_image_type=local", {"scan_scope": 0x80000000, "is_all": True}),
        ("/image/image-scan/tasks?global_image_type=local", {"scan_scope": -1, "is_all": True}),
        ("/image/image-scan/tasks?global_image_type=cicd", {"is_all": True}),
        ("/image/image-scan/tasks", {"is_all": False}),
        ("/image/image-scan/tasks", {"is_all": True, "query_info": {"image_type": "docker_hub"}}),
        ("/image/image-scan/tasks", {"is_all": False, "image_info": [{"registry_type": "Quay"}]}),
        ("/image/local/batch-scan", {"operate_all": False}),
        ("/image/local/batch-scan", {"operate_all": True, "scan_status": "stopped"}),
        ("/image/local/batch-scan", {"operate_all": True, "local_image_type": "dockerhub"}),
        ("/image/local/batch-scan", {"operate_all": True, "image_size": -5}),
        ("/image/local-vulnerability/export?export_size=10", {"operate_all": False}),
        ("/image/local-vulnerability/export", {"operate_all": True}),
        ("/image/local-vulnerability/export?export_size=0", {"operate_all": True}),
        ("/image/local-vulnerability/export?export_size=10", {"operate_all": True, "vul_type": "web_vul"}),
        (
            "/image/local-vulnerability/export?export_size=10",
            {"operate_all": True, "handle_status": "ignored"},
        ),
        ("/image/security-report/export-tasks", {"export_size": 10, "operate_all": True}),
        ("/image/security-report/export-tasks", {"export_size": 10, "security_report_type": "apps"}),
        (
            "/image/security-report/export-tasks",
            {"export_size": 10, "security_report_type": "x", "operate_all": True},
        ),
        (
            "/image/security-report/export-tasks",
            {"export_size": 10, "security_report_type": "apps", "operate_all": True, "image_type": "quay"},
        ),
        (
            "/image/security-report/export-tasks",
            {
                "export_size": 10,
                "security_report_type": "apps",
                "operate_all": True,
                "severity_level": "Critical",
            },
        ),
        (
            "/image/vulnerability/handle",
            {"image_type": "local", "type": "linux_vul", "operate_type": "ignore"},
        ),
        (
            "/image/vulnerability/handle",
            {"image_type": "local", "type": "linux_vul", "operate_type": "delete", "select_type": "all_vul"},
        ),
        (
            "/image/vulnerability/handle",
            {"image_type": "local", "type": "linux_vul", "operate_type": "ignore", "select_type": "vul_view"},
        ),
        ("/image/local/batch-scan", "not an object"),
    ],
)
def test_invalid_bodies_are_400_and_create_nothing(seeded: Seeded, path: str, body: Any) -> None:
    with transaction(seeded.svc.runtime.sessions) as s:
        before = (len(s.scalars(select(ExportTask.id)).all()), len(s.scalars(select(ScanTaskImage.id)).all()))
    resp = _post(seeded, path, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "HSS.0001"
    with transaction(seeded.svc.runtime.sessions) as s:
        after = (len(s.scalars(select(ExportTask.id)).all()), len(s.scalars(select(ScanTaskImage.id)).all()))
    assert after == before


def _finish_exports(seeded: Seeded) -> None:
    """Run the export worker's service for every running task (no worker runs in these tests)."""
    rt = seeded.svc.runtime
    with transaction(rt.sessions) as s:
        pks = s.scalars(select(ExportTask.id).where(ExportTask.task_status == "running")).all()
    for pk in pks:
        assert exports.run_export(rt.sessions, rt.settings, pk) == "success"


def test_exports_count_what_the_file_will_hold(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    resp = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            region="cn-north-4",
            export_size=1000,
            body=BatchExportLocalVulInfoRequestInfo(
                image_id_list=[NGINX_ID], operate_all=False, vul_type="linux_vul"
            ),
        )
    )
    assert resp.record_total_num == 4 and resp.task_id
    status = c.list_query_export_task(ListQueryExportTaskRequest(task_id=resp.task_id, region="r"))
    assert status.task_status == "running" and status.task_id == resp.task_id and status.file_id == ""
    with pytest.raises(ClientRequestException) as err:
        sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK).list_query_export_task(
            ListQueryExportTaskRequest(task_id=resp.task_id)
        )
    assert err.value.status_code == 404
    _finish_exports(seeded)  # one running export per type and project
    everything = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            region="r",
            enterprise_project_id="all_granted_eps",
            export_size=1000,
            body=BatchExportLocalVulInfoRequestInfo(operate_all=True),
        )
    )
    assert everything.record_total_num == 11  # nginx 5 + redis 1 + payments/api 5
    _finish_exports(seeded)
    capped = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            region="r",
            export_size=3,
            body=BatchExportLocalVulInfoRequestInfo(operate_all=True, has_container=True),
        )
    )
    assert capped.record_total_num == 3
    _finish_exports(seeded)
    only = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            region="r",
            export_size=100,
            body=BatchExportLocalVulInfoRequestInfo(
                operate_all=True, vul_id_list=["CVE-2023-45853"], image_name="redis"
            ),
        )
    )
    assert only.record_total_num == 1
    _finish_exports(seeded)

    report = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=500, security_report_type="malwares", operate_all=True, image_type="local_image"
            ),
            enterprise_project_id="all_granted_eps",
        )
    )
    with transaction(seeded.svc.runtime.sessions) as s:
        row = s.scalars(select(ExportTask).where(ExportTask.task_id == report.task_id)).one()
        assert row.record_total_num == 2 and row.task_status == "running"
        assert (
            row.export_type == "security-report-malwares" and json.loads(row.filters)["operate_all"] is True
        )
    apps = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=500,
                security_report_type="apps",
                operate_all=False,
                image_id_list=[NGINX_ID],
                image_type="local_image",
            )
        )
    )
    risks = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=500,
                security_report_type="build-command-risks",
                operate_all=True,
                build_command_rule_id_list=["curl-pipe-shell"],
                build_command_risk_level="high",
            )
        )
    )
    with transaction(seeded.svc.runtime.sessions) as s:
        counts = dict(s.execute(select(ExportTask.task_id, ExportTask.record_total_num)).all())
    assert counts[apps.task_id] == 5 and counts[risks.task_id] == 1  # risks: the one registry image


def test_vulnerability_handling_with_history(seeded: Seeded) -> None:
    c = sdk(seeded.svc)

    def affected(vul_id: str, handled: bool) -> list[str]:
        resp = c.list_vul_affect_images(
            ListVulAffectImagesRequest(
                vul_id=vul_id, type="linux_vul", image_type="local", is_handled=handled
            )
        )
        return sorted(f"{r.image_name}:{r.status}" for r in resp.data_list)

    def handle(**kw: Any) -> None:
        c.handle_image_vulnerability(
            HandleImageVulnerabilityRequest(body=HandleImageVulnerabilityRequestBody(**kw))
        )

    handle(
        image_type="local",
        type="linux_vul",
        operate_type="ignore",
        select_type="specific_vul_all_image",
        vul_id_list=["CVE-2023-45853"],
        remark="accepted risk",
    )
    assert affected("CVE-2023-45853", True) == ["nginx:vul_status_ignored", "redis:vul_status_ignored"]
    assert affected("CVE-2023-45853", False) == []
    local = {r.image_name: r for r in c.list_image_local(ListImageLocalRequest()).data_list}
    assert local["redis"].vul_num == 0 and local["redis"].severity_level == "Security"
    assert local["nginx"].vul_num == 3 and local["nginx"].severity_level == "High"  # malware keeps it High
    per_image = c.list_image_vulnerabilities(
        ListImageVulnerabilitiesRequest(
            image_id=REDIS_ID,
            image_type="local_image",
            namespace="",
            image_name="redis",
            tag_name="7.2",
            handle_status="handled",
        )
    )
    assert [v.vul_id for v in per_image.data_list] == ["CVE-2023-45853"]

    handle(
        image_type="local",
        type="linux_vul",
        operate_type="not_ignore",
        select_type="image_view",
        image_data_list=[
            HandleImageVulnerabilityRequestBodyImageDataList(
                image_id=REDIS_ID, vul_id_list=["CVE-2023-45853"]
            )
        ],
    )
    assert affected("CVE-2023-45853", False) == ["redis:vul_status_unfix"]
    handle(
        image_type="local",
        type="linux_vul",
        operate_type="manual_repair",
        select_type="specific_image_all_vul",
        image_id_list=[NGINX_ID],
    )
    with transaction(seeded.svc.runtime.sessions) as s:
        history = s.execute(
            select(
                ImageVulOperation.operate_type,
                ImageVulOperation.vul_id,
                ImageVulOperation.image_id,
                ImageVulOperation.user_name,
                ImageVulOperation.remark,
            ).order_by(ImageVulOperation.id)
        ).all()
        nginx_status = dict(
            s.execute(
                select(VulImageIndex.vul_id, VulImageIndex.status)
                .join(Image, Image.id == VulImageIndex.image_pk)
                .where(
                    Image.image_id == NGINX_ID,
                    Image.project_id == PROJECT,
                    VulImageIndex.vul_type == "linux_vul",
                )
            ).all()
        )
    assert [tuple(h) for h in history[:2]] == [
        ("ignore", "CVE-2023-45853", NGINX_ID, "admin", "accepted risk"),
        ("ignore", "CVE-2023-45853", REDIS_ID, "admin", "accepted risk"),
    ] or sorted(tuple(h) for h in history[:2]) == sorted(
        [
            ("ignore", "CVE-2023-45853", NGINX_ID, "admin", "accepted risk"),
            ("ignore", "CVE-2023-45853", REDIS_ID, "admin", "accepted risk"),
        ]
    )
    assert history[2][:3] == ("not_ignore", "CVE-2023-45853", REDIS_ID)
    assert {h[0] for h in history[3:]} == {"manual_repair"} and len(history[3:]) == 2  # the two still open
    assert nginx_status == {
        "CVE-2023-5678": "vul_status_fixed",
        "CVE-2024-0727": "vul_status_fixed",
        "CVE-2023-45853": "vul_status_ignored",
    }
    # Another tenant's identical image is untouched.
    other = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    assert other.list_image_local(ListImageLocalRequest()).data_list[0].vul_num == 4


def test_record_scan_replaces_results_and_keeps_verdicts(seeded: Seeded) -> None:
    sessions = seeded.svc.runtime.sessions
    pk = seeded.images[f"{OTHER_PROJECT}:nginx:local"]
    with transaction(sessions) as s:
        s.execute(
            update(ImageFinding)
            .where(ImageFinding.image_pk == pk, ImageFinding.kind == "sensitive-info")
            .values(handle_status="ignored")
        )
        results.record_scan(
            s,
            pk,
            nginx_inventory(),
            [vul("CVE-2023-45853", ZLIB, Severity.CRITICAL)],
            scanned_at=1_800_000_000_000,
        )
    with transaction(sessions) as s:
        img = s.get_one(Image, pk)
        assert (img.vul_num, img.first_scan_time, img.latest_scan_time) == (
            1,
            1_700_000_600_000,
            1_800_000_000_000,
        )
        assert s.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == pk)).all() == [
            "CVE-2023-45853"
        ]
        assert s.scalars(
            select(ImageFinding.handle_status).where(
                ImageFinding.image_pk == pk, ImageFinding.kind == "sensitive-info"
            )
        ).all() == ["ignored"]
        results.rematch(s, pk, [])
    with transaction(sessions) as s:
        img = s.get_one(Image, pk)
        assert img.vul_num == 0 and img.component_num == 5 and img.severity_level == "High"
        assert s.scalars(select(VulImageIndex.id).where(VulImageIndex.image_pk == pk)).all() == []
        results.record_scan(s, pk, Inventory(), [], scanned_at=1_800_000_000_001)
    with transaction(sessions) as s:
        assert s.get_one(Image, pk).severity_level == "Security"
