"""Reading OpenVEX, CycloneDX VEX and CSAF 2.0 VEX documents as real producers write them, and the
round trip through our own writers (CycloneDX output checked by the reference schema validator)."""

from __future__ import annotations

import io
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from openhss.domain.vex import (
    Product,
    Statement,
    VexError,
    VexStatus,
    covers,
    image_purl,
    package_purl,
    parse_document,
    target_of,
)
from openhss.exports import cdx_vex, openvex

DIGEST = "sha256:" + "ab" * 32
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def zlib_target(vul: str = "CVE-2023-45853", digest: str = DIGEST) -> object:
    return target_of(vul, "nginx", "1.25", digest, "Debian", "zlib1g", "1:1.2.13.dfsg-1")


def test_openvex_v02() -> None:
    doc = parse_document(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/1",
                "author": "Security Team",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "CVE-2023-45853", "aliases": ["DEBIAN-CVE-2023-45853"]},
                        "products": [
                            {
                                "@id": "pkg:oci/nginx?repository_url=docker.io/library/nginx",
                                "subcomponents": [
                                    {"@id": "pkg:deb/debian/zlib1g?arch=amd64&distro=debian-12"}
                                ],
                            }
                        ],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                        "impact_statement": "minizip is not built",
                    }
                ],
            }
        )
    )
    assert doc.format == "openvex" and doc.author == "Security Team"
    (st,) = doc.statements
    assert st.status is VexStatus.NOT_AFFECTED and st.reason == "minizip is not built"
    assert st.timestamp == T0
    assert covers(st, zlib_target())  # type: ignore[arg-type]
    assert not covers(st, target_of("CVE-2023-45853", "redis", "7", DIGEST, "Debian", "zlib1g", "1"))


def test_openvex_legacy_string_forms() -> None:
    doc = parse_document(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns",
                "@id": "x",
                "statements": [
                    {
                        "vulnerability": "CVE-2023-45853",
                        "products": ["pkg:deb/debian/zlib1g"],
                        "status": "fixed",
                    }
                ],
            }
        )
    )
    assert doc.statements[0].status is VexStatus.FIXED
    assert covers(doc.statements[0], zlib_target())  # type: ignore[arg-type]


def test_cyclonedx_vex_with_subject_image() -> None:
    doc = parse_document(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.5",
                "metadata": {
                    "component": {
                        "bom-ref": "img",
                        "type": "container",
                        "name": "nginx",
                        "purl": f"pkg:oci/nginx@{DIGEST.replace(':', '%3A')}",
                    },
                },
                "components": [
                    {
                        "bom-ref": "zlib",
                        "type": "library",
                        "name": "zlib1g",
                        "purl": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64",
                    }
                ],
                "vulnerabilities": [
                    {
                        "id": "CVE-2023-45853",
                        "analysis": {
                            "state": "false_positive",
                            "justification": "code_not_reachable",
                            "detail": "not reachable",
                        },
                        "affects": [{"ref": "zlib"}],
                    },
                    {"id": "CVE-2024-0001"},  # a finding without analysis is not a statement
                ],
            }
        )
    )
    (st,) = doc.statements
    assert st.status is VexStatus.NOT_AFFECTED
    assert st.justification == "vulnerable_code_not_in_execute_path"
    assert covers(st, zlib_target())  # type: ignore[arg-type]
    assert not covers(st, zlib_target(digest="sha256:" + "cd" * 32))  # type: ignore[arg-type]


def test_csaf_vex_relationships() -> None:
    doc = parse_document(
        json.dumps(
            {
                "document": {
                    "category": "csaf_vex",
                    "csaf_version": "2.0",
                    "publisher": {
                        "name": "Vendor PSIRT",
                        "category": "vendor",
                        "namespace": "https://v.example",
                    },
                    "tracking": {"id": "VEX-1", "current_release_date": "2026-01-01T00:00:00Z"},
                },
                "product_tree": {
                    "branches": [
                        {
                            "category": "vendor",
                            "name": "Vendor",
                            "branches": [
                                {
                                    "category": "product_name",
                                    "name": "nginx",
                                    "product": {
                                        "product_id": "IMG",
                                        "name": "nginx image",
                                        "product_identification_helper": {
                                            "purl": "pkg:docker/library/nginx@1.25"
                                        },
                                    },
                                },
                                {
                                    "category": "product_name",
                                    "name": "zlib1g",
                                    "product": {
                                        "product_id": "ZLIB",
                                        "name": "zlib1g",
                                        "product_identification_helper": {"purl": "pkg:deb/debian/zlib1g"},
                                    },
                                },
                            ],
                        }
                    ],
                    "relationships": [
                        {
                            "category": "default_component_of",
                            "product_reference": "ZLIB",
                            "relates_to_product_reference": "IMG",
                            "full_product_name": {"product_id": "IMG:ZLIB", "name": "zlib1g in nginx"},
                        }
                    ],
                },
                "vulnerabilities": [
                    {
                        "cve": "CVE-2023-45853",
                        "product_status": {"known_not_affected": ["IMG:ZLIB"], "known_affected": ["ZLIB"]},
                        "flags": [{"label": "vulnerable_code_not_present", "product_ids": ["IMG:ZLIB"]}],
                        "threats": [
                            {
                                "category": "impact",
                                "details": "minizip not shipped",
                                "product_ids": ["IMG:ZLIB"],
                            }
                        ],
                    }
                ],
            }
        )
    )
    by_status = {s.status: s for s in doc.statements}
    na = by_status[VexStatus.NOT_AFFECTED]
    assert na.author == "Vendor PSIRT" and na.reason == "minizip not shipped"
    assert na.justification == "vulnerable_code_not_present"
    assert covers(na, zlib_target())  # type: ignore[arg-type]
    assert covers(by_status[VexStatus.AFFECTED], zlib_target())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        json.dumps({"hello": 1}),
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "x",
                "statements": [{"vulnerability": {"name": "C"}, "status": "bogus"}],
            }
        ),
    ],
)
def test_rejects_non_vex(raw: str) -> None:
    with pytest.raises(VexError):
        parse_document(raw)


STATEMENTS = [
    Statement(
        "CVE-2023-45853",
        VexStatus.NOT_AFFECTED,
        (
            Product(
                image_purl("docker.io/library/nginx", DIGEST, "1.25"),
                (package_purl("Debian", "zlib1g", "1:1.2.13.dfsg-1"),),
            ),
        ),
        justification="vulnerable_code_not_in_execute_path",
        impact_statement="minizip is not built",
        author="alice",
        timestamp=T0,
        expires=T0 + 86_400_000,
    ),
    Statement(
        "CVE-2024-1111",
        VexStatus.FIXED,
        (Product(image_purl("nginx", DIGEST), (package_purl("npm", "@scope/pkg", "1.0.0"),)),),
        timestamp=T0,
    ),
    Statement(
        "CVE-2024-2222", VexStatus.UNDER_INVESTIGATION, (Product(image_purl("nginx", DIGEST)),), timestamp=T0
    ),
    Statement(
        "CVE-2024-3333", VexStatus.AFFECTED, (Product(package_purl("PyPI", "Jinja2", "2.0")),), timestamp=T0
    ),
]


@pytest.mark.parametrize("writer", [openvex, cdx_vex], ids=["openvex", "cyclonedx"])
def test_round_trip(writer: object) -> None:
    out = io.StringIO()
    writer.write(STATEMENTS, openvex.Meta("openhss test", T0), out)  # type: ignore[attr-defined]
    back = {s.vul_id: s for s in parse_document(out.getvalue()).statements}
    assert set(back) == {s.vul_id for s in STATEMENTS}
    for s in STATEMENTS:
        b = back[s.vul_id]
        assert b.status is s.status
        assert b.justification == s.justification
        assert b.reason == s.reason
    na = back["CVE-2023-45853"]
    assert covers(na, zlib_target())  # type: ignore[arg-type]
    assert not covers(na, target_of("CVE-2023-45853", "nginx", "1.25", DIGEST, "Debian", "bash", "5"))
    if writer is openvex:
        assert na.expires == T0 + 86_400_000
    else:
        assert not JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.getvalue())


def test_openvex_merges_products_of_one_verdict() -> None:
    a = Statement("CVE-1", VexStatus.NOT_AFFECTED, (Product("nginx"),), impact_statement="r", timestamp=T0)
    b = Statement(
        "CVE-1", VexStatus.NOT_AFFECTED, (Product("redis"),), impact_statement="r", timestamp=T0 + 1
    )
    doc = openvex.document([a, b], openvex.Meta("x", T0))
    (st,) = doc["statements"]
    assert [p["@id"] for p in st["products"]] == ["nginx", "redis"]
