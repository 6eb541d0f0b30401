"""Read endpoints of the image API through the official SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import (
    ListGlobalVulnerabilitiesRequest,
    ListImageAppsRequest,
    ListImageBuildCommandRisksRequest,
    ListImageFilesRequest,
    ListImageLocalRequest,
    ListImageMalwareRequest,
    ListImageNonCompliantAppRequest,
    ListImageSensitiveRequest,
    ListImageVulnerabilitiesRequest,
    ListLocalImageContainersRequest,
    ListLocalImageHostsRequest,
    ListVulAffectImagesRequest,
    ListVulRepoImageRequest,
)

from tests.api.conftest import EP_AK, EP_SK, OTHER_AK, OTHER_PROJECT, OTHER_SK, Seeded, sdk
from tests.support.service import PROJECT
from tests.support.signed import signed_request

NGINX_ID = f"sha256:{1:064x}"
REDIS_ID = f"sha256:{2:064x}"
PAYMENTS_ID = f"sha256:{3:064x}"


def local(seeded: Seeded, **kw: Any) -> tuple[int, list[str]]:
    resp = sdk(seeded.svc).list_image_local(ListImageLocalRequest(**kw))
    return resp.total_num, sorted(r.image_name for r in resp.data_list)


def test_local_image_list_and_every_filter(seeded: Seeded) -> None:
    resp = sdk(seeded.svc).list_image_local(ListImageLocalRequest(enterprise_project_id="all_granted_eps"))
    assert resp.total_num == 3
    nginx = next(r for r in resp.data_list if r.image_name == "nginx")
    assert nginx.image_id == NGINX_ID and nginx.scan_status == "success"
    assert nginx.vul_num == 4 and nginx.component_num == 5 and nginx.malicious_file_num == 1
    assert nginx.unsafe_setting_num == 1 and nginx.container_num == 2 and nginx.host_num == 2
    assert nginx.severity_level == "High" and nginx.latest_scan_time == 1_700_000_600_000
    assert nginx.host_name == "web-node-1" and nginx.agent_id == "agent-1"
    assert local(seeded) == (2, ["nginx", "redis"])  # default enterprise project "0"
    assert local(seeded, image_name="ngi") == (1, ["nginx"])
    assert local(seeded, image_name="nginx", image_version="9.9") == (0, [])
    assert local(seeded, host_name="batch") == (2, ["nginx", "redis"])
    assert local(seeded, host_id="ecs-1") == (1, ["nginx"])
    assert local(seeded, host_ip="192.168.0.20") == (2, ["nginx", "redis"])
    assert local(seeded, host_ip="100.64.0.10") == (1, ["nginx"])
    assert local(seeded, container_name="web-") == (1, ["nginx"])
    assert local(seeded, container_id="c0ffee1") == (1, ["nginx"])
    assert local(seeded, pod_name="web-7d") == (1, ["nginx"])
    assert local(seeded, pod_id="pod-0") == (1, ["nginx"])
    assert local(seeded, app_name="loda") == (1, ["nginx"])
    assert local(seeded, has_container=False) == (1, ["redis"])
    assert local(seeded, has_vul=True) == (2, ["nginx", "redis"])
    assert local(seeded, has_vul=False) == (0, [])
    assert local(seeded, scan_status="success") == (2, ["nginx", "redis"])
    assert local(seeded, scan_status="unscan") == (0, [])
    assert local(seeded, local_image_type="other_image") == (2, ["nginx", "redis"])
    assert local(seeded, image_size=50_000_001) == (1, ["redis"])
    assert local(
        seeded, start_latest_scan_time=1_700_000_550_000, end_latest_scan_time=1_800_000_000_000
    ) == (
        1,
        ["nginx"],
    )
    assert local(seeded, start_latest_update_time=0, end_latest_update_time=1_700_000_000_000) == (
        1,
        ["nginx"],
    )


def test_local_image_hosts_and_containers(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    hosts = c.list_local_image_hosts(
        ListLocalImageHostsRequest(region="r", image_name="nginx", image_version="1.25")
    )
    assert hosts.total_num == 2
    assert {h.host_name for h in hosts.data_list} == {"web-node-1", "batch-node-2"}
    one = c.list_local_image_hosts(
        ListLocalImageHostsRequest(region="r", image_name="nginx", agent_id="agent-2")
    )
    assert [h.private_ip for h in one.data_list] == ["192.168.0.20"]
    cont = c.list_local_image_containers(
        ListLocalImageContainersRequest(region="r", image_digest=f"sha256:{101:064x}")
    )
    assert cont.total_num == 2
    row = next(r for r in cont.data_list if r.container_id == "c0ffee0")
    assert (
        row.pod_name == "web-7d9f" and row.host_name == "web-node-1" and row.entry_point.startswith("nginx")
    )


def test_per_image_vulnerabilities_and_filters(seeded: Seeded) -> None:
    c = sdk(seeded.svc)

    def req(**kw: Any) -> ListImageVulnerabilitiesRequest:
        args = {
            "image_id": NGINX_ID,
            "image_type": "local_image",
            "namespace": "",
            "image_name": "nginx",
            "tag_name": "1.25",
        }
        args.update(kw)
        return ListImageVulnerabilitiesRequest(**args)

    resp = c.list_image_vulnerabilities(req())
    assert resp.total_num == 5
    first = resp.data_list[0]
    assert first.vul_id == "CVE-2023-45853" and first.repair_necessity == "immediate_repair"
    assert first.app_name == "zlib1g" and first.position.startswith("sha256:")
    assert c.list_image_vulnerabilities(req(type="app_vul")).data_list[0].app_path.endswith("package.json")
    assert c.list_image_vulnerabilities(req(repair_necessity="delay_repair")).total_num == 2
    assert c.list_image_vulnerabilities(req(vul_id="2023-56")).total_num == 2
    assert c.list_image_vulnerabilities(req(app_name="libssl")).total_num == 1
    assert c.list_image_vulnerabilities(req(handle_status="handled")).total_num == 0
    with pytest.raises(ClientRequestException) as err:
        c.list_image_vulnerabilities(req(image_id="sha256:" + "f" * 64))
    assert err.value.status_code == 404


def test_vul_affect_images_from_the_index(seeded: Seeded) -> None:
    c = sdk(seeded.svc)

    def req(**kw: Any) -> ListVulAffectImagesRequest:
        args = {"vul_id": "CVE-2023-45853", "type": "linux_vul", "image_type": "local", "is_handled": False}
        args.update(kw)
        return ListVulAffectImagesRequest(**args)

    resp = c.list_vul_affect_images(req())
    assert resp.total_num == 2
    row = next(r for r in resp.data_list if r.image_name == "nginx")
    assert row.repair_necessity == "Critical" and row.container_num == 2 and row.cluster_id == "cce-1"
    assert row.first_scan_time == "1700000600000" and row.status == "vul_status_unfix"
    assert c.list_vul_affect_images(req(enterprise_project_id="all_granted_eps")).total_num == 3
    assert c.list_vul_affect_images(req(cluster_id="cce-1")).total_num == 1
    assert c.list_vul_affect_images(req(image_type="registry")).total_num == 1
    assert c.list_vul_affect_images(req(repair_necessity="Low")).total_num == 0
    assert c.list_vul_affect_images(req(vul_id="CVE-2024-0727")).total_num == 1


def test_global_vulnerabilities_and_images_of_a_vulnerability(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    resp = c.list_global_vulnerabilities(ListGlobalVulnerabilitiesRequest(offset=0, limit=10))
    by_id = {v.vul_id: v for v in resp.data_list}
    assert set(by_id) == {"CVE-2023-5678", "CVE-2024-0727", "CVE-2023-45853", "CVE-2021-23337"}
    z = by_id["CVE-2023-45853"]
    assert z.history_number == 3 and z.undeal_number == 3 and z.repair_necessity == "immediate_repair"
    assert z.data_list[0].cve_id == "CVE-2023-45853"
    only_app = c.list_global_vulnerabilities(
        ListGlobalVulnerabilitiesRequest(offset=0, limit=10, type="app_vul")
    )
    assert [v.vul_id for v in only_app.data_list] == ["CVE-2021-23337"]
    assert (
        c.list_global_vulnerabilities(
            ListGlobalVulnerabilitiesRequest(offset=0, limit=10, repair_necessity="not_needed_repair")
        ).total_num
        == 1
    )
    images = c.list_vul_repo_image(ListVulRepoImageRequest(vul_id="CVE-2023-5678"))
    assert images.total_num == 2  # nginx local + library/nginx registry (ep "0")
    reg = next(i for i in images.data_list if i.image_type == "registry")
    assert reg.namespace == "library" and {t.app_name for t in reg.data_list} == {"openssl", "libssl3"}
    assert (
        c.list_vul_repo_image(ListVulRepoImageRequest(vul_id="CVE-2023-5678", app_name="libssl")).total_num
        == 2
    )
    assert (
        c.list_vul_repo_image(ListVulRepoImageRequest(vul_id="CVE-2023-5678", namespace="library")).total_num
        == 1
    )


def test_per_image_result_lists(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    apps = c.list_image_apps(ListImageAppsRequest(image_id=NGINX_ID, image_type="local_image"))
    assert apps.total_num == 5
    assert {a.app_name: a.vul_num for a in apps.data_list} == {
        "bash": 0,
        "libssl3": 1,
        "lodash": 1,
        "openssl": 2,
        "zlib1g": 1,
    }
    assert (
        c.list_image_apps(
            ListImageAppsRequest(image_id=NGINX_ID, image_type="local", app_name="ssl")
        ).total_num
        == 2
    )
    files = c.list_image_files(
        ListImageFilesRequest(image_id=NGINX_ID, image_type="local_image", file_name="pass")
    )
    assert [(f.file_path, f.size) for f in files.data_list] == [("usr/bin/passwd", 68_248)]
    reg_id = f"sha256:{4:064x}"
    mal = c.list_image_malware(
        ListImageMalwareRequest(image_id=reg_id, image_type="private_image", region="r")
    )
    assert [(m.file_name, m.description) for m in mal.data_list] == [("eicar.com", "Eicar-Signature")]
    sens = c.list_image_sensitive(
        ListImageSensitiveRequest(image_id=reg_id, image_type="private_image", region="r")
    )
    assert sens.total_num == 1
    secret = sens.data_list[0]
    assert secret.content == "AKIA************MPLE" and secret.position == "app/.env:3"
    assert secret.severity == "high" and secret.handle_status == "unhandled"
    assert (
        c.list_image_sensitive(
            ListImageSensitiveRequest(image_id=reg_id, image_type="private_image", severity="low")
        ).total_num
        == 0
    )
    nc = c.list_image_non_compliant_app(
        ListImageNonCompliantAppRequest(image_id=reg_id, image_type="private_image", region="r")
    )
    assert [(a.app_name, a.app_path) for a in nc.data_list] == [("ghostscript", "usr/bin/gs")]
    with pytest.raises(ClientRequestException) as err:  # the registry image is not a harbor image
        c.list_image_malware(ListImageMalwareRequest(image_id=reg_id, image_type="harbor"))
    assert err.value.status_code == 404
    risks = c.list_image_build_command_risks(
        ListImageBuildCommandRisksRequest(image_type="registry", region="r")
    )
    assert [(r.rule_id, r.image_num, r.risk_level) for r in risks.data_list] == [
        ("curl-pipe-shell", 1, "high")
    ]
    local_risks = c.list_image_build_command_risks(
        ListImageBuildCommandRisksRequest(image_type="local", enterprise_project_id="all_granted_eps")
    )
    assert local_risks.data_list[0].image_num == 2


def test_tenant_isolation(seeded: Seeded) -> None:
    other = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    resp = other.list_image_local(ListImageLocalRequest())
    assert resp.total_num == 1 and resp.data_list[0].image_id == f"sha256:{5:064x}"
    with pytest.raises(ClientRequestException) as err:
        other.list_image_vulnerabilities(
            ListImageVulnerabilitiesRequest(
                image_id=NGINX_ID, image_type="local_image", namespace="", image_name="nginx", tag_name="1.25"
            )
        )
    assert err.value.status_code == 404
    with pytest.raises(ClientRequestException) as err:
        sdk(seeded.svc, project=PROJECT, ak=OTHER_AK, sk=OTHER_SK).list_image_local(ListImageLocalRequest())
    assert err.value.status_code == 403
    z = other.list_global_vulnerabilities(ListGlobalVulnerabilitiesRequest(offset=0, limit=10))
    assert {v.vul_id: v.history_number for v in z.data_list}["CVE-2023-45853"] == 1


def test_enterprise_project_scoping(seeded: Seeded) -> None:
    admin = sdk(seeded.svc)
    assert local(seeded, enterprise_project_id="ep-prod") == (1, ["payments/api"])
    ep_only = sdk(seeded.svc, ak=EP_AK, sk=EP_SK)
    mine = ep_only.list_image_local(ListImageLocalRequest(enterprise_project_id="all_granted_eps"))
    assert [r.image_name for r in mine.data_list] == ["payments/api"]
    with pytest.raises(ClientRequestException) as err:
        ep_only.list_image_local(ListImageLocalRequest())  # the default project "0" is not granted
    assert err.value.status_code == 403
    with pytest.raises(ClientRequestException) as err:
        ep_only.list_image_apps(
            ListImageAppsRequest(
                image_id=NGINX_ID, image_type="local_image", enterprise_project_id="all_granted_eps"
            )
        )
    assert err.value.status_code == 404
    assert (
        admin.list_image_apps(
            ListImageAppsRequest(
                image_id=PAYMENTS_ID, image_type="local_image", enterprise_project_id="ep-prod"
            )
        ).total_num
        == 5
    )


LISTS = [
    "/image/local-repositories?",
    "/image/local/hosts?",
    "/image/local/containers?",
    "/image/vulnerabilities?",
    "/image/tasks?type=image_scan&",
    f"/image/{NGINX_ID}/apps?image_type=local_image&",
    f"/image/{NGINX_ID}/files?image_type=local_image&",
    f"/image/{NGINX_ID}/vulnerabilities?image_type=local_image&namespace=&image_name=nginx&tag_name=1.25&",
    "/image/CVE-2023-5678/images?",
    "/image/build-command-risks?image_type=registry&",
    "/vulnerability/images?vul_id=CVE-2023-5678&type=linux_vul&image_type=local&is_handled=false&",
    "/images/vulnerabilities?type=linux_vul&handle_status=unhandled&image_type=local&",
    "/image/vulnerability/handle-history?vul_id=CVE-2023-5678&image_type=local&",
    "/image/whitelists?global_image_type=local&type=vulnerability&",
]


def _get(seeded: Seeded, path: str) -> httpx.Response:
    return signed_request(seeded.svc, "GET", f"/v5/{PROJECT}" + path)


@pytest.mark.parametrize("path", LISTS)
def test_range_edges_on_every_list(seeded: Seeded, path: str) -> None:
    for bad in ("limit=9&offset=0", "limit=201&offset=0", "limit=10&offset=2000001", "limit=10&offset=-1"):
        resp = _get(seeded, path + bad)
        assert resp.status_code == 400, (path, bad, resp.text)
        assert resp.json()["error_code"] == "HSS.0001"
    for good in ("limit=10&offset=0", "limit=200&offset=2000000"):
        resp = _get(seeded, path + good)
        assert resp.status_code == 200, (path, good, resp.text)


@pytest.mark.parametrize(
    "path",
    [
        "/image/local-repositories?scan_status=done",
        "/image/local-repositories?local_image_type=x",
        "/image/local-repositories?has_vul=maybe",
        "/image/vulnerabilities?offset=0&limit=10&repair_necessity=High",
        "/image/vulnerabilities?offset=0&limit=10&type=web_cms",
        "/image/vulnerabilities?limit=10",
        "/image/tasks?type=image_build",
        "/image/tasks?type=image_scan&task_status=done",
        "/image/tasks?type=image_scan&task_type=weekly",
        f"/image/{NGINX_ID}/apps?image_type=docker",
        f"/image/{NGINX_ID}/apps",
        f"/image/{NGINX_ID}/vulnerabilities?image_type=local_image&namespace=&image_name=nginx&tag_name=1"
        "&repair_necessity=High",
        f"/image/{NGINX_ID}/sensitive?image_type=harbor&severity=critical",
        "/image/build-command-risks?image_type=swr",
        "/vulnerability/images?vul_id=X&type=linux_vul&image_type=local&is_handled=false&status=fixed",
    ],
)
def test_unknown_enum_values_are_400(seeded: Seeded, path: str) -> None:
    resp = _get(seeded, path)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "HSS.0001"


def test_literal_routes_are_not_shadowed(seeded: Seeded) -> None:
    # /image/vulnerabilities (global) vs /image/{vul_id}/images and /image/{image_id}/vulnerabilities
    assert _get(seeded, "/image/vulnerabilities?offset=0&limit=10").json()["total_num"] == 4
    assert _get(seeded, "/image/tasks?type=image_scan").status_code == 200
    assert _get(seeded, "/image/local/hosts").status_code == 200
