"""Additive enrichment fields and filters on the per-image vulnerability list, after a re-match stamps them.

The seeded nginx image is re-matched (`services.results.rematch`, as `db import` of enrichment does) with
findings carrying severity provenance, EPSS and KEV; the HSS fields keep their enums.
"""

from __future__ import annotations

from typing import Any

from openhss.db.engine import transaction
from openhss.domain.enums import Severity
from openhss.services import results
from tests.api.conftest import LIBSSL, NGINX_VULS, OPENSSL, ZLIB, Seeded, vul
from tests.support.service import PROJECT
from tests.support.signed import signed_request

NGINX_ID = f"sha256:{1:064x}"
QUERY = "image_type=local_image&namespace=&image_name=nginx&tag_name=1.25&limit=50"


def _list(seeded: Seeded, extra: str = "") -> dict[str, Any]:
    resp = signed_request(seeded.svc, "GET", f"/v5/{PROJECT}/image/{NGINX_ID}/vulnerabilities?{QUERY}{extra}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_enrichment_fields_and_filters(seeded: Seeded) -> None:
    enriched = [
        vul("CVE-2023-45853", ZLIB, Severity.CRITICAL)._replace(
            severity_source="nvd", epss=0.42, epss_percentile=0.97, epss_date="2099-01-01",
            kev_date_added="2099-01-02", kev_due_date="2099-01-23",
        ),
        vul("CVE-2099-0001", OPENSSL, Severity.UNKNOWN)._replace(severity_source="none", epss=0.01),
        vul("CVE-2099-0002", LIBSSL, Severity.HIGH)._replace(severity_source="cve5:adp:CISA-ADP"),
    ]  # fmt: skip
    with transaction(seeded.svc.runtime.sessions) as s:
        results.rematch(s, seeded.images[f"{PROJECT}:nginx:local"], enriched)
    try:
        rows = {r["vul_id"]: r for r in _list(seeded)["data_list"]}
        assert set(rows) == {"CVE-2023-45853", "CVE-2099-0001", "CVE-2099-0002"}
        zlib = rows["CVE-2023-45853"]
        assert zlib["kev"] is True and zlib["kev_due_date"] == "2099-01-23" and zlib["epss"] == 0.42
        assert zlib["severity_source"] == "nvd" and zlib["repair_necessity"] == "immediate_repair"
        unrated = rows["CVE-2099-0001"]
        # no score anywhere: the HSS field stays in its enum (Medium → delay_repair), the source says why
        assert unrated["severity_source"] == "none" and unrated["repair_necessity"] == "delay_repair"

        def ids(extra: str) -> set[str]:
            return {r["vul_id"] for r in _list(seeded, extra)["data_list"]}

        assert ids("&kev=true") == {"CVE-2023-45853"}
        assert ids("&kev=false") == {"CVE-2099-0001", "CVE-2099-0002"}
        assert ids("&min_epss=0.1") == {"CVE-2023-45853"}
        assert ids("&severity_source=none") == {"CVE-2099-0001"}
        assert ids("&severity_source=cve5") == {"CVE-2099-0002"}
    finally:
        with transaction(seeded.svc.runtime.sessions) as s:
            results.rematch(s, seeded.images[f"{PROJECT}:nginx:local"], NGINX_VULS)


def test_bad_enrichment_parameters_are_400(seeded: Seeded) -> None:
    for extra in ("&min_epss=1.5", "&severity_source=NVD;drop", "&kev=maybe"):
        path = f"/v5/{PROJECT}/image/{NGINX_ID}/vulnerabilities?{QUERY}{extra}"
        resp = signed_request(seeded.svc, "GET", path)
        assert resp.status_code == 400 and {"error_code", "error_msg"} <= set(resp.json())
