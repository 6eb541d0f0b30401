"""Package-URL and image-reference normalisation: the conformance table of real-world spellings a VEX
statement may use for a product we found, and the near misses that must NOT match."""

from __future__ import annotations

import pytest

from openhss.domain.vex import (
    ImageIdentity,
    Product,
    Statement,
    Target,
    VexStatus,
    covers,
    image_purl,
    normalize_purl,
    package_matches,
    package_purl,
    parse_image,
    parse_purl,
    target_of,
)

# (case, statement purl, finding purl, matches)
PACKAGE_CASES = [
    ("identical", "pkg:deb/debian/openssl@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", True),
    (
        "distro qualifier only on statement",
        "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12",
        "pkg:deb/debian/openssl@3.0.11-1",
        True,
    ),
    (
        "distro qualifier differs",
        "pkg:deb/debian/openssl@3.0.11-1?distro=bookworm",
        "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12",
        True,
    ),
    (
        "arch only on finding",
        "pkg:deb/debian/openssl@3.0.11-1",
        "pkg:deb/debian/openssl@3.0.11-1?arch=amd64",
        True,
    ),
    (
        "arch alias x86_64 = amd64",
        "pkg:rpm/redhat/openssl@3.0.7-1.el9?arch=x86_64",
        "pkg:rpm/redhat/openssl@3.0.7-1.el9?arch=amd64",
        True,
    ),
    (
        "arch conflict",
        "pkg:deb/debian/openssl@3.0.11-1?arch=arm64",
        "pkg:deb/debian/openssl@3.0.11-1?arch=amd64",
        False,
    ),
    ("versionless product", "pkg:deb/debian/openssl", "pkg:deb/debian/openssl@3.0.11-1", True),
    ("other version", "pkg:deb/debian/openssl@3.0.10-1", "pkg:deb/debian/openssl@3.0.11-1", False),
    (
        "epoch as qualifier",
        "pkg:rpm/redhat/openssl@3.0.7-1.el9?epoch=1",
        "pkg:rpm/redhat/openssl@1:3.0.7-1.el9",
        True,
    ),
    (
        "epoch percent-encoded",
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1",
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1",
        True,
    ),
    ("zero epoch dropped", "pkg:rpm/redhat/bash@0:5.1.8-6.el9", "pkg:rpm/redhat/bash@5.1.8-6.el9", True),
    ("type upper case", "pkg:DEB/debian/openssl@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", True),
    ("namespace/name case (deb)", "pkg:deb/Debian/OpenSSL@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", True),
    (
        "name case matters for maven",
        "pkg:maven/org.Apache/Log4j-Core@2.14.1",
        "pkg:maven/org.apache/log4j-core@2.14.1",
        False,
    ),
    ("npm scope percent-encoded", "pkg:npm/%40babel/core@7.0.0", "pkg:npm/@babel/core@7.0.0", True),
    (
        "pypi PEP 503 name",
        "pkg:pypi/Django_REST.framework@3.14.0",
        "pkg:pypi/django-rest-framework@3.14.0",
        True,
    ),
    ("namespace only on one side", "pkg:deb/openssl@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", True),
    ("namespace conflict", "pkg:deb/ubuntu/openssl@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", False),
    ("pkg:// form", "pkg://npm/lodash@4.17.20", "pkg:npm/lodash@4.17.20", True),
    (
        "subpath ignored",
        "pkg:golang/github.com/gorilla/mux@1.8.0#internal",
        "pkg:golang/github.com/gorilla/mux@v1.8.0",
        True,
    ),
    ("go v prefix", "pkg:golang/golang.org/x/net@v0.17.0", "pkg:golang/golang.org/x/net@0.17.0", True),
    ("other type", "pkg:npm/openssl@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", False),
    ("other name", "pkg:deb/debian/libssl3@3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1", False),
]


@pytest.mark.parametrize(
    ("case", "want", "have", "expected"), PACKAGE_CASES, ids=[c[0] for c in PACKAGE_CASES]
)
def test_package_conformance(case: str, want: str, have: str, expected: bool) -> None:
    w, h = parse_purl(want), parse_purl(have)
    assert w is not None and h is not None, case
    assert package_matches(normalize_purl(w), normalize_purl(h)) is expected, case


DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
# (case, statement product, image found as (name, tag, digest), matches)
IMAGE_CASES = [
    ("docker.io/library alias", "docker.io/library/nginx:1.25", ("nginx", "1.25", DIGEST), True),
    (
        "index.docker.io alias",
        "index.docker.io/library/nginx",
        ("docker.io/library/nginx", "1.25", DIGEST),
        True,
    ),
    ("library/ alias", "library/nginx@" + DIGEST, ("nginx", "1.25", DIGEST), True),
    ("pkg:docker purl", "pkg:docker/library/nginx@1.25", ("nginx", "1.25", DIGEST), True),
    (
        "pkg:oci with repository_url",
        f"pkg:oci/nginx@{DIGEST.replace(':', '%3A')}?repository_url=docker.io/library/nginx",
        ("nginx", "latest", DIGEST),
        True,
    ),
    ("pkg:oci digest mismatch", f"pkg:oci/nginx@{OTHER}", ("nginx", "1.25", DIGEST), False),
    ("tag mismatch", "nginx:1.24", ("nginx", "1.25", DIGEST), False),
    ("digest beats tag", f"nginx:1.24@{DIGEST}", ("nginx", "1.25", DIGEST), True),
    ("tagless reference", "nginx", ("nginx", "1.25", DIGEST), True),
    ("other registry is another image", "quay.io/nginx/nginx", ("nginx", "1.25", DIGEST), False),
    (
        "private registry with port",
        "registry.local:5000/team/app:2",
        ("registry.local:5000/team/app", "2", ""),
        True,
    ),
    ("repository case", "Docker.io/Library/NGINX", ("nginx", "1.25", DIGEST), True),
    ("digest required but image has none", f"nginx@{DIGEST}", ("nginx", "1.25", ""), False),
]


@pytest.mark.parametrize(
    ("case", "product", "image", "expected"), IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES]
)
def test_image_conformance(case: str, product: str, image: tuple[str, str, str], expected: bool) -> None:
    name, tag, digest = image
    st = Statement("CVE-2024-1", VexStatus.NOT_AFFECTED, (Product(product),))
    target = target_of("CVE-2024-1", name, tag, digest, "Debian", "openssl", "3.0.11-1")
    assert covers(st, target) is expected, case


def test_not_purls_or_images() -> None:
    assert parse_purl("https://example.com/x") is None
    assert parse_image("pkg:deb/debian/openssl@1") is None
    assert parse_image("https://example.com/product/1") is None
    assert parse_image("nginx@md5:abc") is None


def test_own_identities_round_trip() -> None:
    """What our exports write for a stored finding is matched back by the import of another instance."""
    img = image_purl("docker.io/library/nginx", DIGEST, "1.25")
    assert parse_image(img) == ImageIdentity("nginx", "1.25", DIGEST)
    pkg = package_purl("Debian", "zlib1g", "1:1.2.13.dfsg-1")
    assert pkg == "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1"
    st = Statement("CVE-2023-45853", VexStatus.NOT_AFFECTED, (Product(img, (pkg,)),))
    assert covers(
        st, target_of("CVE-2023-45853", "nginx", "1.25", DIGEST, "Debian", "zlib1g", "1:1.2.13.dfsg-1")
    )
    assert not covers(st, target_of("CVE-2023-45853", "nginx", "1.25", DIGEST, "Debian", "bash", "5.2"))
    assert not covers(
        st, target_of("CVE-2023-99999", "nginx", "1.25", DIGEST, "Debian", "zlib1g", "1:1.2.13.dfsg-1")
    )
    maven = package_purl("Maven", "org.apache.logging.log4j:log4j-core", "2.14.1")
    assert maven == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


def test_alias_and_case_of_vulnerability_id() -> None:
    st = Statement(
        "GHSA-jfh8-c2jp-5v3q",
        VexStatus.NOT_AFFECTED,
        (Product("pkg:maven/org.apache.logging.log4j/log4j-core"),),
        aliases=("CVE-2021-44228",),
    )
    p = parse_purl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
    assert p is not None
    t = Target("cve-2021-44228", None, normalize_purl(p))
    assert covers(st, t)
