"""VEX statements through the services on a real database: handling recorded as statements, export →
import into a second instance (its own data dir and database) suppressing the same finding with the same
reason, application at re-match time, add_to_whitelist making a real rule, and expiry."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhss.db.engine import transaction
from openhss.db.models import Image, ImageVulOperation, VulImageIndex
from openhss.domain.enums import Ecosystem, PackageType, Severity, VulType
from openhss.domain.models import OSInfo, Package
from openhss.domain.vex import Product, Statement, VexStatus, package_purl, parse_document
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.exports import openvex
from openhss.scan.applier import Inventory
from openhss.services import rematch, vex, vulnerabilities, whitelists
from openhss.services.identity import Scope
from openhss.services.results import FIXED, IGNORED, UNFIXED, now_ms, record_scan
from openhss.services.runtime import bootstrap_admin, open_runtime
from tests.support.pg import temp_database
from tests.support.service import PROJECT, make_settings

DIGEST = "sha256:" + "ab" * 32
SCOPE = Scope(PROJECT, None)
REASON = "minizip is not built into this image"


def deb(name: str, version: str) -> Package:
    return Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.DEBIAN,
        type=PackageType.DEB,
        purl=f"pkg:deb/debian/{name}@{version}?distro=debian-12",
        path="var/lib/dpkg/status",
    )


ZLIB = deb("zlib1g", "1:1.2.13.dfsg-1")
BASH = deb("bash", "5.2.15-2+b2")


def finding(vul_id: str, pkg: Package) -> VulnerabilityFinding:
    return VulnerabilityFinding(
        vul_id=vul_id,
        package_name=pkg.name,
        package_version=pkg.version,
        ecosystem=pkg.ecosystem,
        severity=Severity.HIGH,
        type=VulType.LINUX,
        path=pkg.path,
        description=vul_id,
    )


FINDINGS = [finding("CVE-2023-45853", ZLIB), finding("CVE-2022-3715", BASH)]


@dataclass
class Instance:
    sessions: sessionmaker[Session]

    def image(self, name: str = "docker.io/library/nginx", digest: str = DIGEST, image_id: str = "") -> int:
        with transaction(self.sessions) as s:
            img = Image(
                project_id=PROJECT,
                image_type="local",
                image_id=image_id or f"sha256:{uuid.uuid4().hex * 2}",
                image_digest=digest,
                image_name=name,
                image_version="1.25",
            )
            s.add(img)
            s.flush()
            inv = Inventory(os=OSInfo("debian", "12"), packages=[BASH, ZLIB])
            record_scan(s, img.id, inv, FINDINGS)
            rematch.store_inventory(s, img.id, inv, now_ms())
            vex.apply_to_image(s, img.id)
            return img.id

    def status(self, image_pk: int, vul_id: str) -> str:
        with transaction(self.sessions) as s:
            return s.scalars(
                select(VulImageIndex.status).where(
                    VulImageIndex.image_pk == image_pk, VulImageIndex.vul_id == vul_id
                )
            ).one()

    def last_op(self, image_pk: int, vul_id: str) -> ImageVulOperation:
        with transaction(self.sessions) as s:
            op = s.scalars(
                select(ImageVulOperation)
                .where(ImageVulOperation.image_pk == image_pk, ImageVulOperation.vul_id == vul_id)
                .order_by(ImageVulOperation.id.desc())
            ).first()
            assert op is not None
            s.expunge(op)
            return op


def _instance(tmp: Path, url: str) -> Instance:
    rt = open_runtime(make_settings(tmp, url))
    bootstrap_admin(rt)
    return Instance(rt.sessions)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Instance, Instance]:
    return _instance(tmp_path / "a", ""), _instance(tmp_path / "b", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Instance, Instance]]:
    """Both databases, for the tests whose locking and SQL differ between them (two databases each)."""
    if request.param == "sqlite":
        yield _instance(tmp_path / "a", ""), _instance(tmp_path / "b", "")
    else:
        with temp_database() as a, temp_database() as b:
            yield _instance(tmp_path / "a", a), _instance(tmp_path / "b", b)


def ignore(
    inst: Instance,
    vul_id: str,
    image_ids: tuple[str, ...],
    extra: vex.HandleExtra | None = None,
    op: str = "ignore",
) -> int:
    with transaction(inst.sessions) as s:
        req = vulnerabilities.HandleRequest(
            image_type="local",
            vul_type="linux_vul",
            operate_type=op,
            select_type="vul_view",
            vul_data=((vul_id, image_ids),),
            remark=REASON,
        )
        return vex.handle(s, SCOPE, req, "alice", extra or vex.HandleExtra())


def image_id_of(inst: Instance, pk: int) -> str:
    with transaction(inst.sessions) as s:
        return s.get_one(Image, pk).image_id


def test_ignore_export_import_round_trip(any_pair: tuple[Instance, Instance]) -> None:
    a, b = any_pair
    pk_a = a.image()
    assert (
        ignore(a, "CVE-2023-45853", (image_id_of(a, pk_a),), vex.HandleExtra("vulnerable_code_not_present"))
        == 1
    )
    with transaction(a.sessions) as s:
        total, stored = vex.list_statements(s, SCOPE, "CVE-2023-45853", None, 0, 10)
        statements = vex.export_statements(s, SCOPE, vex.ExportFilter())
    assert total == 1 and stored[0].source == "handle" and stored[0].statement.reason == REASON
    out = io.StringIO()
    openvex.write(statements, openvex.Meta("openhss A", now_ms()), out)
    doc = parse_document(out.getvalue())
    by_vul = {s.vul_id: s for s in doc.statements}
    assert by_vul["CVE-2023-45853"].status is VexStatus.NOT_AFFECTED
    assert by_vul["CVE-2023-45853"].justification == "vulnerable_code_not_present"
    assert by_vul["CVE-2022-3715"].status is VexStatus.UNDER_INVESTIGATION

    # The second instance scanned the same image (its own rows, ids and database).
    pk_b = b.image()
    with transaction(b.sessions) as s:
        result = vex.import_document(s, PROJECT, "0", doc)
    assert result.applied == 1
    assert b.status(pk_b, "CVE-2023-45853") == IGNORED
    assert b.last_op(pk_b, "CVE-2023-45853").remark == REASON
    assert b.status(pk_b, "CVE-2022-3715") == UNFIXED  # under_investigation suppresses nothing
    # An image scanned later in B (same digest, another host's copy) is covered at scan time too.
    later = b.image(image_id="sha256:" + "9" * 64)
    assert b.status(later, "CVE-2023-45853") == IGNORED
    # Another image with the same packages is not: the statement names one image.
    other = b.image("docker.io/library/redis", "sha256:" + "cd" * 32)
    assert b.status(other, "CVE-2023-45853") == UNFIXED


def test_import_applies_at_rematch_time(pair: tuple[Instance, Instance]) -> None:
    _a, b = pair
    pk = b.image()
    doc = parse_document(_doc_for("CVE-2099-0001", package_purl("Debian", "zlib1g", "")))
    with transaction(b.sessions) as s:
        assert vex.import_document(s, PROJECT, "0", doc).applied == 0  # not found yet
    new = [*FINDINGS, finding("CVE-2099-0001", ZLIB)]
    with transaction(b.sessions) as s:
        run = rematch.create_rematch_run(s, {("Debian", "zlib1g")}).id
    report = rematch.rematch(b.sessions, run, lambda inv: new)
    assert [pk_ for pk_, _gained in report.newly_affected] == [pk]
    assert b.status(pk, "CVE-2099-0001") == IGNORED
    assert b.last_op(pk, "CVE-2099-0001").remark == "fixed upstream config"


def _doc_for(vul_id: str, product: str) -> str:
    out = io.StringIO()
    st = Statement(
        vul_id, VexStatus.NOT_AFFECTED, (Product(product),), impact_statement="fixed upstream config"
    )
    openvex.write([st], openvex.Meta("vendor", now_ms()), out)
    return out.getvalue()


def test_user_verdict_wins_over_import(pair: tuple[Instance, Instance]) -> None:
    a, _b = pair
    pk = a.image()
    ignore(a, "CVE-2023-45853", (image_id_of(a, pk),), op="manual_repair")
    with transaction(a.sessions) as s:
        vex.import_document(
            s, PROJECT, "0", parse_document(_doc_for("CVE-2023-45853", "pkg:deb/debian/zlib1g"))
        )
    assert a.status(pk, "CVE-2023-45853") == FIXED
    assert a.last_op(pk, "CVE-2023-45853").remark == REASON


def test_expiry_reopens_and_shows_expired(pair: tuple[Instance, Instance]) -> None:
    a, _b = pair
    pk = a.image()
    until = now_ms() + 3_600_000
    ignore(a, "CVE-2023-45853", (image_id_of(a, pk),), vex.HandleExtra(expires_at=until))
    assert a.status(pk, "CVE-2023-45853") == IGNORED
    with transaction(a.sessions) as s:
        assert vex.expire_due(s, until - 1) == 0
        assert vex.expire_due(s, until) == 1
    assert a.status(pk, "CVE-2023-45853") == UNFIXED
    op = a.last_op(pk, "CVE-2023-45853")
    assert op.operate_type == "not_ignore" and op.remark.startswith(vex.EXPIRED_REMARK)
    with transaction(a.sessions) as s:
        _total, rows = vex.list_statements(s, SCOPE, "CVE-2023-45853", None, 0, 10)
    assert [r.expired for r in rows] == [True]


def test_add_to_whitelist_makes_a_rule_that_expires(any_pair: tuple[Instance, Instance]) -> None:
    a, _b = any_pair
    pk = a.image()
    other = a.image("docker.io/library/redis", "sha256:" + "cd" * 32)
    until = now_ms() + 3_600_000
    assert (
        ignore(
            a,
            "CVE-2023-45853",
            (image_id_of(a, pk),),
            vex.HandleExtra(expires_at=until),
            op="add_to_whitelist",
        )
        == 1
    )
    with transaction(a.sessions) as s:
        total, rules = whitelists.list_rules(s, SCOPE, "local", None, None, 0, 10)
        assert total == 1
        rule = whitelists.rule_of(rules[0])
        assert rule.rule_type == whitelists.SPECIFIC_IMAGES
        assert [i.image_id for i in rule.images] == [image_id_of(a, pk)]
        assert rules[0].description == REASON
        _n, st = vex.list_statements(s, SCOPE, None, "whitelist", 0, 10)
        assert st[0].whitelist_id == rules[0].whitelist_id
    assert a.status(pk, "CVE-2023-45853") == IGNORED
    assert a.status(other, "CVE-2023-45853") == UNFIXED
    with transaction(a.sessions) as s:
        assert vex.expire_due(s, until) == 1
        assert whitelists.list_rules(s, SCOPE, "local", None, None, 0, 10)[0] == 0
    assert a.status(pk, "CVE-2023-45853") == UNFIXED


def test_rejects_bad_additive_fields(pair: tuple[Instance, Instance]) -> None:
    from openhss.domain.errors import InvalidRequest

    a, _b = pair
    pk = a.image()
    with pytest.raises(InvalidRequest):
        ignore(a, "CVE-2023-45853", (image_id_of(a, pk),), vex.HandleExtra(justification="because"))
    with pytest.raises(InvalidRequest):
        ignore(a, "CVE-2023-45853", (image_id_of(a, pk),), vex.HandleExtra(expires_at=1))


def test_every_whitelist_rule_is_a_statement(pair: tuple[Instance, Instance]) -> None:
    """Rules made through the HSS whitelist API are statements too; changing a rule updates it, removing
    the rule removes it; the export carries the rule's description as the reason."""
    a, _b = pair
    pk = a.image()
    image_id = image_id_of(a, pk)
    with transaction(a.sessions) as s:
        rule = whitelists.Rule(
            whitelists.SPECIFIC_IMAGES,
            images=(whitelists.WhitelistImage(image_id=image_id),),
            description=REASON,
        )
        (wl,) = whitelists.add(s, SCOPE, "local", "linux_vul", ["CVE-2023-45853"], rule, "bob")
        wid = wl.whitelist_id
    with transaction(a.sessions) as s:
        _n, (st,) = vex.list_statements(s, SCOPE, None, "whitelist", 0, 10)
        assert st.whitelist_id == wid and st.statement.status is VexStatus.NOT_AFFECTED
        assert st.statement.reason == REASON and st.statement.products[0].id.startswith(
            "pkg:oci/nginx@sha256"
        )
        (exported,) = vex.export_statements(s, SCOPE, vex.ExportFilter(vul_id="CVE-2023-45853"))
        assert exported.status is VexStatus.NOT_AFFECTED and exported.reason == REASON
        whitelists.change(
            s, SCOPE, "local", wid, whitelists.Rule(whitelists.ALL_IMAGES, description="all"), "bob"
        )
    with transaction(a.sessions) as s:
        _n, (st,) = vex.list_statements(s, SCOPE, None, "whitelist", 0, 10)
        assert st.statement.reason == "all" and st.statement.products == ()
        whitelists.delete(s, SCOPE, "local", [wid], "bob")
    with transaction(a.sessions) as s:
        assert vex.list_statements(s, SCOPE, None, "whitelist", 0, 10)[0] == 0
    assert a.status(pk, "CVE-2023-45853") == UNFIXED
