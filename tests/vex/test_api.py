"""The VEX endpoints and the handle request's additive fields over HTTP (AK/SK-signed), done-when
scenario: ignore with a reason on one service → OpenVEX export → import into a second service (own data
dir and database) → the same finding is suppressed there with the same reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from openhss.services.results import IGNORED, UNFIXED, now_ms
from tests.support.service import PROJECT, Service, running_service
from tests.support.signed import signed_request
from tests.vex.test_service import REASON, Instance

CVE = "CVE-2023-45853"


def call(svc: Service, method: str, path: str, body: Any = None, raw: bytes | None = None) -> httpx.Response:
    return signed_request(svc, method, f"/v5/{PROJECT}" + path, body, raw=raw)


def handle(svc: Service, image_id: str, **extra: Any) -> httpx.Response:
    return call(
        svc,
        "POST",
        "/image/vulnerability/handle",
        {
            "image_type": "local",
            "type": "linux_vul",
            "operate_type": "ignore",
            "select_type": "vul_view",
            "vul_data_list": [{"vul_id": CVE, "image_id_list": [image_id]}],
            "remark": REASON,
            **extra,
        },
    )


def history(svc: Service) -> list[dict[str, Any]]:
    resp = call(
        svc, "GET", f"/image/vulnerability/handle-history?vul_id={CVE}&image_type=local&limit=10&offset=0"
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data_list"])


def test_ignore_export_import_into_second_service(tmp_path: Path) -> None:
    with running_service(tmp_path / "a") as a, running_service(tmp_path / "b") as b:
        ia, ib = Instance(a.runtime.sessions), Instance(b.runtime.sessions)
        pk_a, pk_b = ia.image(), ib.image()
        with a.runtime.sessions() as s:
            from openhss.db.models import Image

            image_id = s.get_one(Image, pk_a).image_id
        resp = handle(
            a, image_id, justification="vulnerable_code_not_present", expires_at=now_ms() + 86_400_000
        )
        assert resp.status_code == 200, resp.text
        assert ia.status(pk_a, CVE) == IGNORED
        listed = call(a, "GET", "/image/vex/statements?limit=10&offset=0").json()
        assert listed["total_num"] == 1
        assert listed["data_list"][0]["justification"] == "vulnerable_code_not_present"
        assert listed["data_list"][0]["impact_statement"] == REASON

        doc = call(a, "GET", "/image/vex/export?format=openvex")
        assert doc.status_code == 200, doc.text
        assert doc.json()["@context"] == "https://openvex.dev/ns/v0.2.0"
        cdx = call(a, "GET", "/image/vex/export?format=cyclonedx&include_open=false")
        assert [v["id"] for v in cdx.json()["vulnerabilities"]] == [CVE]

        assert ib.status(pk_b, CVE) == UNFIXED
        imported = call(b, "POST", "/image/vex/import", raw=doc.content)
        assert imported.status_code == 200, imported.text
        assert imported.json()["applied_num"] == 1
        assert ib.status(pk_b, CVE) == IGNORED
        (entry,) = history(b)
        assert entry["remark"] == REASON and entry["handle_type"] == "ignore"
        (shown,) = call(b, "GET", "/image/vex/suppressions?limit=10&offset=0").json()["data_list"]
        assert shown["vul_id"] == CVE and shown["reason"] == REASON and shown["source"] == "import"
        assert shown["justification"] == "vulnerable_code_not_present" and shown["status"] == IGNORED
        assert shown["expires_at"] > 0  # the expiry travelled with the statement


def test_errors_are_hss_bodies(tmp_path: Path) -> None:
    with running_service(tmp_path) as svc:
        pk = Instance(svc.runtime.sessions).image()
        with svc.runtime.sessions() as s:
            from openhss.db.models import Image

            image_id = s.get_one(Image, pk).image_id
        for body, raw in (
            (None, b"not json"),
            (None, json.dumps({"bomFormat": "SPDX"}).encode()),
        ):
            resp = call(svc, "POST", "/image/vex/import", body, raw)
            assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", resp.text
        for extra in ({"justification": "because I said so"}, {"expires_at": 5}):
            resp = handle(svc, image_id, **extra)
            assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", resp.text
        resp = call(svc, "GET", "/image/vex/export?format=spdx")
        assert resp.status_code == 400
