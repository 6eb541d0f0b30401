"""Vulnerability whitelist, sensitive-info verdicts, handle history and the global image vulnerability list,
through the official SDK on SQLite and PostgreSQL. Each test leaves the seeded verdicts as it found them."""

from __future__ import annotations

from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkhss.v5 import (
    AddImageWhiteListsRequest,
    AddImageWhiteListsRequestBody,
    AddImageWhiteListsRequestBodyImageInfo,
    AddImageWhiteListsRequestBodyQueryInfo,
    ChangeImageWhiteListRequest,
    ChangeImageWhiteListRequestBody,
    ChangeSensitiveInfoRequest,
    ChangeSensitiveInfoRequestInfo,
    DeleteImageWhiteListsRequest,
    DeleteImageWhiteListsRequestBody,
    HandleImageVulnerabilityRequest,
    HandleImageVulnerabilityRequestBody,
    HandleImageVulnerabilityRequestBodyVulDataList,
    HssClient,
    ListGeneralImageVulOperationsRequest,
    ListGeneralImageVulsRequest,
    ListImageLocalRequest,
    ListImageSensitiveRequest,
    ListImageWhiteListsRequest,
    ListVulAffectImagesRequest,
    ShowImageWhiteListDetailRequest,
)
from sqlalchemy import update

from openhss.db.engine import transaction
from openhss.db.models import VulImageIndex
from openhss.services import results, whitelists
from tests.api.conftest import (
    NGINX_VULS,
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
from tests.api.test_reads import NGINX_ID, REDIS_ID, _get
from tests.support.service import PROJECT

ZLIB_CVE = "CVE-2023-45853"


def vul_for(vul_id: str) -> Any:
    from openhss.domain.enums import Severity

    return vul(vul_id, ZLIB, Severity.HIGH)


def affected(c: HssClient, vul_id: str, handled: bool, image_type: str = "local", **kw: Any) -> list[str]:
    resp = c.list_vul_affect_images(
        ListVulAffectImagesRequest(
            vul_id=vul_id, type="linux_vul", image_type=image_type, is_handled=handled, **kw
        )
    )
    return sorted(f"{r.image_name}:{r.status}" for r in resp.data_list)


def add(c: HssClient, global_image_type: str = "local", **body: Any) -> None:
    c.add_image_white_lists(
        AddImageWhiteListsRequest(
            global_image_type=global_image_type,
            type="vulnerability",
            body=AddImageWhiteListsRequestBody(**body),
        )
    )


def rules(c: HssClient, global_image_type: str = "local", **kw: Any) -> dict[str, Any]:
    resp = c.list_image_white_lists(
        ListImageWhiteListsRequest(global_image_type=global_image_type, type="vulnerability", **kw)
    )
    assert resp.total_num == len(resp.data_list)
    return {r.vul_id: r for r in resp.data_list}


def remove(c: HssClient, ids: list[str], global_image_type: str = "local") -> None:
    c.delete_image_white_lists(
        DeleteImageWhiteListsRequest(
            global_image_type=global_image_type,
            type="vulnerability",
            body=DeleteImageWhiteListsRequestBody(ids=ids),
        )
    )


def history(c: HssClient, vul_id: str, **kw: Any) -> list[tuple[str, str, str]]:
    resp = c.list_general_image_vul_operations(
        ListGeneralImageVulOperationsRequest(vul_id=vul_id, image_type=kw.pop("image_type", "local"), **kw)
    )
    assert resp.total_num >= len(resp.data_list)
    return [(h.handle_type, h.image_name, h.status) for h in resp.data_list]


def test_whitelist_rules_ignore_and_reopen_exactly_their_pairs(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    assert affected(c, ZLIB_CVE, False) == ["nginx:vul_status_unfix", "redis:vul_status_unfix"]
    add(
        c, vul_type="linux_vul", vul_ids=[ZLIB_CVE], rule_type="all_images", description="base image accepted"
    )
    assert affected(c, ZLIB_CVE, False) == []
    assert affected(c, ZLIB_CVE, True) == ["nginx:vul_status_ignored", "redis:vul_status_ignored"]
    # The rule lives in the default enterprise project: the ep-prod image is not covered.
    assert affected(c, ZLIB_CVE, False, enterprise_project_id="all_granted_eps") == [
        "payments/api:vul_status_unfix"
    ]
    redis = next(i for i in c.list_image_local(ListImageLocalRequest()).data_list if i.image_name == "redis")
    assert redis.vul_num == 0 and redis.severity_level == "Security"

    listed = rules(c)
    rule = listed[ZLIB_CVE]
    assert rule.rule_type == "all_images" and rule.vul_type == "linux_vul" and rule.image_info == []
    assert [(x.cve_id, x.cvss) for x in rule.cves] == [(ZLIB_CVE, 7.5)]
    assert rule.description == "base image accepted"
    assert rules(c, vul_name="45853").keys() == {ZLIB_CVE}
    assert rules(c, vul_type="app_vul") == {}
    assert rules(c, global_image_type="registry") == {}
    ops = history(c, ZLIB_CVE)
    assert sorted(ops) == [
        ("add_to_whitelist", "nginx", "vul_status_ignored"),
        ("add_to_whitelist", "redis", "vul_status_ignored"),
    ]
    one = c.list_general_image_vul_operations(
        ListGeneralImageVulOperationsRequest(vul_id=ZLIB_CVE, image_type="local", image_id=REDIS_ID)
    ).data_list
    assert len(one) == 1 and one[0].app_name == "zlib1g" and one[0].user_name == "admin"
    assert one[0].remark == "base image accepted" and one[0].image_version == "7.2"

    with pytest.raises(ClientRequestException) as err:  # one rule per vulnerability
        add(c, vul_type="linux_vul", vul_ids=[ZLIB_CVE], rule_type="all_images")
    assert err.value.status_code == 400

    # Narrow to nginx: redis reopens, nginx stays ignored.
    c.change_image_white_list(
        ChangeImageWhiteListRequest(
            id=rule.id,
            global_image_type="local",
            type="vulnerability",
            body=ChangeImageWhiteListRequestBody(
                rule_type="specific_images",
                image_info=[AddImageWhiteListsRequestBodyImageInfo(image_id=NGINX_ID, image_name="nginx")],
            ),
        )
    )
    assert affected(c, ZLIB_CVE, False) == ["redis:vul_status_unfix"]
    detail = c.show_image_white_list_detail(
        ShowImageWhiteListDetailRequest(id=rule.id, global_image_type="local", type="vulnerability")
    )
    assert detail.rule_type == "specific_images" and detail.description == "base image accepted"
    assert [(i.image_id, i.image_name) for i in detail.image_info] == [(NGINX_ID, "nginx")]

    # A manual verdict is the user's, not the rule's: deleting the rule leaves it alone.
    c.handle_image_vulnerability(
        HandleImageVulnerabilityRequest(
            body=HandleImageVulnerabilityRequestBody(
                image_type="local",
                type="linux_vul",
                operate_type="ignore",
                select_type="specific_image_all_vul",
                image_id_list=[REDIS_ID],
            )
        )
    )
    remove(c, [rule.id])
    assert affected(c, ZLIB_CVE, False) == ["nginx:vul_status_unfix"]
    assert affected(c, ZLIB_CVE, True) == ["redis:vul_status_ignored"]
    assert rules(c) == {}
    assert history(c, ZLIB_CVE, handle_type="not_ignore", image_name="ngin") == [
        ("not_ignore", "nginx", "vul_status_unfix")
    ]
    assert history(c, ZLIB_CVE, status="vul_status_ignored", user_name="adm")[0] == (
        "ignore",
        "redis",
        "vul_status_ignored",
    )
    c.handle_image_vulnerability(
        HandleImageVulnerabilityRequest(
            body=HandleImageVulnerabilityRequestBody(
                image_type="local",
                type="linux_vul",
                operate_type="not_ignore",
                select_type="specific_image_all_vul",
                image_id_list=[REDIS_ID],
            )
        )
    )
    assert affected(c, ZLIB_CVE, False) == ["nginx:vul_status_unfix", "redis:vul_status_unfix"]
    with pytest.raises(ClientRequestException) as err:
        remove(c, ["0" * 32, rule.id])
    assert err.value.status_code == 404


def test_registry_flavour_rules_and_rules_applied_to_new_scans(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    cve = "CVE-2023-5678"
    add(
        c,
        "registry",
        vul_type="linux_vul",
        vul_ids=[cve],
        rule_type="specific_image_types",
        query_info=AddImageWhiteListsRequestBodyQueryInfo(image_type="harbor,jfrog"),
    )
    assert affected(c, cve, False, "registry") == ["library/nginx:vul_status_unfix"]  # SwrPrivate
    rule = rules(c, "registry")[cve]
    assert rule.query_info.image_type == "harbor,jfrog"
    c.change_image_white_list(
        ChangeImageWhiteListRequest(
            id=rule.id,
            global_image_type="registry",
            type="vulnerability",
            body=ChangeImageWhiteListRequestBody(
                query_info=AddImageWhiteListsRequestBodyQueryInfo(image_type="private_image")
            ),
        )
    )
    assert affected(c, cve, True, "registry") == ["library/nginx:vul_status_ignored"]
    assert affected(c, cve, False) == ["nginx:vul_status_unfix"]  # local images are another list

    # A rescan keeps the verdict; a rule covering an image scanned later is applied by apply_to_image.
    pk = seeded.images[f"{PROJECT}:library/nginx:registry"]
    add(c, "registry", vul_type="linux_vul", vul_ids=["CVE-2024-0727"], rule_type="all_images")
    with transaction(seeded.svc.runtime.sessions) as s:
        results.record_scan(s, pk, nginx_inventory(), NGINX_VULS, scanned_at=1_700_000_700_000)
        assert whitelists.apply_to_image(s, pk) == 0  # both verdicts survived the rescan
    assert affected(c, cve, True, "registry") == ["library/nginx:vul_status_ignored"]
    with transaction(seeded.svc.runtime.sessions) as s:
        s.execute(
            update(VulImageIndex)
            .where(VulImageIndex.image_pk == pk)
            .values(status=results.UNFIXED, handled=False)
        )
        assert whitelists.apply_to_image(s, pk) == 2
    assert affected(c, "CVE-2024-0727", True, "registry") == ["library/nginx:vul_status_ignored"]
    remove(c, [r.id for r in rules(c, "registry").values()], "registry")
    assert affected(c, cve, False, "registry") == ["library/nginx:vul_status_unfix"]
    assert affected(c, "CVE-2024-0727", False, "registry") == ["library/nginx:vul_status_unfix"]


def test_whitelist_validation_roles_and_tenants(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    bad = [
        dict(vul_type="linux_vul", vul_ids=[ZLIB_CVE], rule_type="some_images"),
        dict(vul_ids=[ZLIB_CVE], rule_type="all_images"),  # vul_type missing
        dict(vul_type="web_cms", vul_ids=[ZLIB_CVE], rule_type="all_images"),
        dict(vul_type="linux_vul", vul_ids=[], rule_type="all_images"),
        dict(vul_type="linux_vul", vul_ids=[ZLIB_CVE], rule_type="specific_images"),
        dict(  # local images are named by image_id
            vul_type="linux_vul",
            vul_ids=[ZLIB_CVE],
            rule_type="specific_images",
            image_info=[AddImageWhiteListsRequestBodyImageInfo(id=1, image_name="nginx")],
        ),
        dict(  # registry flavours only make sense for registry images
            vul_type="linux_vul",
            vul_ids=[ZLIB_CVE],
            rule_type="specific_image_types",
            query_info=AddImageWhiteListsRequestBodyQueryInfo(image_type="harbor"),
        ),
    ]
    for body in bad:
        with pytest.raises(ClientRequestException) as err:
            add(c, **body)
        assert err.value.status_code == 400, body
    with pytest.raises(ClientRequestException) as err:
        add(
            c,
            "registry",
            vul_type="linux_vul",
            vul_ids=[ZLIB_CVE],
            rule_type="specific_image_types",
            query_info=AddImageWhiteListsRequestBodyQueryInfo(image_type="dockerhub"),
        )
    assert err.value.status_code == 400
    for path in (
        "/image/whitelists?global_image_type=cicd&type=vulnerability",
        "/image/whitelists?global_image_type=local&type=baseline",
        "/image/whitelists?global_image_type=local",
        "/image/whitelists/abc?global_image_type=local&type=vulnerability&limit=201",
    ):
        resp = _get(seeded, path)
        assert resp.status_code == 400 and resp.json()["error_code"] == "HSS.0001", path
    assert rules(c) == {}

    with pytest.raises(ClientRequestException) as err:  # read-only users cannot whitelist
        add(
            sdk(seeded.svc, ak=READER_AK, sk=READER_SK),
            vul_type="linux_vul",
            vul_ids=[ZLIB_CVE],
            rule_type="all_images",
        )
    assert err.value.status_code == 403
    add(c, vul_type="linux_vul", vul_ids=[ZLIB_CVE], rule_type="all_images")
    rule_id = rules(c)[ZLIB_CVE].id
    other = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    assert rules(other) == {}
    with pytest.raises(ClientRequestException) as err:
        other.show_image_white_list_detail(
            ShowImageWhiteListDetailRequest(id=rule_id, global_image_type="local", type="vulnerability")
        )
    assert err.value.status_code == 404
    with pytest.raises(ClientRequestException) as err:
        remove(other, [rule_id])
    assert err.value.status_code == 404
    assert affected(other, ZLIB_CVE, False) == ["nginx:vul_status_unfix"]  # the other tenant's own image
    assert rules(c, enterprise_project_id="ep-prod") == {}
    remove(c, [rule_id])
    assert affected(c, ZLIB_CVE, False) == ["nginx:vul_status_unfix", "redis:vul_status_unfix"]


def _secret(c: HssClient, reg_id: str, **kw: Any) -> list[Any]:
    resp = c.list_image_sensitive(
        ListImageSensitiveRequest(image_id=reg_id, image_type="private_image", **kw)
    )
    return list(resp.data_list)


def test_change_sensitive_info_survives_rescans(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    reg_id = f"sha256:{4:064x}"
    (secret,) = _secret(c, reg_id)
    assert secret.handle_status == "unhandled"

    def operate(
        client: HssClient, sid: str, operate_type: str | None, image_type: str = "private_image"
    ) -> None:
        info = ChangeSensitiveInfoRequestInfo(sensitive_info_id=sid)
        if operate_type:
            info.operate_type = operate_type
        client.change_sensitive_info(ChangeSensitiveInfoRequest(image_type=image_type, body=info))

    operate(c, secret.sensitive_info_id, "ignore")
    assert [s.handle_status for s in _secret(c, reg_id)] == ["ignored"]
    assert len(_secret(c, reg_id, handle_status="ignored")) == 1
    assert _secret(c, reg_id, handle_status="unhandled") == []
    pk = seeded.images[f"{PROJECT}:library/nginx:registry"]
    with transaction(seeded.svc.runtime.sessions) as s:
        results.record_scan(s, pk, nginx_inventory(), NGINX_VULS, scanned_at=1_700_000_800_000)
    (again,) = _secret(c, reg_id)
    assert again.latest_scan_time == 1_700_000_800_000 and again.handle_status == "ignored"
    operate(c, again.sensitive_info_id, None)  # operate_type defaults to do_not_ignore
    assert [s.handle_status for s in _secret(c, reg_id)] == ["unhandled"]

    for client, sid, image_type, status in (
        (c, again.sensitive_info_id, "harbor", 404),  # not a harbor image
        (c, "999999999", "private_image", 404),
        (c, "not-a-number", "private_image", 404),
        (
            sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK),
            again.sensitive_info_id,
            "private_image",
            404,
        ),
        (sdk(seeded.svc, ak=READER_AK, sk=READER_SK), again.sensitive_info_id, "private_image", 403),
    ):
        with pytest.raises(ClientRequestException) as err:
            operate(client, sid, "ignore", image_type)
        assert err.value.status_code == status
    with pytest.raises(ClientRequestException) as err:
        operate(c, again.sensitive_info_id, "forget")
    assert err.value.status_code == 400
    with pytest.raises(ClientRequestException) as err:
        operate(c, again.sensitive_info_id, "ignore", "docker")
    assert err.value.status_code == 400
    assert [s.handle_status for s in _secret(c, reg_id)] == ["unhandled"]


def general(c: HssClient, **kw: Any) -> tuple[int, list[Any]]:
    args = {"type": "linux_vul", "handle_status": "unhandled", "image_type": "local"}
    args.update(kw)
    resp = c.list_general_image_vuls(ListGeneralImageVulsRequest(**args))
    return resp.total_num, list(resp.data_list)


def test_general_image_vulnerability_list(seeded: Seeded) -> None:
    c = sdk(seeded.svc)
    total, rows = general(c)
    assert total == 3
    assert [(v.vul_id, v.severity_level, v.image_num) for v in rows] == [
        (ZLIB_CVE, "Critical", 2),
        ("CVE-2023-5678", "Medium", 1),
        ("CVE-2024-0727", "Low", 1),
    ]
    z = rows[0]
    assert z.type == "linux_vul" and z.image_type == "local" and z.label_list == []
    assert [(x.cve_id, x.cvss) for x in z.cve_list] == [(ZLIB_CVE, 7.5)] and z.max_cvss_score == 7.5
    assert z.cluster_num == 1 and z.scan_time == 1_700_000_600_000 and z.description.startswith(ZLIB_CVE)
    assert general(c, enterprise_project_id="all_granted_eps")[1][0].image_num == 3
    assert [(v.vul_id, v.image_num) for v in general(c, cluster_id="cce-1")[1]] == [
        (ZLIB_CVE, 1),
        ("CVE-2023-5678", 1),
        ("CVE-2024-0727", 1),
    ]
    assert [v.vul_id for v in general(c, severity_level="Low")[1]] == ["CVE-2024-0727"]
    assert [v.vul_id for v in general(c, cve_id="5678")[1]] == ["CVE-2023-5678"]
    assert [v.vul_id for v in general(c, vul_id=ZLIB_CVE)[1]] == [ZLIB_CVE]
    assert general(c, label_list=["exp_exists"]) == (0, [])
    assert [v.vul_id for v in general(c, type="app_vul")[1]] == ["CVE-2021-23337"]
    assert general(c, handle_status="handled") == (0, [])
    assert general(c, status="vul_status_ignored") == (0, [])
    assert [v.vul_id for v in general(c, image_type="registry")[1]] == [
        ZLIB_CVE,
        "CVE-2023-5678",
        "CVE-2024-0727",
    ]
    page = general(c, offset=2, limit=10)
    assert page[0] == 3 and [v.vul_id for v in page[1]] == ["CVE-2024-0727"]
    other = sdk(seeded.svc, project=OTHER_PROJECT, ak=OTHER_AK, sk=OTHER_SK)
    assert general(other)[1][0].image_num == 1


@pytest.mark.parametrize(
    "path",
    [
        "/images/vulnerabilities?handle_status=unhandled&image_type=local",
        "/images/vulnerabilities?type=linux_vul&handle_status=open&image_type=local",
        "/images/vulnerabilities?type=linux_vul&handle_status=unhandled&image_type=swr",
        "/images/vulnerabilities?type=linux_vul&handle_status=unhandled&image_type=local&severity_level=Urgent",
        "/images/vulnerabilities?type=linux_vul&handle_status=unhandled&image_type=local&status=fixed",
        "/images/vulnerabilities?type=linux_vul&handle_status=unhandled&image_type=local"
        + "".join(f"&label_list=l{i}" for i in range(11)),
        "/image/vulnerability/handle-history?image_type=local",
        "/image/vulnerability/handle-history?vul_id=X&image_type=cicd",
        "/image/vulnerability/handle-history?vul_id=X&image_type=local&handle_type=manual_repair",
        "/image/vulnerability/handle-history?vul_id=X&image_type=local&status=vul_status_fixed",
        "/image/vulnerability/handle-history?vul_id=&image_type=local",
    ],
)
def test_new_reads_refuse_unknown_enums(seeded: Seeded, path: str) -> None:
    resp = _get(seeded, path)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "HSS.0001"


def test_trigger_maintained_counts_stay_exact(seeded: Seeded) -> None:
    """Rescans, verdicts, image deletion and count folding never make the O(1) total differ from COUNT."""
    from sqlalchemy import delete, func, select

    from openhss.db.models import Image, VulImageIndex, VulIndexCount
    from openhss.services import vulnerabilities
    from openhss.services.identity import Scope

    c = sdk(seeded.svc)
    pk = seeded.images[f"{PROJECT}:nginx:local"]
    sessions = seeded.svc.runtime.sessions

    def compare() -> int:
        with transaction(sessions) as s:
            keys = s.execute(
                select(
                    VulImageIndex.project_id,
                    VulImageIndex.vul_id,
                    VulImageIndex.vul_type,
                    VulImageIndex.image_type,
                    VulImageIndex.handled,
                    func.count(),
                ).group_by(
                    VulImageIndex.project_id,
                    VulImageIndex.vul_id,
                    VulImageIndex.vul_type,
                    VulImageIndex.image_type,
                    VulImageIndex.handled,
                )
            ).all()
            for project, vid, vtype, itype, handled, n in keys:
                scope = Scope(project, None)
                assert vulnerabilities.indexed_count(s, scope, vid, vtype, itype, handled) == n
                assert vulnerabilities.indexed_count(s, scope, vid, vtype, itype, not handled) == s.scalar(
                    select(func.count()).where(
                        VulImageIndex.project_id == project,
                        VulImageIndex.vul_id == vid,
                        VulImageIndex.vul_type == vtype,
                        VulImageIndex.image_type == itype,
                        VulImageIndex.handled.is_(not handled),
                    )
                )
            return s.scalar(select(func.count()).select_from(VulIndexCount)) or 0

    compare()
    for n in range(vulnerabilities.COMPACT_COUNT_ROWS // 2 * 2 + 2):  # enough appended rows to force folding
        with transaction(sessions) as s:
            vuls = NGINX_VULS[:2] if n % 2 else NGINX_VULS  # the last scan has no zlib finding
            results.record_scan(s, pk, nginx_inventory(), vuls, scanned_at=1_700_000_600_000 + n)
    with transaction(sessions) as s:
        before = s.scalar(select(func.count()).select_from(VulIndexCount)) or 0
    after = compare()
    assert after < before  # the readers folded the keys they read
    assert affected(c, ZLIB_CVE, False) == ["redis:vul_status_unfix"]
    with transaction(sessions) as s:
        results.record_scan(s, pk, nginx_inventory(), NGINX_VULS, scanned_at=1_700_000_600_000)
    c.handle_image_vulnerability(
        HandleImageVulnerabilityRequest(
            body=HandleImageVulnerabilityRequestBody(
                image_type="local",
                type="linux_vul",
                operate_type="manual_repair",
                select_type="specific_vul_all_image",
                vul_id_list=[ZLIB_CVE],
            )
        )
    )
    compare()
    assert affected(c, ZLIB_CVE, True) == ["nginx:vul_status_fixed", "redis:vul_status_fixed"]
    # Deleting an image cascades to its index rows, and the counts follow.
    with transaction(sessions) as s:
        victim = Image(
            project_id=PROJECT, image_type="local", image_id="sha256:" + "d" * 64, image_name="tmp"
        )
        s.add(victim)
        s.flush()
        results.record_scan(s, victim.id, nginx_inventory(), NGINX_VULS)
    assert len(affected(c, ZLIB_CVE, False)) == 1
    with transaction(sessions) as s:
        s.execute(delete(Image).where(Image.image_id == "sha256:" + "d" * 64))
    compare()
    assert affected(c, ZLIB_CVE, False) == []
    c.handle_image_vulnerability(
        HandleImageVulnerabilityRequest(
            body=HandleImageVulnerabilityRequestBody(
                image_type="local",
                type="linux_vul",
                operate_type="not_ignore",
                select_type="all_vul",
            )
        )
    )
    with transaction(sessions) as s:  # manual_repair is not reopened by not_ignore: reopen by hand
        s.execute(
            update(VulImageIndex)
            .where(VulImageIndex.project_id == PROJECT, VulImageIndex.vul_id == ZLIB_CVE)
            .values(status=results.UNFIXED, handled=False)
        )
    compare()
    assert affected(c, ZLIB_CVE, False) == ["nginx:vul_status_unfix", "redis:vul_status_unfix"]


def test_deep_pages_from_anchors_stay_exact(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages served from remembered anchors equal plain OFFSET pages, also after the list changes."""
    from sqlalchemy import delete, select

    from openhss.db.models import Image, VulImageIndex
    from openhss.services import vulnerabilities

    monkeypatch.setattr(vulnerabilities, "ANCHOR_STEP", 4)
    c = sdk(seeded.svc)
    cve = "CVE-2099-0001"
    sessions = seeded.svc.runtime.sessions
    with transaction(sessions) as s:
        for n in range(27):
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id=f"sha256:{n + 900:064x}",
                image_name=f"deep-{n}",
            )
            s.add(img)
            s.flush()
            results.record_scan(s, img.id, nginx_inventory(), [*NGINX_VULS, vul_for(cve)])

    def expected() -> list[str]:
        with transaction(sessions) as s:
            return list(
                s.scalars(
                    select(Image.image_name)
                    .join(VulImageIndex, VulImageIndex.image_pk == Image.id)
                    .where(VulImageIndex.vul_id == cve, VulImageIndex.handled.is_(False))
                    .order_by(Image.id)
                )
            )

    def pages() -> list[str]:
        names: list[str] = []
        for offset in (20, 10, 0, 17):  # deep first: the anchors are built on the first deep read
            resp = c.list_vul_affect_images(
                ListVulAffectImagesRequest(
                    vul_id=cve,
                    type="linux_vul",
                    image_type="local",
                    is_handled=False,
                    offset=offset,
                    limit=10,
                )
            )
            assert resp.total_num == len(expected())
            got = [r.image_name for r in resp.data_list]
            assert got == expected()[offset : offset + 10], offset
            if offset != 17:
                names[0:0] = got
        return names

    assert pages() == expected() and len(expected()) == 27
    c.handle_image_vulnerability(  # the list shrinks under the remembered anchors
        HandleImageVulnerabilityRequest(
            body=HandleImageVulnerabilityRequestBody(
                image_type="local",
                type="linux_vul",
                operate_type="ignore",
                select_type="vul_view",
                vul_data_list=[
                    HandleImageVulnerabilityRequestBodyVulDataList(
                        vul_id=cve, image_id_list=[f"sha256:{903:064x}", f"sha256:{911:064x}"]
                    )
                ],
            )
        )
    )
    assert pages() == expected() and len(expected()) == 25
    with transaction(sessions) as s:
        s.execute(delete(Image).where(Image.image_name.in_(["deep-0", "deep-20"])))
    assert pages() == expected() and len(expected()) == 23
    with transaction(sessions) as s:
        s.execute(delete(Image).where(Image.image_name.like("deep-%")))
