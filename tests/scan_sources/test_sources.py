"""Every transport opens real images from real stores; hostile stores fail with the right HSS status."""

from __future__ import annotations

import hashlib
import json
import os
import pkgutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import openhss.scan.sources as sources_pkg
from openhss.domain.enums import ScanStatus
from openhss.scan.errors import (
    AuthenticationFailed,
    CorruptImage,
    DigestMismatch,
    DownloadFailed,
    ImageNotFound,
    ImageOversized,
    PlatformNotFound,
)
from openhss.scan.image import Platform
from openhss.scan.layers import LayerReader
from openhss.scan.refs import Transport
from openhss.scan.sources.base import Credentials, ImageHandle, Source, SourceOptions
from openhss.scan.sources.registry import SOURCES, list_platforms, open_image

from .builders import (
    BuiltImage,
    LayerSpec,
    build_oci,
    write_docker_archive,
    write_oci_archive,
    write_platform_index,
)
from .builders import sample_layers as _sample_layers
from .peers import containerd, podman_service, registry, skopeo_copy

EXPECTED = {"bin/true", "etc/os-release", "app/main.py", "opt/cache/new.txt"}


def read_image(handle: ImageHandle) -> tuple[set[str], list[str]]:
    """Read every layer through the verifying stream and the layer reader; (paths seen, diff_ids)."""
    paths: set[str] = set()
    diff_ids = []
    for layer in handle.image.layers:
        with handle.open_layer(layer) as stream:
            reader = LayerReader(stream, layer.media_type, hash_diff_id=True)
            for entry, _ in reader:
                paths.add(entry.path)
            diff_ids.append(reader.diff_id)
    return paths, diff_ids


def check(handle: ImageHandle, built: BuiltImage) -> None:
    paths, diff_ids = read_image(handle)
    assert paths >= EXPECTED
    assert diff_ids == built.diff_ids == [la.diff_id for la in handle.image.layers]
    cfg = handle.image.config
    assert cfg.platform == Platform("linux", "amd64")
    assert cfg.user == "root" and "PASSWORD=hunter2" in cfg.env and cfg.exposed_ports == ("22/tcp", "80/tcp")
    assert cfg.history[-1].empty_layer


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_oci(tmp_path_factory.mktemp("oci"), _sample_layers(), tag="app")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


def test_every_source_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(sources_pkg.__path__) if not m.name.startswith("_")}
    modules -= {"base", "registry", "sbom"}  # sbom: is an inventory without layers, read by services.scanning
    registered = {cls.__module__.rsplit(".", 1)[1] for cls in SOURCES.values()}
    assert modules == registered, f"unregistered source modules: {modules - registered}"
    assert set(SOURCES) == set(Transport) - {Transport.SBOM}
    for transport, cls in SOURCES.items():
        assert issubclass(cls, Source) and cls.transport is transport


def test_oci_layout_by_tag_and_digest(built: BuiltImage) -> None:
    opts = SourceOptions()
    with open_image(f"oci:{built.oci_dir}:app", opts) as h:
        assert h.image.manifest_digest == built.manifest_digest
        check(h, built)
    with open_image(f"oci:{built.oci_dir}@{built.manifest_digest}", opts) as h:
        check(h, built)
    with pytest.raises(ImageNotFound):
        open_image(f"oci:{built.oci_dir}:nope", opts)


def test_oci_archive_from_builder_and_skopeo(built: BuiltImage, work: Path) -> None:
    mine = write_oci_archive(built, work / "mine.oci.tar")
    with open_image(f"oci-archive:{mine}", SourceOptions()) as h:
        check(h, built)
    theirs = work / "skopeo.oci.tar"
    skopeo_copy(f"oci:{built.oci_dir}:app", f"oci-archive:{theirs}:test/app:1.0")
    with open_image(f"oci-archive:{theirs}:test/app:1.0", SourceOptions()) as h:
        check(h, built)


def test_docker_archive_from_builder_and_skopeo(built: BuiltImage, work: Path) -> None:
    mine = write_docker_archive(built, work / "mine.docker.tar")
    with open_image(f"docker-archive:{mine}", SourceOptions()) as h:
        check(h, built)
        assert h.image.repo_tags == ("docker.io/test/app:1.0",)
    theirs = work / "skopeo.docker.tar"
    skopeo_copy(f"oci:{built.oci_dir}:app", f"docker-archive:{theirs}:test/app:1.0")
    with open_image(f"docker-archive:{theirs}:test/app:1.0", SourceOptions()) as h:
        check(h, built)


def test_multi_image_docker_archive(built: BuiltImage, tmp_path: Path) -> None:
    other = build_oci(tmp_path / "other", [LayerSpec("x").add_bytes("etc/other", b"other\n")])
    path = tmp_path / "multi.tar"
    write_docker_archive(built, path, "docker.io/test/app:1.0")
    with tarfile.open(path, "a") as tf:
        names = []
        for raw, diff_id in zip(other.raw_layers, other.diff_ids, strict=True):
            names.append(diff_id.split(":")[1] + ".tar")
            _add(tf, names[-1], raw)
        _add(tf, "other.json", other.config)
    # rewrite manifest.json with both entries (the later member of a name wins, as in tar extraction)
    first = {"Config": built.config_digest.split(":")[1] + ".json", "RepoTags": ["docker.io/test/app:1.0"]}
    first["Layers"] = [d.split(":")[1] + ".tar" for d in built.diff_ids]
    second = {"Config": "other.json", "RepoTags": ["example.com/other:2"], "Layers": names}
    with tarfile.open(path, "a") as tf:
        _add(tf, "manifest.json", json.dumps([first, second]).encode())
    with open_image(f"docker-archive:{path}:example.com/other:2", SourceOptions()) as h:
        paths, _ = read_image(h)
        assert "etc/other" in paths
    with open_image(f"docker-archive:{path}:test/app:1.0", SourceOptions()) as h:
        check(h, built)
    with pytest.raises(ImageNotFound, match="holds 2 images"):
        open_image(f"docker-archive:{path}", SourceOptions())


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def test_oci_index_platform_selection_and_listing(tmp_path: Path) -> None:
    out = tmp_path / "multi"
    amd = build_oci(out, [LayerSpec("a").add_bytes("arch", b"amd64")], write_index=False)
    arm = build_oci(out, [LayerSpec("b").add_bytes("arch", b"arm64")], arch="arm64", write_index=False)
    write_platform_index(out, [(amd, "linux/amd64"), (arm, "linux/arm64")])
    ref = f"oci:{out}:multi"
    assert list_platforms(ref, SourceOptions()) == [Platform("linux", "amd64"), Platform("linux", "arm64")]
    with open_image(ref, SourceOptions(platform=Platform.parse("linux/arm64"))) as h:
        assert h.image.manifest_digest == arm.manifest_digest
    with pytest.raises(PlatformNotFound, match="linux/s390x"):
        open_image(ref, SourceOptions(platform=Platform.parse("linux/s390x")))


def test_hostile_layouts(built: BuiltImage, tmp_path: Path) -> None:
    # Oversized: checked before any layer is read.
    with pytest.raises(ImageOversized) as exc:
        open_image(f"oci:{built.oci_dir}:app", SourceOptions(max_image_bytes=10))
    assert exc.value.status is ScanStatus.IMAGE_OVERSIZED
    # A tampered layer blob: the stream fails at EOF with a download_failed digest mismatch.
    bad = tmp_path / "bad"
    copy = build_oci(bad, _sample_layers(), tag="app")
    blob = bad / "blobs" / "sha256" / copy.layer_digests[1].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[-9] ^= 0xFF  # gzip trailer CRC byte region: still decompresses far enough to be read
    blob.write_bytes(bytes(data))
    with open_image(f"oci:{bad}:app", SourceOptions()) as h, pytest.raises((DigestMismatch, CorruptImage)):
        read_image(h)
    # A manifest whose bytes do not match the digest naming them.
    man = bad / "blobs" / "sha256" / copy.manifest_digest.split(":")[1]
    man.write_bytes(man.read_bytes() + b" ")
    with pytest.raises(DigestMismatch) as exc2:
        open_image(f"oci:{bad}:app", SourceOptions())
    assert exc2.value.status is ScanStatus.DOWNLOAD_FAILED
    # Truncated archive: a blob running past the end of the file is corrupt, not read from elsewhere.
    arch = write_oci_archive(built, tmp_path / "t.tar")
    with arch.open("r+b") as f:
        f.truncate(arch.stat().st_size // 2)
    with (
        pytest.raises((CorruptImage, ImageNotFound)),
        open_image(f"oci-archive:{arch}", SourceOptions()) as h,
    ):
        read_image(h)
    # A blob that is a symlink to a host file is not followed.
    link = tmp_path / "linked"
    lcopy = build_oci(link, _sample_layers(), tag="app")
    cfg = link / "blobs" / "sha256" / lcopy.config_digest.split(":")[1]
    cfg.unlink()
    cfg.symlink_to("/etc/passwd")
    with pytest.raises(CorruptImage):
        open_image(f"oci:{link}:app", SourceOptions())


def test_dir_source_streams_without_escaping(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_bytes(b"ID=debian\n")
    (root / "usr" / "bin").mkdir(parents=True)
    big = os.urandom(3 * 1024 * 1024 + 7)
    (root / "usr" / "bin" / "tool").write_bytes(big)
    os.link(root / "usr" / "bin" / "tool", root / "usr" / "bin" / "tool2")
    (root / "escape").symlink_to("/etc/shadow")
    (root / "dotdot").symlink_to("../../../../etc")
    with open_image(f"dir:{root}", SourceOptions()) as h:
        assert len(h.image.layers) == 1
        layer = h.image.layers[0]
        seen: dict[str, object] = {}
        with h.open_layer(layer) as stream:
            for entry, content in LayerReader(stream, layer.media_type):
                seen[entry.path] = (entry.kind, content.read() if content is not None else entry.linkname)
    assert seen["usr/bin/tool"][1] == big  # type: ignore[index]
    assert seen["escape"][1] == "/etc/shadow"  # type: ignore[index]  # a link entry, target not read
    assert "etc/shadow" not in seen and "dotdot/passwd" not in seen
    assert hashlib.sha256(seen["etc/os-release"][1]).hexdigest()  # type: ignore[index]
    # The synthetic diff_id changes when the tree does (the layer cache key).
    before = h.image.layers[0].diff_id
    (root / "etc" / "new").write_bytes(b"x")
    with open_image(f"dir:{root}", SourceOptions()) as h2:
        assert h2.image.layers[0].diff_id != before


def test_registry_anonymous_oci_and_schema2(built: BuiltImage, tmp_path: Path) -> None:
    with registry(tmp_path / "reg") as host:
        skopeo_copy(f"oci:{built.oci_dir}:app", f"docker://{host}/test/app:oci", "--dest-tls-verify=false")
        skopeo_copy(
            f"oci:{built.oci_dir}:app",
            f"docker://{host}/test/app:v2s2",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
        )
        opts = SourceOptions(insecure=True, retries=1, backoff=0.01)
        with open_image(f"docker://{host}/test/app:oci", opts) as h:
            assert h.image.manifest_digest == built.manifest_digest
            check(h, built)
        with open_image(f"{host}/test/app:v2s2", opts) as h:
            assert h.image.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"
            check(h, built)
            digest = h.image.manifest_digest
        with open_image(f"docker://{host}/test/app@{digest}", opts) as h:
            check(h, built)
        assert list_platforms(f"{host}/test/app:oci", opts) == [Platform("linux", "amd64")]
        with pytest.raises(ImageNotFound):
            open_image(f"{host}/test/nothere:1", opts)


def test_registry_basic_auth(built: BuiltImage, tmp_path: Path) -> None:
    with registry(tmp_path / "reg", htpasswd=("tester", "s3cret")) as host:
        skopeo_copy(
            f"oci:{built.oci_dir}:app",
            f"docker://{host}/test/app:1.0",
            "--dest-tls-verify=false",
            "--dest-creds",
            "tester:s3cret",
        )
        good = SourceOptions(insecure=True, credentials=Credentials("tester", "s3cret"))
        with open_image(f"{host}/test/app:1.0", good) as h:
            check(h, built)
        for creds in (None, Credentials("tester", "wrong")):
            with pytest.raises(AuthenticationFailed) as exc:
                open_image(f"{host}/test/app:1.0", SourceOptions(insecure=True, credentials=creds))
            assert exc.value.status is ScanStatus.DOWNLOAD_FAILED


def test_docker_daemon_api_on_podman(built: BuiltImage, tmp_path: Path) -> None:
    archive = write_docker_archive(built, tmp_path / "app.docker.tar", "docker.io/test/app:1.0")
    with podman_service(tmp_path / "podman") as (sock, argv):
        subprocess.run([*argv, "load", "-i", str(archive)], check=True, capture_output=True)
        opts = SourceOptions(docker_host=f"unix://{sock}", scratch_dir=tmp_path / "scratch")
        with open_image("docker-daemon:docker.io/test/app:1.0", opts) as h:
            check(h, built)
        assert not list((tmp_path / "scratch").iterdir()), "spool left behind"
        with pytest.raises(ImageNotFound):
            open_image("docker-daemon:docker.io/test/missing:1", opts)


def test_containerd_via_ctr(built: BuiltImage, tmp_path: Path) -> None:
    archive = write_oci_archive(built, tmp_path / "app.oci.tar")
    work = tmp_path / "ctrd"
    work.mkdir()
    with containerd(work) as (sock, ctr):
        subprocess.run(
            [ctr, "-a", sock, "images", "import", "--base-name", "docker.io/test/app", str(archive)],
            check=True,
            capture_output=True,
        )
        listing = subprocess.run([ctr, "-a", sock, "images", "ls", "-q"], check=True, capture_output=True)
        name = listing.stdout.decode().split()[0]
        opts = SourceOptions(containerd_address=sock, ctr_binary=ctr, scratch_dir=tmp_path / "scratch")
        with open_image(f"containerd:{name}", opts) as h:
            check(h, built)
        assert not list((tmp_path / "scratch").iterdir())
        with pytest.raises(ImageNotFound):
            open_image("containerd:docker.io/test/missing:1", opts)


def test_registry_tls_with_custom_ca(built: BuiltImage, tmp_path: Path) -> None:
    with registry(tmp_path / "reg", tls=True) as host:
        skopeo_copy(f"oci:{built.oci_dir}:app", f"docker://{host}/test/app:1.0", "--dest-tls-verify=false")
        ca = str(tmp_path / "reg" / "tls.crt")
        with open_image(f"{host}/test/app:1.0", SourceOptions(ca_file=ca)) as h:
            check(h, built)
        with open_image(f"{host}/test/app:1.0", SourceOptions(insecure=True)) as h:
            check(h, built)
        with pytest.raises(DownloadFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            open_image(f"{host}/test/app:1.0", SourceOptions(retries=0))
