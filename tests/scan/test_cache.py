"""Layer cache: lossless round trip, key changes with analyzer versions, corrupt entries are misses."""

from __future__ import annotations

from pathlib import Path

from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Severity
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.cache import FileLayerCache, cache_key, decode, encode
from openhss.scan.walk import LayerAnalysis


def sample() -> LayerAnalysis:
    res = AnalysisResult(
        os=OSInfo("debian", "12", "Debian GNU/Linux", "bookworm"),
        packages=[
            Package(
                "openssl",
                "3.0.11-1~deb12u2",
                Ecosystem.DEBIAN,
                PackageType.DEB,
                "pkg:deb/debian/openssl@3.0.11",
                "var/lib/dpkg/status",
                "sha256:aa",
                ("Apache-2.0",),
                "openssl",
                "3.0.11-1~deb12u2",
                "amd64",
                ("libc6",),
            )
        ],
        files=[FileRecord("usr/bin/su", 72000, 0o104755, 0, 0, "setuid", "ab" * 32, "sha256:aa")],
        findings=[
            Finding(
                FindingKind.SECRET,
                "aws-access-key-id",
                Severity.HIGH,
                "AWS",
                "etc/x",
                "sha256:aa",
                4,
                "AKIA****",
            )
        ],
        skipped=[("big.jar", "java: too large")],
    )
    return LayerAnalysis(
        "sha256:aa",
        res,
        whiteouts=["etc/old"],
        opaque_dirs=["opt/app"],
        warnings=["w"],
        analyzers={"dpkg": 1, "secrets": 2},
    )


def test_round_trip_is_lossless() -> None:
    a = sample()
    b = decode(encode(a))
    assert b.result.os == a.result.os and b.result.packages == a.result.packages
    assert b.result.packages[0].dependencies == ("libc6",)
    assert b.result.files == a.result.files and b.result.findings == a.result.findings
    assert (b.whiteouts, b.opaque_dirs, b.analyzers, b.result.skipped) == (
        a.whiteouts,
        a.opaque_dirs,
        a.analyzers,
        a.result.skipped,
    )


def test_key_depends_on_analyzer_versions() -> None:
    assert cache_key("sha256:aa", {"dpkg": 1}) != cache_key("sha256:aa", {"dpkg": 2})
    assert cache_key("sha256:aa", {"a": 1, "b": 1}) == cache_key("sha256:aa", {"b": 1, "a": 1})
    # The claimed diff_id alone never names an entry another blob wrote (issue 16).
    assert cache_key("sha256:aa", {"a": 1}, "sha256:b1") != cache_key("sha256:aa", {"a": 1}, "sha256:b2")
    assert cache_key("sha256:aa", {"a": 1}, "sha256:aa") == cache_key("sha256:aa", {"a": 1})


def test_file_cache_hit_miss_and_corruption(tmp_path: Path) -> None:
    cache = FileLayerCache(tmp_path)
    key = cache_key("sha256:aa", {"dpkg": 1})
    assert cache.get(key) is None
    cache.put(key, sample())
    assert cache.get(key) is not None
    (tmp_path / key[:2] / key).write_bytes(b"garbage")
    assert cache.get(key) is None
