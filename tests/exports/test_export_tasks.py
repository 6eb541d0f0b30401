"""Export tasks end to end through the official SDK: request, status, download, read back.

Each report's rows are compared with what the API's per-image list endpoints return for the same images,
so the file cannot drift from the API. The worker's service runs directly here (the task only calls it);
one test sends the task through a real Celery worker on the embedded broker.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import (
    BatchExportLocalVulInfoRequestInfo,
    BatchExportLocalVulTaskRequest,
    ExportImageSecurityReportTaskRequest,
    ExportImageSecurityReportTaskRequestInfo,
    HssClient,
    ListDownloadExportedFileRequest,
    ListImageAppsRequest,
    ListImageBuildCommandRisksRequest,
    ListImageFilesRequest,
    ListImageLocalRequest,
    ListImageMalwareRequest,
    ListImageNonCompliantAppRequest,
    ListImageSensitiveRequest,
    ListImageVulnerabilitiesRequest,
    ListQueryExportTaskRequest,
    ShowLatestExportTaskByTypeRequest,
)
from sqlalchemy import select

from openhss.db.engine import transaction
from openhss.db.models import ExportTask
from openhss.exports.registry import LAYOUTS
from openhss.services import dispatch, exports
from openhss.worker.app import make_celery
from openhss.worker.embedded import start_embedded_worker
from tests.api.conftest import OTHER_AK, OTHER_PROJECT, OTHER_SK, Seeded, _seed, sdk
from tests.support.service import BACKENDS, PROJECT, running_service, service_on

ALL = "all_granted_eps"
LOCAL = "local_image"


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with service_on(request.param, tmp_path_factory.mktemp("exports")) as svc:
        yield Seeded(svc, _seed(svc))


# --- helpers ---------------------------------------------------------------------------------------------


def _pk(seeded: Seeded, task_id: str) -> int:
    with transaction(seeded.svc.runtime.sessions) as s:
        return s.scalars(select(ExportTask.id).where(ExportTask.task_id == task_id)).one()


def _run(seeded: Seeded, task_id: str) -> str:
    rt = seeded.svc.runtime
    return exports.run_export(rt.sessions, rt.settings, _pk(seeded, task_id))


def _download(c: HssClient, file_id: str) -> tuple[bytes, dict[str, str]]:
    got: dict[str, Any] = {}

    def consume(resp: Any) -> None:
        got["body"] = resp.content
        got["headers"] = {k.lower(): v for k, v in resp.headers.items()}

    c.list_download_exported_file(
        ListDownloadExportedFileRequest(file_id=file_id, region="r", enterprise_project_id=ALL)
    ).consume_download_stream(consume)
    return got["body"], got["headers"]


def _sheet(body: bytes, report_type: str) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    assert book.sheetnames == [LAYOUTS[report_type].sheet]
    rows = list(book.active.iter_rows(values_only=True))
    titles = [c.title for c in LAYOUTS[report_type].columns]
    assert list(rows[0]) == titles
    return [{t: ("" if v is None else v) for t, v in zip(titles, r, strict=True)} for r in rows[1:]]


def _report(seeded: Seeded, report_type: str, **body: Any) -> tuple[ExportTask, list[dict[str, Any]]]:
    """Request a security-report export through the SDK, run it, download and parse the file."""
    c = sdk(seeded.svc)
    body.setdefault("operate_all", True)
    body.setdefault("export_size", 1000)
    created = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            enterprise_project_id=ALL,
            body=ExportImageSecurityReportTaskRequestInfo(security_report_type=report_type, **body),
        )
    )
    return _finish(seeded, c, created.task_id, report_type)


def _finish(
    seeded: Seeded, c: HssClient, task_id: str, report_type: str
) -> tuple[ExportTask, list[dict[str, Any]]]:
    assert _run(seeded, task_id) == "success"
    status = c.list_query_export_task(ListQueryExportTaskRequest(task_id=task_id, enterprise_project_id=ALL))
    assert status.task_status == "success" and status.file_id and status.file_name.endswith(".xlsx")
    body, headers = _download(c, status.file_id)
    assert headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f'filename="{status.file_name}"' in headers["content-disposition"]
    with transaction(seeded.svc.runtime.sessions) as s:
        task = s.scalars(select(ExportTask).where(ExportTask.task_id == task_id)).one()
    rows = _sheet(body, report_type)
    assert task.record_total_num == len(rows)
    return task, rows


def _local_images(c: HssClient) -> list[Any]:
    resp = c.list_image_local(ListImageLocalRequest(enterprise_project_id=ALL, limit=200))
    return sorted(resp.data_list, key=lambda i: i.image_id)


def _api_rows(
    c: HssClient, list_call: Callable[[Any], list[Any]], fields: dict[str, str]
) -> Counter[tuple[Any, ...]]:
    """One tuple per API list item of every local image: (image name, version, id, *fields)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for img in _local_images(c):
        for item in list_call(img):
            out[
                (
                    img.image_name,
                    img.image_version,
                    img.image_id,
                    *(getattr(item, f) for f in fields.values()),
                )
            ] += 1
    return out


def _file_rows(rows: list[dict[str, Any]], fields: dict[str, str]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (r["Image name"], r["Image version"], r["Image ID"], *(r[t] for t in fields)) for r in rows
    )


# --- every report type equals the API lists ------------------------------------------------------------

PER_IMAGE: dict[str, tuple[Callable[[HssClient, Any], list[Any]], dict[str, str]]] = {
    "malwares": (
        lambda c, i: (
            c.list_image_malware(
                ListImageMalwareRequest(
                    image_id=i.image_id, image_type=LOCAL, limit=200, enterprise_project_id=ALL
                )
            ).data_list
        ),
        {"Malware": "description", "File name": "file_name", "File path": "file_path"},
    ),
    "apps": (
        lambda c, i: (
            c.list_image_apps(
                ListImageAppsRequest(
                    image_id=i.image_id, image_type=LOCAL, limit=200, enterprise_project_id=ALL
                )
            ).data_list
        ),
        {"Software": "app_name", "Version": "app_version", "Type": "app_type", "Vulnerabilities": "vul_num"},
    ),
    "files": (
        lambda c, i: (
            c.list_image_files(
                ListImageFilesRequest(
                    image_id=i.image_id, image_type=LOCAL, limit=200, enterprise_project_id=ALL
                )
            ).data_list
        ),
        {"File name": "file_name", "File path": "file_path", "Size (bytes)": "size"},
    ),
    "sensitive-info": (
        lambda c, i: (
            c.list_image_sensitive(
                ListImageSensitiveRequest(
                    image_id=i.image_id, image_type=LOCAL, limit=200, enterprise_project_id=ALL
                )
            ).data_list
        ),
        {
            "Sensitive information": "name",
            "Severity": "severity",
            "File path": "file_path",
            "Position": "position",
            "Evidence (masked)": "content",
            "Description": "description",
            "Handling status": "handle_status",
        },
    ),
    "non-compliant-app": (
        lambda c, i: (
            c.list_image_non_compliant_app(
                ListImageNonCompliantAppRequest(
                    image_id=i.image_id, image_type=LOCAL, limit=200, enterprise_project_id=ALL
                )
            ).data_list
        ),
        {"Software": "app_name", "Version": "app_version", "Path": "app_path", "Layer": "layer_digest"},
    ),
}


@pytest.mark.parametrize("report_type", sorted(PER_IMAGE))
def test_report_rows_equal_the_api_lists(seeded: Seeded, report_type: str) -> None:
    c = sdk(seeded.svc)
    _, rows = _report(seeded, report_type, image_type=LOCAL)
    call, fields = PER_IMAGE[report_type]
    expected = _api_rows(c, lambda img: call(c, img), fields)
    assert rows and _file_rows(rows, fields) == expected


def test_local_vulnerability_rows_equal_the_api_list(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    created = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            enterprise_project_id=ALL,
            export_size=1000,
            body=BatchExportLocalVulInfoRequestInfo(operate_all=True),
        )
    )
    _, rows = _finish(seeded, c, created.task_id, "local-vulnerability")
    fields = {
        "Vulnerability ID": "vul_id",
        "Repair urgency": "repair_necessity",
        "Description": "description",
        "Layer": "position",
        "Software": "app_name",
        "Path": "app_path",
        "Installed version": "version",
        "Solution": "solution",
    }

    def vuls(img: Any) -> list[Any]:
        return c.list_image_vulnerabilities(
            ListImageVulnerabilitiesRequest(
                image_id=img.image_id,
                image_type=LOCAL,
                namespace="-",
                image_name=img.image_name,
                tag_name=img.image_version,
                limit=200,
                enterprise_project_id=ALL,
            )
        ).data_list

    assert len(rows) == created.record_total_num == 11
    assert _file_rows(rows, fields) == _api_rows(c, vuls, fields)
    openssl = next(r for r in rows if r["Software"] == "openssl" and r["Vulnerability ID"] == "CVE-2023-5678")
    assert openssl["Severity"] == "Medium" and openssl["CVSS score"] == 7.5
    assert openssl["Fixed version"] == "3.0.13-1~deb12u1" and openssl["Handling status"] == "unhandled"
    assert openssl["Vulnerability type"] == "linux_vul" and openssl["First found"].startswith("2023-11-14")


def test_build_command_risks_match_the_rules_list(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    _, rows = _report(seeded, "build-command-risks", image_type=LOCAL)
    rules = c.list_image_build_command_risks(
        ListImageBuildCommandRisksRequest(image_type="local", enterprise_project_id=ALL, limit=200)
    ).data_list
    per_rule = Counter(r["Rule ID"] for r in rows)
    assert {(r.rule_id, r.image_num) for r in rules} == set(per_rule.items())
    assert {(r.rule_id, r.risk_name, r.risk_level, r.description) for r in rules} == {
        (r["Rule ID"], r["Risk"], r["Risk level"], r["Remediation"]) for r in rows
    }
    # Filters: rule ids and level; the default image type is the registry images (one here).
    _, registry = _report(seeded, "build-command-risks", build_command_rule_id_list=["curl-pipe-shell"])
    assert [r["Image name"] for r in registry] == ["library/nginx"]
    _, none = _report(seeded, "build-command-risks", image_type=LOCAL, build_command_risk_level="low")
    assert none == []


def test_filters_and_empty_results(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    nginx = next(i for i in _local_images(c) if i.image_name == "nginx")
    _, only = _report(seeded, "apps", image_type=LOCAL, operate_all=False, image_id_list=[nginx.image_id])
    assert {r["Image ID"] for r in only} == {nginx.image_id} and len(only) == 5
    # redis has no malware: the malware report of malware-free images is a header-only file.
    task, empty = _report(seeded, "malwares", image_type=LOCAL, has_malicious_file=False)
    assert empty == [] and task.record_total_num == 0
    _, redis_apps = _report(seeded, "apps", image_type=LOCAL, has_malicious_file=False)
    assert {r["Image name"] for r in redis_apps} == {"redis"}
    _, later = _report(seeded, "files", image_type=LOCAL, start_latest_scan_time=1_700_000_550_000)
    assert {r["Image name"] for r in later} == {"nginx", "payments/api"}
    _, capped = _report(seeded, "files", image_type=LOCAL, export_size=3)
    assert len(capped) == 3
    _, critical = _report(seeded, "apps", image_type=LOCAL, severity_level="High", image_name="redis")
    assert {r["Image name"] for r in critical} == {"redis"}
    _, newest = _report(seeded, "apps", image_type=LOCAL, latest_version=True, scan_status="success")
    assert {r["Image name"] for r in newest} == {"nginx", "redis", "payments/api"}
    # Local vulnerabilities: vul_type, handle_status, vul ids.
    created = c.batch_export_local_vul_task(
        BatchExportLocalVulTaskRequest(
            enterprise_project_id=ALL,
            export_size=1000,
            body=BatchExportLocalVulInfoRequestInfo(
                operate_all=True,
                vul_type="app_vul",
                handle_status="unhandled",
                vul_id_list=["CVE-2021-23337"],
            ),
        )
    )
    _, app_vuls = _finish(seeded, c, created.task_id, "local-vulnerability")
    assert {(r["Software"], r["Vulnerability type"]) for r in app_vuls} == {("lodash", "app_vul")}
    assert len(app_vuls) == 2  # nginx and payments/api


# --- status, latest, isolation, limits, failures -------------------------------------------------------


def test_other_projects_cannot_see_tasks_or_files(seeded: Seeded) -> None:
    task, _ = _report(seeded, "files", image_type=LOCAL, export_size=1)
    theirs = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    for call in (
        lambda cl: cl.list_query_export_task(ListQueryExportTaskRequest(task_id=task.task_id)),
        lambda cl: cl.list_download_exported_file(ListDownloadExportedFileRequest(file_id=task.file_id)),
    ):
        with pytest.raises(ClientRequestException) as own_path:
            call(theirs)
        assert own_path.value.status_code == 404 and own_path.value.error_code == "HSS.0404"
    # Their credentials on our project's path: refused before any lookup.
    resp = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/download/{task.file_id}",
        headers={"X-Auth-Token": _token(seeded, "tenant-b-admin", "tenant-b-pass-1", OTHER_PROJECT)},
    )
    assert resp.status_code == 403 and resp.json()["error_code"] == "HSS.0403"
    ours = sdk(seeded.svc)
    with pytest.raises(ClientRequestException) as unknown:
        ours.list_download_exported_file(ListDownloadExportedFileRequest(file_id="0" * 32))
    assert unknown.value.status_code == 404


def _token(seeded: Seeded, user: str, password: str, project: str) -> str:
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password}}},
            "scope": {"project": {"id": project}},
        }
    }
    return httpx.post(seeded.svc.base_url + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]


def test_latest_task_by_type(seeded: Seeded) -> None:
    task, _ = _report(seeded, "non-compliant-app", image_type=LOCAL)
    c = sdk(seeded.svc)
    by_id = c.show_latest_export_task_by_type(
        ShowLatestExportTaskByTypeRequest(
            task_id=task.task_id, export_task_type="non-compliant-app", enterprise_project_id=ALL
        )
    )
    assert (by_id.task_id, by_id.task_status, by_id.file_id) == (task.task_id, "success", task.file_id)
    with pytest.raises(ClientRequestException) as wrong_type:
        c.show_latest_export_task_by_type(
            ShowLatestExportTaskByTypeRequest(
                task_id=task.task_id, export_task_type="apps", enterprise_project_id=ALL
            )
        )
    assert wrong_type.value.status_code == 404
    newest = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/export-task",
        params={"export_task_type": "security-report-non-compliant-app", "enterprise_project_id": ALL},
        headers={"X-Auth-Token": _token(seeded, "admin", "admin-pass-for-tests", PROJECT)},
    )
    assert newest.status_code == 200 and newest.json()["task_id"] == task.task_id


def test_one_running_export_per_type_and_a_failure_says_why(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    first = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=10, security_report_type="apps", operate_all=True
            )
        )
    )
    with pytest.raises(ClientRequestException) as busy:
        c.export_image_security_report_task(
            ExportImageSecurityReportTaskRequest(
                body=ExportImageSecurityReportTaskRequestInfo(
                    export_size=11, security_report_type="apps", operate_all=True
                )
            )
        )
    assert busy.value.status_code == 400 and busy.value.error_code == "HSS.1035"
    assert first.task_id in busy.value.error_msg
    # Another type is not blocked; the first one fails because its directory cannot be created.
    other = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=10, security_report_type="files", operate_all=True
            )
        )
    )
    rt = seeded.svc.runtime
    blocker = exports.export_dir(rt.settings, PROJECT)
    moved = blocker.with_name(PROJECT + ".moved")
    if blocker.exists():
        blocker.rename(moved)
    blocker.write_text("not a directory")
    try:
        assert _run(seeded, first.task_id) == "failure"
    finally:
        blocker.unlink()
        if moved.exists():
            moved.rename(blocker)
    status = c.list_query_export_task(ListQueryExportTaskRequest(task_id=first.task_id))
    assert status.task_status == "failure" and status.file_id == ""
    raw = httpx.get(
        f"{seeded.svc.base_url}/v5/{PROJECT}/export-task/{first.task_id}",
        headers={"X-Auth-Token": _token(seeded, "admin", "admin-pass-for-tests", PROJECT)},
    ).json()
    assert raw["failed_reason"].startswith("could not write the export file: ")
    assert str(rt.settings.data_dir) not in raw["failed_reason"]
    assert _run(seeded, other.task_id) == "success"
    # The slot is free again.
    again = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=12, security_report_type="apps", operate_all=True
            )
        )
    )
    assert _run(seeded, again.task_id) == "success"


def test_redelivery_is_idempotent_and_retention_deletes_files(seeded: Seeded) -> None:
    task, _ = _report(seeded, "malwares", image_type=LOCAL)
    rt = seeded.svc.runtime
    path = exports.file_path(rt.settings, task)
    assert path.is_file()
    assert _run(seeded, task.task_id) == "success"  # a second delivery changes nothing
    with transaction(rt.sessions) as s:
        again = s.get_one(ExportTask, task.id)
        assert again.file_id == task.file_id
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(task.file_id)) == [path.name]
    later = task.create_time + (rt.settings.export_retention_hours + 1) * 3600 * 1000
    assert exports.cleanup_exports(rt.sessions, rt.settings, now=later) >= 1
    assert not path.exists()
    c = sdk(seeded.svc)
    status = c.list_query_export_task(
        ListQueryExportTaskRequest(task_id=task.task_id, enterprise_project_id=ALL)
    )
    assert status.task_status == "failure" and status.file_id == ""
    with pytest.raises(ClientRequestException) as gone:
        c.list_download_exported_file(ListDownloadExportedFileRequest(file_id=task.file_id))
    assert gone.value.status_code == 404


# --- the CLI and a real worker -------------------------------------------------------------------------


def _cli(seeded: Seeded, *args: str) -> subprocess.CompletedProcess[str]:
    settings = seeded.svc.runtime.settings
    env = {
        **os.environ,
        "OPENHSS_DATA_DIR": str(settings.data_dir),
        "OPENHSS_DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "openhss.entry", "export", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.slow
def test_cli_writes_the_same_rows(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "apps.csv"
    done = _cli(
        seeded, "apps", "--project", PROJECT, "--image-type", LOCAL, "--format", "csv", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    _, via_api = _report(seeded, "apps", image_type=LOCAL)
    assert got[0] == [c.title for c in LAYOUTS["apps"].columns]
    assert sorted(got[1:]) == sorted([str(v) for v in r.values()] for r in via_api)
    xlsx = tmp_path / "vuls.xlsx"
    done = _cli(seeded, "local-vulnerability", "--project", PROJECT, "--vul-type", "app_vul", "-o", str(xlsx))
    assert done.returncode == 0, done.stderr
    assert {r["Software"] for r in _sheet(xlsx.read_bytes(), "local-vulnerability")} == {"lodash"}
    for bad in (
        ("apps", "--project", PROJECT, "--format", "pdf", "-o", str(out)),
        ("apps", "--project", PROJECT, "--vul-type", "app_vul", "-o", str(out)),
        ("apps", "--project", "no-such-project", "-o", str(out)),
        ("apps", "--project", PROJECT, "-o", str(tmp_path / "missing" / "x.xlsx")),
    ):
        failed = _cli(seeded, *bad)
        assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr


@pytest.mark.slow
def test_a_real_worker_runs_the_export(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        seeded = Seeded(svc, _seed(svc))
        settings = svc.runtime.settings
        worker = start_embedded_worker(settings, concurrency=1)
        app = make_celery(settings)
        dispatch.set_sender(lambda m: app.send_task(m.name, args=list(m.args), queue=m.queue))
        try:
            c = sdk(svc)
            created = c.export_image_security_report_task(
                ExportImageSecurityReportTaskRequest(
                    enterprise_project_id=ALL,
                    body=ExportImageSecurityReportTaskRequestInfo(
                        export_size=100,
                        security_report_type="sensitive-info",
                        operate_all=True,
                        image_type=LOCAL,
                    ),
                )
            )
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline:
                status = c.list_query_export_task(
                    ListQueryExportTaskRequest(task_id=created.task_id, enterprise_project_id=ALL)
                )
                if status.task_status != "running":
                    break
                time.sleep(0.2)
            assert status is not None and status.task_status == "success", status
            rows = _sheet(_download(c, status.file_id)[0], "sensitive-info")
            assert {r["Sensitive information"] for r in rows} == {"AWS access key"} and len(rows) == 2
        finally:
            dispatch.set_sender(None)
            worker.stop()
        del seeded


def test_task_filters_are_stored_for_the_worker(seeded: Seeded) -> None:
    task, _ = _report(seeded, "sensitive-info", image_type=LOCAL, namespace="", risky=True)
    stored = json.loads(task.filters)
    assert stored["format"] == "xlsx" and stored["image_type"] == LOCAL
    assert stored["image_filter"]["risky"] is True


def test_csv_on_request_holds_the_same_rows(seeded: Seeded) -> None:
    token = _token(seeded, "admin", "admin-pass-for-tests", PROJECT)
    resp = httpx.post(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/security-report/export-tasks",
        params={"file_format": "csv", "enterprise_project_id": ALL},
        json={"export_size": 100, "security_report_type": "files", "operate_all": True, "image_type": LOCAL},
        headers={"X-Auth-Token": token},
    )
    assert resp.status_code == 200, resp.text
    task_id = resp.json()["task_id"]
    assert _run(seeded, task_id) == "success"
    c = sdk(seeded.svc)
    status = c.list_query_export_task(ListQueryExportTaskRequest(task_id=task_id, enterprise_project_id=ALL))
    assert status.file_name.endswith(".csv")
    body, headers = _download(c, status.file_id)
    assert headers["content-type"].startswith("text/csv")
    got = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    _, xlsx_rows = _report(seeded, "files", image_type=LOCAL)
    assert got[0] == [col.title for col in LAYOUTS["files"].columns]
    assert sorted(got[1:]) == sorted([str(v) for v in r.values()] for r in xlsx_rows)
    bad = httpx.post(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/security-report/export-tasks",
        params={"file_format": "pdf"},
        json={"export_size": 100, "security_report_type": "files", "operate_all": True},
        headers={"X-Auth-Token": token},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "HSS.0001"


def test_cleanup_resends_waiting_tasks_and_fails_stuck_ones(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    created = c.export_image_security_report_task(
        ExportImageSecurityReportTaskRequest(
            body=ExportImageSecurityReportTaskRequestInfo(
                export_size=5, security_report_type="non-compliant-app", operate_all=True
            )
        )
    )
    rt = seeded.svc.runtime
    pk = _pk(seeded, created.task_id)
    with transaction(rt.sessions) as s:
        created_at = s.get_one(ExportTask, pk).create_time
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    try:
        exports.cleanup_exports(rt.sessions, rt.settings, now=created_at + 60_000)
        assert sent == []  # too young to have been lost
        exports.cleanup_exports(rt.sessions, rt.settings, now=created_at + exports.RESEND_AFTER_MS + 1)
        assert sent == [dispatch.Message("openhss.run_export", (pk,), "exports")]
        later = created_at + rt.settings.export_timeout_minutes * 60_000 + 1
        assert exports.cleanup_exports(rt.sessions, rt.settings, now=later) >= 1
    finally:
        dispatch.set_sender(None)
    status = c.list_query_export_task(ListQueryExportTaskRequest(task_id=created.task_id))
    assert status.task_status == "failure"
    assert _run(seeded, created.task_id) == "failure"  # a late delivery does not revive it
