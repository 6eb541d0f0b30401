"""Every documented image filter of the five seed pages, alone and in pairs, against data (SQLite, PG).

Pages (`/work/shared/seeds/`): BatchExportLocalVulTask, ExportImageSecurityReportTask, BatchScanLocalImage,
ListVulAffectImages and CreateImageScanTask. Six local images differ in every filtered attribute; each
case's expected images come from a predicate written here from the documented meaning of the field
(not from the service's filter table), and the service's answer is read back through the API: the
images a scan task queued, the rows an export counted, the images a list returned.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from openhss.db.engine import transaction
from openhss.db.models import Container, ExportTask, Host, Image, ImageHost, ScanTask, ScanTaskImage
from openhss.domain.enums import Ecosystem, PackageType, Severity, VulType
from openhss.domain.models import Package
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.services import dispatch, identity, results
from tests.support.pg import temp_database
from tests.support.service import PROJECT, Service, running_service

VUL = "CVE-2024-9999"


pytestmark = pytest.mark.slow  # one live server per backend, hundreds of requests


@dataclass(frozen=True, slots=True)
class Seed:
    """One image and everything a filter may look at."""

    name: str
    version: str
    scan_status: str
    local_image_type: str
    size: int
    updated: int
    scanned: int
    vuls: int
    apps: int
    host: tuple[str, str, str, str] | None  # host_name, host_id, private_ip, public_ip
    container: tuple[str, str, str, str] | None  # container_id, container_name, pod_id, pod_name
    cluster_id: str
    namespace: str
    malicious: int
    unsafe: int
    severity: str


SEEDS = [
    Seed("nginx", "1.25", "success", "other_image", 100, 10, 5, 2, 3, ("alpha", "h-1", "10.0.0.1", "1.1.1.1"),
         ("c-1", "web", "p-1", "web-pod"), "k1", "team", 1, 0, "High"),
    Seed("nginx-extra", "1.25", "success", "swr_image", 200, 20, 15, 0, 1,
         ("beta", "h-2", "10.0.0.2", "2.2.2.2"), None, "k2", "team", 0, 2, "Security"),
    Seed("redis", "7.2", "failed", "other_image", 100, 30, 25, 1, 2, ("alpha", "h-1", "10.0.0.1", "1.1.1.1"),
         ("c-2", "cache", "p-2", "cache-pod"), "k1", "ops", 0, 0, "Medium"),
    Seed("redis", "6.0", "success", "swr_image", 300, 40, 35, 3, 4, None, None, "", "ops", 0, 1, "High"),
    Seed("busybox", "1.25", "unscan", "other_image", 400, 50, 45, 0, 1,
         ("gamma", "h-3", "10.0.0.3", "3.3.3.3"), ("c-3", "tool", "p-3", "tool-pod"), "k2", "", 0, 0,
         "Security"),
    Seed("alpine", "3.19", "success", "other_image", 100, 60, 55, 1, 2, None, None, "", "", 0, 0, "Low"),
]  # fmt: skip


def _contains(attr: Callable[[Seed], str]) -> Callable[[Seed, Any], bool]:
    return lambda s, v: v in attr(s)


def _eq(attr: Callable[[Seed], Any]) -> Callable[[Seed, Any], bool]:
    return lambda s, v: attr(s) == v


def _has(attr: Callable[[Seed], int]) -> Callable[[Seed, Any], bool]:
    return lambda s, v: (attr(s) > 0) == v


def _host(i: int) -> Callable[[Seed], str]:
    return lambda s: s.host[i] if s.host else "\0"


def _ctr(i: int) -> Callable[[Seed], str]:
    return lambda s: s.container[i] if s.container else "\0"


#: Documented field → (a value that selects some but not all images, what the field means).
MEANING: dict[str, tuple[Any, Callable[[Seed, Any], bool]]] = {
    "image_name": ("nginx", _contains(lambda s: s.name)),
    "image_version": ("1.25", _eq(lambda s: s.version)),
    "scan_status": ("success", _eq(lambda s: s.scan_status)),
    "local_image_type": ("swr_image", _eq(lambda s: s.local_image_type)),
    "image_size": (100, _eq(lambda s: s.size)),
    "start_latest_update_time": (30, lambda s, v: s.updated >= v),
    "end_latest_update_time": (30, lambda s, v: s.updated <= v),
    "start_latest_scan_time": (25, lambda s, v: s.scanned >= v),
    "end_latest_scan_time": (25, lambda s, v: s.scanned <= v),
    "has_vul": (True, lambda s, v: s.scan_status == "success" and (s.vuls > 0) == v),
    "has_container": (True, _has(lambda s: 1 if s.container else 0)),
    "host_name": ("alph", lambda s, v: bool(s.host) and v in _host(0)(s)),
    "host_id": ("h-2", _eq(_host(1))),
    "private_ip": ("10.0.0.1", _eq(_host(2))),
    "public_ip": ("3.3.3.3", _eq(_host(3))),
    "container_id": ("c-2", _eq(_ctr(0))),
    "container_name": ("we", lambda s, v: bool(s.container) and v in _ctr(1)(s)),
    "pod_id": ("p-3", _eq(_ctr(2))),
    "pod_name": ("pod", lambda s, v: bool(s.container) and v in _ctr(3)(s)),
    "app_name": ("app-3-", lambda s, v: s.apps > 3),  # only images with a 4th package have "app-3-..."
    "cluster_id": ("k1", _eq(lambda s: s.cluster_id)),
    "namespace": ("ops", _eq(lambda s: s.namespace)),
    "image_id": ("sha256:" + "2" * 64, lambda s, v: SEEDS.index(s) == 2),
    "has_malicious_file": (True, _has(lambda s: s.malicious)),
    "has_unsafe_setting": (False, _has(lambda s: s.unsafe)),
    "risky": (True, lambda s, v: (s.vuls > 0 or s.malicious > 0 or s.unsafe > 0) == v),
    "severity_level": ("High", _eq(lambda s: s.severity)),
}

#: The image filters each seed page documents.
PAGES: dict[str, list[str]] = {
    "BatchScanLocalImage": [
        "image_name", "image_version", "local_image_type", "scan_status", "image_size",
        "start_latest_update_time", "end_latest_update_time", "start_latest_scan_time",
        "end_latest_scan_time",
    ],
    "CreateImageScanTask": [
        "local_image_type", "host_id", "host_name", "public_ip", "private_ip", "cluster_id", "container_id",
        "container_name", "pod_id", "pod_name", "app_name", "has_vul", "namespace", "image_name",
        "image_version", "scan_status", "image_size", "start_latest_update_time", "end_latest_update_time",
        "start_latest_scan_time", "end_latest_scan_time",
    ],
    "BatchExportLocalVulTask": [
        "scan_status", "image_name", "image_version", "image_size", "start_latest_update_time",
        "end_latest_update_time", "start_latest_scan_time", "end_latest_scan_time", "has_container",
    ],
    "ExportImageSecurityReportTask": [
        "scan_status", "namespace", "image_name", "image_version", "image_id", "image_size",
        "start_latest_update_time", "end_latest_update_time", "start_latest_scan_time",
        "end_latest_scan_time", "has_malicious_file", "has_vul", "has_unsafe_setting", "risky",
        "severity_level",
    ],
    "ListVulAffectImages": ["image_name", "image_id", "cluster_id"],
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Env:
    svc: Service
    token: str
    pks: list[int]
    #: One client for the module's ~1,000 requests: `httpx.request` builds a client (and loads the CA
    #: bundle into a new SSL context) per call, which cost more than the request itself (0.28 s at load 13).
    http: httpx.Client

    def send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(
            method,
            f"{self.svc.base_url}/v5/{PROJECT}/{path}",
            headers={"X-Auth-Token": self.token},
            timeout=60,
            **kw,
        )


def _seed(svc: Service) -> list[int]:
    pks = []
    with transaction(svc.runtime.sessions) as s:
        hosts: dict[str, int] = {}
        for n, seed in enumerate(SEEDS):
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id="sha256:" + str(n) * 64,
                image_name=seed.name,
                image_version=seed.version,
            )
            s.add(img)
            s.flush()
            pkgs = [
                Package(
                    f"app-{k}-{n}", "1.0", Ecosystem.NPM, PackageType.NPM, f"pkg:npm/app-{k}-{n}@1.0", "p"
                )
                for k in range(seed.apps)
            ]
            vuls = [
                VulnerabilityFinding(
                    vul_id=VUL if k == 0 else f"CVE-2024-{n}{k:03d}", package_name=pkgs[0].name,
                    package_version="1.0", ecosystem=Ecosystem.NPM, severity=Severity.HIGH,
                    type=VulType.LINUX, fixed_version="", status="unfixed", cvss_score=7.0, path="p",
                    layer_digest="", description="",
                )
                for k in range(seed.vuls)
            ]  # fmt: skip
            results.record_scan(s, img.id, Inventory(packages=pkgs), vuls)
            img.scan_status, img.local_image_type, img.image_size = (
                seed.scan_status,
                seed.local_image_type,
                seed.size,
            )
            img.latest_update_time, img.latest_scan_time = seed.updated, seed.scanned
            img.cluster_id, img.organization, img.severity_level = (
                seed.cluster_id,
                seed.namespace,
                seed.severity,
            )
            img.malicious_file_num, img.unsafe_setting_num = seed.malicious, seed.unsafe
            img.container_num = 1 if seed.container else 0
            if seed.host:
                name, host_id, private_ip, public_ip = seed.host
                if host_id not in hosts:
                    host = Host(
                        project_id=PROJECT, agent_id="a" + host_id, host_id=host_id, host_name=name,
                        private_ip=private_ip, public_ip=public_ip,
                    )  # fmt: skip
                    s.add(host)
                    s.flush()
                    hosts[host_id] = host.id
                s.add(ImageHost(image_pk=img.id, host_pk=hosts[host_id]))
                if seed.container:
                    cid, cname, pod_id, pod_name = seed.container
                    s.add(
                        Container(
                            project_id=PROJECT, host_pk=hosts[host_id], image_pk=img.id, container_id=cid,
                            container_name=cname, pod_id=pod_id, pod_name=pod_name,
                        )
                    )  # fmt: skip
            pks.append(img.id)
    return pks


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with ExitStack() as stack:
        url = "" if request.param == "sqlite" else stack.enter_context(temp_database())
        svc = stack.enter_context(running_service(tmp_path_factory.mktemp(f"filters-{request.param}"), url))
        pks = _seed(svc)
        # No worker runs here: queued jobs and exports just wait (the no-broker mode), so a case costs
        # one request and no message.
        dispatch.set_sender(None)
        with transaction(svc.runtime.sessions) as s:
            admin = identity.get_user(s, svc.runtime.settings.admin_username)
            token = identity.issue_token(s, admin, 3600, None, "password")[0]
        yield Env(svc, token, pks, stack.enter_context(httpx.Client()))


def _cases(page: str) -> list[dict[str, Any]]:
    names = PAGES[page]
    singles = [{n: MEANING[n][0]} for n in names]
    pairs = [{a: MEANING[a][0], b: MEANING[b][0]} for a, b in itertools.combinations(names, 2)]
    return singles + pairs


def _expected(case: dict[str, Any]) -> set[int]:
    return {n for n, seed in enumerate(SEEDS) if all(MEANING[k][1](seed, v) for k, v in case.items())}


def _queued(env: Env) -> set[int]:
    """The images the scan tasks just created hold (as seed indexes); then forget tasks and statuses."""
    with transaction(env.svc.runtime.sessions) as s:
        pks = set(s.scalars(select(ScanTaskImage.image_pk)))
        s.execute(delete(ScanTaskImage))
        s.execute(delete(ScanTask))
        for pk, seed in zip(env.pks, SEEDS, strict=True):
            img = s.get(Image, pk)
            assert img is not None
            img.scan_status = seed.scan_status
    return {env.pks.index(pk) for pk in pks}


def _exported(env: Env) -> None:
    with transaction(env.svc.runtime.sessions) as s:
        s.execute(delete(ExportTask))


def _run(env: Env, page: str, case: dict[str, Any]) -> set[int] | int:
    if page == "BatchScanLocalImage":
        resp = env.send("POST", "image/local/batch-scan", json={"operate_all": True, **case})
        assert resp.status_code == 200, resp.text
        return _queued(env)
    if page == "CreateImageScanTask":
        body = {"is_all": True, "scan_scope": 1, "query_info": case}
        resp = env.send("POST", "image/image-scan/tasks", params={"global_image_type": "local"}, json=body)
        assert resp.status_code == 200, resp.text
        return _queued(env)
    if page == "BatchExportLocalVulTask":
        resp = env.send(
            "POST",
            "image/local-vulnerability/export",
            params={"export_size": 1000},
            json={"operate_all": True, **case},
        )
        assert resp.status_code == 200, resp.text
        _exported(env)
        return int(resp.json()["record_total_num"])
    if page == "ExportImageSecurityReportTask":
        body = {
            "export_size": 1000,
            "security_report_type": "apps",
            "operate_all": True,
            "image_type": "local_image",
        }
        resp = env.send("POST", "image/security-report/export-tasks", json={**body, **case})
        assert resp.status_code == 200, resp.text
        with transaction(env.svc.runtime.sessions) as s:
            total = s.scalars(select(ExportTask.record_total_num)).one()
        _exported(env)
        return int(total)
    params = {"vul_id": VUL, "type": "linux_vul", "image_type": "local", "is_handled": "false", "limit": 200}
    resp = env.send("GET", "vulnerability/images", params={**params, **case})
    assert resp.status_code == 200, resp.text
    ids = {row["image_id"] for row in resp.json()["data_list"]}
    return {n for n in range(len(SEEDS)) if "sha256:" + str(n) * 64 in ids}


def _want(page: str, case: dict[str, Any]) -> set[int] | int:
    chosen = _expected(case)
    if page == "BatchExportLocalVulTask":
        return sum(SEEDS[n].vuls for n in chosen)
    if page == "ExportImageSecurityReportTask":
        return sum(SEEDS[n].apps for n in chosen)
    if page == "ListVulAffectImages":
        return {n for n in chosen if SEEDS[n].vuls > 0}
    return chosen


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_documented_filter_alone_and_in_pairs(env: Env, page: str) -> None:
    wrong = []
    for case in _cases(page):
        got, want = _run(env, page, case), _want(page, case)
        if got != want:
            wrong.append(f"{case}: got {got}, want {want}")
    assert not wrong, f"{page}: " + "\n".join(wrong)


def test_each_filter_value_selects_some_images_but_not_all() -> None:
    """The matrix can only fail if each filter really narrows the seeded images."""
    for name, (value, meaning) in MEANING.items():
        hit = [s for s in SEEDS if meaning(s, value)]
        assert 0 < len(hit) < len(SEEDS), name


def test_the_filter_table_and_the_filter_model_name_the_same_fields() -> None:
    from dataclasses import fields

    from openhss.services.images import IMAGE_FILTERS, ImageFilter

    assert {f.name for f in fields(ImageFilter)} == set(IMAGE_FILTERS)
