"""The image attributes copied onto `vul_image_index` (migration 0019) follow their image on both
databases: set from the image when a scan writes the index rows, rewritten when the image changes, gone
with the image; and every ListVulAffectImages filter answers from them with the exact count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from openhss.db.engine import transaction
from openhss.db.models import FILTER_COLUMNS, Image, VulImageIndex
from openhss.domain.enums import Ecosystem, PackageType, Severity, VulType
from openhss.domain.models import Package
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.services import results
from openhss.services.identity import Scope
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.services.vulnerabilities import VulAffectImagesFilter, list_vul_affect_images
from tests.support.pg import temp_database
from tests.support.service import PROJECT, make_settings

VUL = "CVE-2024-0001"
#: The image attributes copied onto each index row (same names on `images`).
COPIED_IMAGE_COLUMNS = [c for c in FILTER_COLUMNS if c not in ("repair_necessity", "status")]
#: (image_name, registry_name, registry_type, cluster_id) of the five registry images.
IMAGES = [
    ("team/nginx", "harbor-a", "Harbor", "k1"),
    ("team/nginx-proxy", "harbor-a", "Harbor", ""),
    ("web/redis", "harbor-b", "Harbor", "k1"),
    ("web/nginx", "jfrog-a", "Jfrog", "k2"),
    ("ops/100%_nginx", "harbor-b", "Harbor", "k2"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    with ExitStack() as stack:
        url = stack.enter_context(temp_database()) if request.param == "postgresql" else ""
        runtime = open_runtime(make_settings(tmp_path, url))
        bootstrap_admin(runtime)
        try:
            yield runtime
        finally:
            runtime.engine.dispose()


def _scan(rt: Runtime) -> list[int]:
    pks = []
    with transaction(rt.sessions) as s:
        for n, (name, registry, rtype, cluster) in enumerate(IMAGES):
            img = Image(
                project_id=PROJECT,
                image_type="registry",
                image_id=f"sha256:{n:064x}",
                image_name=name,
                registry_name=registry,
                registry_type=rtype,
                cluster_id=cluster,
            )
            s.add(img)
            s.flush()
            pkg = Package("openssl", "1.0", Ecosystem.NPM, PackageType.NPM, "pkg:npm/openssl@1.0", "p")
            finding = VulnerabilityFinding(
                vul_id=VUL, package_name="openssl", package_version="1.0", ecosystem=Ecosystem.NPM,
                severity=Severity.HIGH if n % 2 else Severity.CRITICAL, type=VulType.LINUX,
                fixed_version="", status="unfixed", cvss_score=7.0, path="p", layer_digest="",
                description="",
            )  # fmt: skip
            results.record_scan(s, img.id, Inventory(packages=[pkg]), [finding])
            pks.append(img.id)
    return pks


def _copies(rt: Runtime) -> dict[int, tuple[str, ...]]:
    cols = [getattr(VulImageIndex, c) for c in COPIED_IMAGE_COLUMNS]
    with transaction(rt.sessions) as s:
        return {r[0]: tuple(r[1:]) for r in s.execute(select(VulImageIndex.image_pk, *cols)).all()}


def _images(rt: Runtime) -> dict[int, tuple[str, ...]]:
    cols = [getattr(Image, c) for c in COPIED_IMAGE_COLUMNS]
    with transaction(rt.sessions) as s:
        return {r[0]: tuple(r[1:]) for r in s.execute(select(Image.id, *cols)).all()}


def _names(rt: Runtime, **filters: str) -> tuple[int, list[str]]:
    f = VulAffectImagesFilter(
        vul_id=VUL, vul_type="linux_vul", image_type="registry", is_handled=False, **filters
    )
    with transaction(rt.sessions) as s:
        page = list_vul_affect_images(s, Scope(PROJECT, None), f, 0, 200)
    return page.total, [r.image_name for r in page.rows]


def test_copies_follow_the_image(rt: Runtime) -> None:
    pks = _scan(rt)
    assert _copies(rt) == _images(rt) and len(_copies(rt)) == len(IMAGES)
    with transaction(rt.sessions) as s:
        img = s.get_one(Image, pks[1])
        img.image_name, img.cluster_id, img.registry_name = "renamed/app", "k9", "harbor-z"
        s.get_one(Image, pks[2]).image_version = "2"  # not a copied column: nothing to rewrite
    assert _copies(rt) == _images(rt)
    assert _copies(rt)[pks[1]][1:] == ("renamed/app", "harbor-z", "Harbor", "k9")
    with transaction(rt.sessions) as s:
        s.execute(delete(Image).where(Image.id == pks[0]))
    assert pks[0] not in _copies(rt) and _copies(rt) == _images(rt)


def test_every_filter_counts_exactly_from_the_index(rt: Runtime) -> None:
    pks = _scan(rt)
    assert _names(rt) == (5, [n for n, *_ in IMAGES])
    assert _names(rt, image_name="nginx") == (
        4,
        ["team/nginx", "team/nginx-proxy", "web/nginx", "ops/100%_nginx"],
    )
    assert _names(rt, image_name="100%_") == (1, ["ops/100%_nginx"])  # LIKE wildcards are literal
    assert _names(rt, registry_name="harbor-b") == (2, ["web/redis", "ops/100%_nginx"])
    assert _names(rt, registry_type="Jfrog") == (1, ["web/nginx"])
    assert _names(rt, cluster_id="k1") == (2, ["team/nginx", "web/redis"])
    assert _names(rt, image_id=f"sha256:{3:064x}") == (1, ["web/nginx"])
    assert _names(rt, repair_necessity="Critical") == (3, ["team/nginx", "web/redis", "ops/100%_nginx"])
    assert _names(rt, status="vul_status_ignored") == (0, [])
    assert _names(rt, image_name="nginx", registry_type="Harbor", cluster_id="k2") == (1, ["ops/100%_nginx"])
    with transaction(rt.sessions) as s:
        s.get_one(Image, pks[2]).cluster_id = "k2"  # an agent reports the image in another cluster
    assert _names(rt, cluster_id="k1") == (1, ["team/nginx"])
    assert _names(rt, cluster_id="k2") == (3, ["web/redis", "web/nginx", "ops/100%_nginx"])
