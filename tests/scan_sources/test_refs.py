from __future__ import annotations

import pytest

from openhss.scan.errors import InvalidImageReference
from openhss.scan.refs import ImageRef, Transport, parse_ref

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "nginx",
            ImageRef(Transport.REGISTRY, registry="docker.io", repository="library/nginx", tag="latest"),
        ),
        (
            "nginx:1.25",
            ImageRef(Transport.REGISTRY, registry="docker.io", repository="library/nginx", tag="1.25"),
        ),
        (
            "docker://127.0.0.1:5000/test/app:1.0",
            ImageRef(Transport.REGISTRY, registry="127.0.0.1:5000", repository="test/app", tag="1.0"),
        ),
        (
            f"docker://localhost/app@{D}",
            ImageRef(Transport.REGISTRY, registry="localhost", repository="app", digest=D),
        ),
        (
            f"swr.cn-north-4.myhuaweicloud.com/org/app:v1@{D}",
            ImageRef(
                Transport.REGISTRY,
                registry="swr.cn-north-4.myhuaweicloud.com",
                repository="org/app",
                tag="v1",
                digest=D,
            ),
        ),
        ("docker-archive:/tmp/a.tar", ImageRef(Transport.DOCKER_ARCHIVE, path="/tmp/a.tar")),
        (
            "docker-archive:/tmp/a.tar:test/app:1.0",
            ImageRef(
                Transport.DOCKER_ARCHIVE,
                path="/tmp/a.tar",
                registry="docker.io",
                repository="test/app",
                tag="1.0",
            ),
        ),
        ("oci:/tmp/layout:app", ImageRef(Transport.OCI, path="/tmp/layout", tag="app")),
        ("oci:/tmp/layout", ImageRef(Transport.OCI, path="/tmp/layout")),
        (f"oci:/tmp/layout@{D}", ImageRef(Transport.OCI, path="/tmp/layout", digest=D)),
        ("oci-archive:/tmp/a.tar:v2", ImageRef(Transport.OCI_ARCHIVE, path="/tmp/a.tar", tag="v2")),
        (
            "docker-daemon:localhost/test/app:1.0",
            ImageRef(Transport.DOCKER_DAEMON, registry="localhost", repository="test/app", tag="1.0"),
        ),
        ("docker-daemon:busybox", ImageRef(Transport.DOCKER_DAEMON, repository="busybox", tag="latest")),
        (
            "containerd:test/app:1.0",
            ImageRef(Transport.CONTAINERD, registry="docker.io", repository="test/app", tag="1.0"),
        ),
        ("dir:/srv/rootfs", ImageRef(Transport.DIR, path="/srv/rootfs")),
    ],
)
def test_parse(text: str, expected: ImageRef) -> None:
    assert parse_ref(text) == expected


def test_default_registry_is_configurable() -> None:
    ref = parse_ref("team/app:2", default_registry="harbor.example.com")
    assert ref.registry == "harbor.example.com" and ref.repository == "team/app"


@pytest.mark.parametrize(
    "text",
    [
        "docker://127.0.0.1:5000/test/app:1.0",
        "oci:/x:app",
        "oci-archive:/x.tar",
        "dir:/r",
        "containerd:docker.io/a/b:1",
    ],
)
def test_str_round_trips(text: str) -> None:
    ref = parse_ref(text)
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    "text",
    ["", "docker://", "Upper/Case:1", "app:bad tag!", "app@sha256:zz", "oci-archive:", "docker-archive::x"],
)
def test_rejects_invalid(text: str) -> None:
    with pytest.raises(InvalidImageReference):
        parse_ref(text)
