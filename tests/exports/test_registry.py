"""The export registry: every report type and file format is declared once, and the API, the CLI and
the console offer exactly what is registered. The registry and CI/CD vulnerability exports (added
through the registry) hold those images' rows, never the local ones."""

from __future__ import annotations

import io
import json
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import func, select

from openhss.api.app import create_app
from openhss.api.schemas import ExportImageSecurityReportTaskRequestInfo
from openhss.cli_export import export_app
from openhss.console.views import REPORT_TYPES as CONSOLE_REPORT_TYPES
from openhss.db.engine import transaction
from openhss.db.models import ExportTask, Image, ImageVulnerability
from openhss.domain.errors import InvalidRequest
from openhss.domain.models import OSInfo
from openhss.exports.base import FileFormat, ReportLayout
from openhss.exports.registry import FILE_FORMATS, LAYOUTS
from openhss.scan.applier import Inventory
from openhss.services import exports, results
from openhss.services.identity import Scope
from openhss.services.images import ImageFilter
from tests.api.conftest import NGINX_VULS, Seeded, _seed, nginx_inventory
from tests.support.service import ADMIN_PASSWORD, PROJECT, running_service


def test_every_layout_has_one_statement_and_every_statement_a_layout() -> None:
    assert {k.layout.name for k in exports.EXPORT_KINDS.values()} == set(LAYOUTS)
    for kind in exports.EXPORT_KINDS.values():
        assert kind.layout is LAYOUTS[kind.layout.name]
        assert len({c.key for c in kind.layout.columns}) == len(kind.layout.columns), kind.layout.name
        assert len(kind.layout.sheet) <= 31 and "/" not in kind.layout.sheet


def test_hss_security_report_enum_is_the_registered_security_reports() -> None:
    """The HSS enum is the spec's and stays literal; it must name exactly the registered reports."""
    annotation = ExportImageSecurityReportTaskRequestInfo.model_fields["security_report_type"].annotation
    assert set(typing.get_args(annotation)) == set(exports.SECURITY_REPORT_TYPES)


def test_cli_and_console_offer_the_registered_report_types() -> None:
    commands = {c.name for c in export_app.registered_commands}
    assert commands == set(LAYOUTS)
    assert {name for name, _ in CONSOLE_REPORT_TYPES} == set(LAYOUTS)


def test_api_offers_the_registered_formats_and_vulnerability_exports(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        schema = create_app(svc.runtime.settings).openapi()
    paths = schema["paths"]
    for report, image_type in exports.VUL_REPORTS.items():
        assert f"/v5/{{project_id}}/image/{report}/export" in paths, image_type
    params = paths["/v5/{project_id}/image/registry-vulnerability/export"]["post"]["parameters"]
    fmt = next(p for p in params if p["name"] == "file_format")
    assert fmt["schema"]["enum"] == list(FILE_FORMATS)


# --- registry and CI/CD vulnerability exports against data ----------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with running_service(tmp_path_factory.mktemp("export-registry")) as svc:
        pks = _seed(svc)
        with transaction(svc.runtime.sessions) as s:
            img = Image(
                project_id=PROJECT,
                enterprise_project_id="0",
                image_type="cicd",
                image_id="sha256:" + "c1" * 32,
                image_name="shop/web",
                image_version="build-7",
                registry_name="jenkins-main",
                latest_update_time=1_700_000_000_100,
            )
            s.add(img)
            s.flush()
            results.record_scan(
                s, img.id, Inventory(os=OSInfo("debian", "12"), packages=nginx_inventory().packages),
                NGINX_VULS[:2], scanned_at=1_700_000_700_000,
            )  # fmt: skip
            pks[f"{PROJECT}:shop/web:cicd"] = img.id
        yield Seeded(svc, pks)


def _token(seeded: Seeded) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    return httpx.post(seeded.svc.base_url + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]


def _vul_count(seeded: Seeded, image_type: str) -> int:
    with transaction(seeded.svc.runtime.sessions) as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(ImageVulnerability)
                .join(Image, Image.id == ImageVulnerability.image_pk)
                .where(Image.project_id == PROJECT, Image.image_type == image_type)
            )
            or 0
        )


def _export(seeded: Seeded, report: str, body: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    headers = {"X-Auth-Token": _token(seeded)}
    base = f"{seeded.svc.base_url}/v5/{PROJECT}"
    r = httpx.post(
        f"{base}/image/{report}/export",
        params={"export_size": 1000, "enterprise_project_id": "all_granted_eps", **params},
        json=body,
        headers=headers,
    )
    assert r.status_code == 200, r.text
    task_id = r.json()["task_id"]
    rt = seeded.svc.runtime
    with transaction(rt.sessions) as s:
        task = s.scalars(select(ExportTask).where(ExportTask.task_id == task_id)).one()
        pk, total = task.id, task.record_total_num
        assert task.export_type == report
    assert exports.run_export(rt.sessions, rt.settings, pk) == "success"
    status = httpx.get(
        f"{base}/export-task/{task_id}", params={"enterprise_project_id": "all_granted_eps"}, headers=headers
    ).json()
    assert status["task_status"] == "success" and status["file_name"].startswith(report)
    # Created with all_granted_eps, polled without enterprise_project_id: the same task (was a 404).
    plain = httpx.get(f"{base}/export-task/{task_id}", headers=headers)
    assert plain.status_code == 200 and plain.json() == status
    got = httpx.get(
        f"{base}/download/{status['file_id']}",
        params={"enterprise_project_id": "all_granted_eps"},
        headers=headers,
    )
    book = openpyxl.load_workbook(io.BytesIO(got.content), read_only=True)
    assert book.sheetnames == [LAYOUTS[report].sheet]
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    titles = [c.title for c in LAYOUTS[report].columns]
    assert list(rows[0]) == titles
    out = [dict(zip(titles, r, strict=True)) for r in rows[1:]]
    assert len(out) == total
    return out


def test_registry_vulnerability_export_holds_the_registry_rows(seeded: Seeded) -> None:
    rows = _export(seeded, "registry-vulnerability", {"operate_all": True})
    assert len(rows) == _vul_count(seeded, "registry") > 0
    assert {(r["Image name"], r["Registry"], r["Namespace"]) for r in rows} == {
        ("library/nginx", "swr-cn-north-4", "library")
    }
    # Registry images are named by the id the image list returns (the row's pk).
    pk = seeded.images[f"{PROJECT}:library/nginx:registry"]
    assert len(
        _export(seeded, "registry-vulnerability", {"operate_all": False, "image_id_list": [str(pk)]})
    ) == len(rows)
    assert (
        _export(seeded, "registry-vulnerability", {"operate_all": False, "image_id_list": ["999999"]}) == []
    )


def test_cicd_vulnerability_export_holds_the_cicd_rows(seeded: Seeded) -> None:
    rows = _export(seeded, "cicd-vulnerability", {"operate_all": True}, file_format="xlsx")
    assert len(rows) == _vul_count(seeded, "cicd") == 2
    assert {(r["Image name"], r["Image version"], r["CI/CD pipeline"]) for r in rows} == {
        ("shop/web", "build-7", "jenkins-main")
    }
    assert {r["Vulnerability ID"] for r in rows} == {v.vul_id for v in NGINX_VULS[:2]}


def test_an_unregistered_format_is_a_400(seeded: Seeded) -> None:
    r = httpx.post(
        f"{seeded.svc.base_url}/v5/{PROJECT}/image/cicd-vulnerability/export",
        params={"export_size": 10, "file_format": "pdf"},
        json={"operate_all": True},
        headers={"X-Auth-Token": _token(seeded)},
    )
    assert r.status_code == 400 and r.json()["error_code"] == "HSS.0001"


def test_the_vulnerability_query_follows_the_image_type(seeded: Seeded) -> None:
    """The console's "Registry" choice: a vulnerability export of registry images selects registry rows."""
    scope = Scope(PROJECT, None)
    with transaction(seeded.svc.runtime.sessions) as s:
        for image_type in exports.VUL_IMAGE_TYPES:
            q = exports.VulExport(image_filter=ImageFilter(), operate_all=True, image_type=image_type)
            assert exports.count_rows(s, scope, q, 10_000) == _vul_count(seeded, image_type)


def test_a_format_limited_to_some_reports(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How a document format (a VEX writer) registers: one FileFormat, limited to the reports it can
    write; any other report in that format is a 400, before a task exists."""

    def write_ids(path: Path, layout: ReportLayout, rows: Iterable[Mapping[str, Any]]) -> int:
        ids = [str(r["vul_id"]) for r in rows]
        path.write_text(json.dumps({"report": layout.name, "vulnerabilities": ids}))
        return len(ids)

    vul_reports = frozenset(exports.VUL_REPORTS)
    ids_format = FileFormat("ids", "application/json", "json", write_ids, vul_reports)
    monkeypatch.setitem(FILE_FORMATS, "ids", ids_format)
    rt, scope = seeded.svc.runtime, Scope(PROJECT, None)
    q = exports.VulExport(image_filter=ImageFilter(), operate_all=True, image_type="cicd")
    out = tmp_path / "cicd.json"
    assert exports.write_export(rt.sessions, scope, q, 100, "ids", out) == 2
    assert json.loads(out.read_text())["report"] == "cicd-vulnerability"
    report = exports.ReportExport(security_report_type="malwares", operate_all=True)
    with pytest.raises(InvalidRequest, match="cannot write the malwares report"):
        exports.write_export(rt.sessions, scope, report, 100, "ids", tmp_path / "m.json")
    with transaction(rt.sessions) as s, pytest.raises(InvalidRequest):
        exports.create_export(s, scope, 100, report, "ids", enqueue=False)
