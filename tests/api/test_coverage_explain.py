"""Additive API: advisory coverage on an image's vulnerability list, and the explain endpoint.

The image's results are stored the way a finished scan stores them (`record_scan` + the matchable
inventory), its vulnerabilities matched by the real matcher over a real advisory store in the service's
data dir; the endpoints must agree with that matcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openhss.console.session import COOKIE
from openhss.db.engine import transaction
from openhss.db.models import Image
from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.applier import Inventory
from openhss.services import rematch, results
from openhss.services.vulndb import VulnDbService
from tests.support.service import ADMIN_PASSWORD, PROJECT, Service, running_service
from tests.support.signed import signed_request
from tests.vulndb.helpers import osv, write_zip

IMAGE_ID = f"sha256:{7:064x}"
OWNED = Package("urllib3", "1.26.12", Ecosystem.PYPI, PackageType.PYTHON, purl="pkg:pypi/urllib3@1.26.12",
                path="usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO",
                owner="deb:python3-urllib3")  # fmt: skip
PIP = Package("urllib3", "1.26.12", Ecosystem.PYPI, PackageType.PYTHON, purl="pkg:pypi/urllib3@1.26.12",
              path="usr/local/lib/python3.11/site-packages/urllib3-1.26.12.dist-info/METADATA")  # fmt: skip
DEB = Package("python3-urllib3", "1.26.12-1+deb12u4", Ecosystem.DEBIAN, PackageType.DEB,
              path="var/lib/dpkg/status", source_name="python-urllib3",
              source_version="1.26.12-1+deb12u4")  # fmt: skip


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("coverage-api")
    with running_service(tmp) as service:
        settings = service.runtime.settings
        VulnDbService.from_settings(settings).import_paths([write_zip(tmp / "PyPI.zip", [
            osv("PYSEC-2023-192", "PyPI", "urllib3", events=[{"introduced": "0"}, {"fixed": "1.26.17"}],
                aliases=["CVE-2023-43804"]),
        ])])  # fmt: skip
        inv = Inventory(os=OSInfo("debian", "12", codename="bookworm"), packages=[DEB, OWNED, PIP])
        found = VulnDbService.from_settings(settings).matcher()(inv)
        with transaction(service.runtime.sessions) as s:
            img = Image(project_id=PROJECT, image_type="local", image_id=IMAGE_ID, image_name="app",
                        image_version="1.0")  # fmt: skip
            s.add(img)
            s.flush()
            results.record_scan(s, img.id, inv, found)
            rematch.store_inventory(s, img.id, inv, 1_700_000_000_000)
        yield service


def _get(svc: Service, path: str) -> dict[str, Any]:
    resp = signed_request(svc, "GET", f"/v5/{PROJECT}/image/{IMAGE_ID}" + path)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


QUERY = "image_type=local_image&namespace=&image_name=app&tag_name=1.0"


def test_vulnerability_list_carries_coverage(svc: Service) -> None:
    body = _get(svc, f"/vulnerabilities?{QUERY}")
    assert [(v["vul_id"], v["app_path"]) for v in body["data_list"]] == [("CVE-2023-43804", PIP.path)]
    by_kind = {(c["kind"], c["ecosystem"], c["release"]): c for c in body["coverage"]}
    debian = by_kind[("os", "Debian", "12")]
    # the dpkg package and the language package it owns: both judged by Debian, which is not loaded
    assert (debian["covered"], debian["packages"], debian["unchecked_count"]) == (False, 2, 2)
    pypi = by_kind[("ecosystem", "PyPI", "")]
    assert pypi["covered"] and [f["name"] for f in pypi["feeds"]] == ["osv:PyPI"] and pypi["records"] == 1
    assert body["unchecked_num"] == 2


def test_explain_endpoint(svc: Service) -> None:
    body = _get(svc, "/vulnerabilities/CVE-2023-43804/explain?image_type=local_image")
    verdicts = {(d["file"], d["verdict"]) for d in body["data_list"]}
    # Debian's advisories are not loaded: the owned copy is unchecked, never reported as affected
    assert verdicts == {(PIP.path, "affected"), (OWNED.path, "unchecked")}
    [pip] = [d for d in body["data_list"] if d["file"] == PIP.path]
    assert pip["records"][0]["advisory_id"] == "PYSEC-2023-192" and pip["records"][0]["feed"] == "osv:PyPI"
    assert pip["records"][0]["fixed_version"] == "1.26.17"
    assert body["handling"]["status"] == "vul_status_unfix"
    unknown = _get(svc, "/vulnerabilities/CVE-1999-0001/explain?image_type=local_image")
    assert unknown["total_num"] == 0 and unknown["data_list"] == []


def test_console_image_page_and_overview_say_what_was_not_checked(svc: Service) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
            "password": ADMIN_PASSWORD}}}, "scope": {"project": {"id": PROJECT}}}}  # fmt: skip
    token = httpx.post(svc.base_url + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    cookies = {COOKIE: token}
    with transaction(svc.runtime.sessions) as s:
        pk = s.scalars(select(Image.id).where(Image.image_id == IMAGE_ID)).one()
    page = httpx.get(f"{svc.base_url}/console/images/{pk}", cookies=cookies)
    assert page.status_code == 200
    assert 'data-coverage="os"' in page.text and "2 Debian 12 package(s) NOT checked" in page.text
    overview = httpx.get(f"{svc.base_url}/console/", cookies=cookies)
    assert overview.status_code == 200
    assert 'data-coverage="fleet"' in overview.text and "Debian 12: 1 image" in overview.text
