"""The running service through the official `huaweicloudsdkhss` client and plain HTTP, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import HssClient, ListVulAffectImagesRequest
from sqlalchemy import func, select

from openhss.db.engine import transaction
from openhss.db.models import Base, Image, VulImageIndex
from openhss.domain.enums import Role
from openhss.services import identity
from tests.support.service import ADMIN_PASSWORD, PROJECT, Service
from tests.support.signed import signed_headers, signed_request

VUL = "CVE-2024-0001"


def sdk(svc: Service, project: str | None = None, ak: str | None = None, sk: str | None = None) -> HssClient:
    return (
        HssClient.new_builder()
        .with_credentials(BasicCredentials(ak or svc.ak, sk or svc.sk, project or svc.project_id))
        .with_endpoints([svc.base_url])
        .build()
    )


def vul_request(**overrides: Any) -> ListVulAffectImagesRequest:
    args: dict[str, Any] = {"vul_id": VUL, "type": "linux_vul", "image_type": "local", "is_handled": False}
    args.update(overrides)
    return ListVulAffectImagesRequest(**args)


@pytest.fixture(scope="module", autouse=True)
def seeded(service: Service) -> Iterator[None]:
    with transaction(service.runtime.sessions) as s:
        images = []
        for i, (name, containers) in enumerate([("nginx", 2), ("redis", 0), ("web/nginx-proxy", 1)]):
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id=f"sha256:{i:064x}",
                image_digest=f"sha256:{i + 9:064x}",
                image_name=name,
                image_version="1.25",
                image_size=1000 + i,
                container_num=containers,
                agent_id=f"agent-{i}",
                first_scan_time=1_700_000_000_000,
                latest_scan_time=1_700_000_100_000,
                scan_status="success",
            )
            s.add(img)
            images.append(img)
        s.flush()
        for img, handled in zip(images, [False, False, True], strict=True):
            s.add(
                VulImageIndex(
                    project_id=PROJECT,
                    vul_id=VUL,
                    vul_type="linux_vul",
                    image_pk=img.id,
                    image_type="local",
                    repair_necessity="High",
                    status="vul_status_ignored" if handled else "vul_status_unfix",
                    handled=handled,
                )
            )
        identity.create_project(s, "other", "proj-other")
        identity.create_user(s, "reader", Role.READ_ONLY, "reader-pass-1")
        identity.grant(s, "reader", PROJECT)
        identity.create_access_key(
            s, service.runtime.box, "reader", pair=("READERAK000000000001", "reader-sk-" + "x" * 30)
        )
    yield


def row_counts(svc: Service) -> dict[str, int]:
    with transaction(svc.runtime.sessions) as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables
        }


def test_sdk_gets_typed_response(service: Service) -> None:
    resp = sdk(service).list_vul_affect_images(vul_request())
    assert resp.status_code == 200
    assert resp.total_num == 2
    names = sorted(r.image_name for r in resp.data_list)
    assert names == ["nginx", "redis"]
    row = next(r for r in resp.data_list if r.image_name == "nginx")
    assert (
        row.container_num == 2 and row.image_type == "local_image" and row.first_scan_time == "1700000000000"
    )
    assert (
        row.status == "vul_status_unfix" and row.repair_necessity == "High" and row.is_multi_arch == "false"
    )
    handled = sdk(service).list_vul_affect_images(vul_request(is_handled=True))
    assert [r.image_name for r in handled.data_list] == ["web/nginx-proxy"]
    assert sdk(service).list_vul_affect_images(vul_request(image_name="ngin")).total_num == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"limit": 9}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": 2_000_001}, "offset"),
        ({"type": "bad"}, "type"),
        ({"image_type": "x"}, "image_type"),
        ({"vul_id": None}, "vul_id"),
    ],
)
def test_sdk_gets_400_naming_the_field(service: Service, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientRequestException) as err:
        sdk(service).list_vul_affect_images(vul_request(**overrides))
    exc = err.value
    assert exc.status_code == 400 and exc.error_code == "HSS.0001"
    assert field in exc.error_msg and exc.request_id


def test_sdk_gets_403_for_a_project_not_granted(service: Service) -> None:
    with pytest.raises(ClientRequestException) as err:
        sdk(
            service, project="proj-other", ak="READERAK000000000001", sk="reader-sk-" + "x" * 30
        ).list_vul_affect_images(vul_request())
    assert err.value.status_code == 403 and err.value.error_code == "HSS.0403" and err.value.request_id
    ok = sdk(service, ak="READERAK000000000001", sk="reader-sk-" + "x" * 30).list_vul_affect_images(
        vul_request()
    )
    assert ok.total_num == 2


def _signed_get(
    svc: Service, path: str, sk: str | None = None, when: datetime | None = None
) -> httpx.Response:
    return signed_request(svc, "GET", path, headers={"x-project-id": svc.project_id}, sk=sk, when=when)


QUERY = f"/v5/{PROJECT}/vulnerability/images?vul_id={VUL}&type=linux_vul&image_type=local&is_handled=false"


def test_rejections_are_401_with_hss_body_and_write_nothing(service: Service) -> None:
    before = row_counts(service)
    cases = [
        httpx.get(service.base_url + QUERY),
        _signed_get(service, QUERY, sk="wrong-secret"),
        _signed_get(service, QUERY, when=datetime.now(UTC) - timedelta(minutes=16)),
        httpx.get(service.base_url + QUERY, headers={"X-Auth-Token": "MIITnot-a-token"}),
        httpx.get(
            service.base_url + QUERY, headers={"Authorization": "SDK-HMAC-SHA256 Access=X, Signature=y"}
        ),
    ]
    for resp in cases:
        assert resp.status_code == 401, resp.text
        body = resp.json()
        assert body["error_code"] == "HSS.0401" and body["error_msg"]
        assert resp.headers["X-Request-Id"]
    assert _signed_get(service, QUERY).status_code == 200
    after = row_counts(service)
    after["access_keys"] = before["access_keys"]
    assert after == before


def test_replayed_state_changing_request_gets_the_first_answer_and_does_nothing(service: Service) -> None:
    token = _password_token(service)
    url = service.base_url + "/v3/auth/tokens"
    headers = signed_headers(service, "DELETE", url, headers={"x-subject-token": token})
    assert httpx.delete(url, headers=headers).status_code == 204
    again = _password_token(service)
    assert again != token
    replay = httpx.delete(url, headers=headers)
    assert replay.status_code == 204  # the stored answer; the DELETE did not run again


def _password_token(
    svc: Service, user: str = "admin", password: str = ADMIN_PASSWORD, project: str | None = None
) -> str:
    body: dict[str, Any] = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": "x"}}},
            }
        }
    }
    if project:
        body["auth"]["scope"] = {"project": {"id": project}}
    resp = httpx.post(svc.base_url + "/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["user"]["name"] == user
    return resp.headers["X-Subject-Token"]


def test_token_auth_plain_http_and_through_the_sdk(service: Service) -> None:
    token = _password_token(service, project=PROJECT)
    resp = httpx.get(service.base_url + QUERY, headers={"X-Auth-Token": token})
    assert resp.status_code == 200 and resp.json()["total_num"] == 2
    other = httpx.get(
        service.base_url + QUERY.replace(PROJECT, "proj-other"), headers={"X-Auth-Token": token}
    )
    assert other.status_code == 403
    client = sdk(service, ak="PLACEHOLDER", sk="PLACEHOLDER")
    client.preset_headers = {"X-Auth-Token": token}
    assert client.list_vul_affect_images(vul_request()).total_num == 2
    body = {
        "auth": {
            "identity": {
                "methods": ["hw_ak_sk"],
                "hw_ak_sk": {"access": {"key": service.ak}, "secret": {"key": service.sk}},
            }
        }
    }
    assert httpx.post(service.base_url + "/v3/auth/tokens", json=body).status_code == 201


#: httpx's 5 s default is a latency assertion; on a loaded 2-core machine an 11 MB upload and a
#: password hash can take longer (a timed-out run of this test was that, not a hang).
LOADED = 60.0


def test_bad_login_malformed_json_unknown_route_and_oversized_body(service: Service) -> None:
    bad = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "nope"}}}
        }
    }
    resp = httpx.post(service.base_url + "/v3/auth/tokens", json=bad, timeout=LOADED)
    assert resp.status_code == 401 and resp.json()["error_code"] == "HSS.0401"
    resp = httpx.post(
        service.base_url + "/v3/auth/tokens",
        content=b'{"auth": ',
        headers={"content-type": "application/json"},
        timeout=LOADED,
    )
    assert resp.status_code == 400 and "JSON" in resp.json()["error_msg"]
    resp = httpx.get(service.base_url + "/v5/x/nothing-here", timeout=LOADED)
    assert (
        resp.status_code == 404 and resp.json()["error_code"] == "HSS.0404" and resp.headers["X-Request-Id"]
    )
    big = b'{"a": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    resp = httpx.post(
        service.base_url + "/v3/auth/tokens",
        content=big,
        headers={"content-type": "application/json"},
        timeout=LOADED,
    )
    assert resp.status_code == 413 and resp.json()["error_code"] == "HSS.0413"


def test_read_only_user_sees_only_granted_and_project_discovery(service: Service) -> None:
    url = service.base_url + "/v3/projects?name=default"
    headers = signed_headers(service, "GET", url, ak="READERAK000000000001", sk="reader-sk-" + "x" * 30)
    resp = httpx.get(url, headers=headers)
    assert resp.status_code == 200
    assert [p["id"] for p in resp.json()["projects"]] == [PROJECT]


def test_health_and_openapi(service: Service) -> None:
    health = httpx.get(service.base_url + "/health", timeout=30).json()
    assert health["status"] == "ok" and health["database"] in {"sqlite", "postgresql"}
    # The first /openapi.json builds the whole schema (seconds on a loaded machine; httpx's default is 5 s).
    doc = httpx.get(service.base_url + "/openapi.json", timeout=60).json()
    assert "/v5/{project_id}/vulnerability/images" in doc["paths"]
    assert json.dumps(doc)
