"""Strict HSS types: a value of the wrong JSON type is a 400 HSS.0001, never coerced into a decision.

`"operate_all": "yes"` used to be read as true and scanned every image of the project.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from openhss.db.engine import make_engine, transaction
from openhss.db.migrate import upgrade
from openhss.db.models import Image, ScanTask
from openhss.services import identity
from tests.support.service import PROJECT, Service, running_service


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    with running_service(tmp_path_factory.mktemp("strict")) as service:
        with transaction(service.runtime.sessions) as s:
            s.add(
                Image(project_id=PROJECT, image_type="local", image_id="sha256:" + "f" * 64, image_name="app")
            )
            admin = identity.get_user(s, service.runtime.settings.admin_username)
            token = identity.issue_token(s, admin, 3600, None, "password")[0]
        yield service, token


def _send(svc: tuple[Service, str], method: str, path: str, **kw: Any) -> httpx.Response:
    service, token = svc
    return httpx.request(
        method, service.base_url + f"/v5/{PROJECT}/" + path, headers={"X-Auth-Token": token}, **kw
    )


def _tasks(svc: tuple[Service, str]) -> int:
    with transaction(svc[0].runtime.sessions) as s:
        return s.scalar(select(func.count()).select_from(ScanTask)) or 0


def _is_bad_request(resp: httpx.Response) -> bool:
    return resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001"


@pytest.mark.parametrize("value", ["yes", "true", 1, "1", "on"])
def test_operate_all_must_be_a_json_boolean(svc: tuple[Service, str], value: object) -> None:
    before = _tasks(svc)
    resp = _send(svc, "POST", "image/local/batch-scan", json={"operate_all": value})
    assert _is_bad_request(resp), resp.text
    resp = _send(
        svc, "POST", "image/image-scan/tasks", json={"image_type": "local", "is_all": value, "scan_scope": 1}
    )
    assert _is_bad_request(resp), resp.text
    assert _tasks(svc) == before  # nothing was queued


def test_numbers_and_strings_are_not_coerced(svc: tuple[Service, str]) -> None:
    resp = _send(svc, "POST", "image/local/batch-scan", json={"operate_all": True, "image_size": "5"})
    assert _is_bad_request(resp), resp.text
    resp = _send(
        svc,
        "POST",
        "image/local/batch-scan",
        json={"operate_all": False, "image_info_list": [{"image_id": 7}]},
    )
    assert _is_bad_request(resp), resp.text


@pytest.mark.parametrize("value", ["yes", "1", "on", "True "])
def test_boolean_query_parameters_take_true_or_false_only(svc: tuple[Service, str], value: str) -> None:
    assert _is_bad_request(_send(svc, "GET", "image/local-repositories", params={"has_vul": value}))
    params = {"vul_id": "CVE-1", "type": "linux_vul", "image_type": "local", "is_handled": value}
    assert _is_bad_request(_send(svc, "GET", "vulnerability/images", params=params))


def test_documented_booleans_still_work(svc: tuple[Service, str]) -> None:
    for value in ("true", "false"):
        resp = _send(svc, "GET", "image/local-repositories", params={"has_vul": value})
        assert resp.status_code == 200, resp.text
    resp = _send(svc, "POST", "image/local/batch-scan", json={"operate_all": True})
    assert resp.status_code == 200, resp.text


def test_cicd_images_report_no_registry_type(tmp_path: Path) -> None:
    """HSS registry types name registries (SwrPrivate, Harbor ...): a pipeline's image has none."""
    with running_service(tmp_path) as service:
        with transaction(service.runtime.sessions) as s:
            s.add(
                Image(
                    project_id=PROJECT,
                    image_type="cicd",
                    registry_name="jenkins",
                    image_id="sha256:" + "c" * 64,
                    image_name="ci",
                )
            )
            admin = identity.get_user(s, service.runtime.settings.admin_username)
            token = identity.issue_token(s, admin, 3600, None, "password")[0]
        resp = httpx.get(
            service.base_url + f"/v5/{PROJECT}/image/cicd/images", headers={"X-Auth-Token": token}, timeout=30
        )
        assert resp.status_code == 200, resp.text
        rows = resp.json()["data_list"]
        assert rows and all(row["registry_type"] != "cicd" for row in rows)


def test_migration_drops_the_cicd_registry_type_of_stored_images(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, description, created_at) VALUES ('p', 'p', '', '2026-01-01')"
            )
        )
        for n, (kind, registry_type) in enumerate((("cicd", "cicd"), ("registry", "Harbor"))):
            conn.execute(
                text(
                    "INSERT INTO images (project_id, enterprise_project_id, image_type, image_id,"
                    " image_digest, image_name, image_version, local_image_type, registry_name,"
                    " registry_type, organization, cluster_id, cluster_name, agent_id, image_size,"
                    " is_multi_arch, latest_update_time, scan_status, scan_failed_desc,"
                    " first_scan_time, latest_scan_time, vul_num, unsafe_setting_num,"
                    " malicious_file_num, component_num, host_num, container_num, severity_level,"
                    " source_ref) VALUES ('p', '0', :kind, :id, '', 'n', '', 'other_image', 'r', :rt,"
                    " '', '', '', '', 0, false, 0, 'unscan', '', 0, 0, 0, 0, 0, 0, 0, 0, 'Security', '')"
                ),
                {"kind": kind, "id": f"i{n}", "rt": registry_type},
            )
    upgrade(engine)
    with engine.connect() as conn:
        types: dict[str, str] = dict(conn.execute(text("SELECT image_type, registry_type FROM images")).all())
    engine.dispose()
    assert types == {"cicd": "", "registry": "Harbor"}
