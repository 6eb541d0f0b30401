"""The pipeline: one pass per layer, the layer cache short-circuits reads, hooks see the folded image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, ClassVar

import pytest

from openhss.domain.enums import (
    Ecosystem,
    FindingKind,
    PackageType,
    ScanScope,
    Severity,
    VulType,
)
from openhss.domain.models import Finding, Package
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry
from openhss.scan.applier import Inventory
from openhss.scan.cache import FileLayerCache
from openhss.scan.checks.base import Check, CheckContext
from openhss.scan.errors import ImageOversized
from openhss.scan.image import Layer, build_image, parse_manifest
from openhss.scan.layers import Limits
from openhss.scan.pipeline import PipelineOptions, Progress, scan_handle, select_analyzers
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import ImageHandle, verified
from tests.scan_sources.builders import BuiltImage, LayerSpec, build_oci


class ReleaseFile(Analyzer):
    """Reports a package per `pkg/NAME=VERSION` file: enough to see attribution and whiteouts."""

    name: ClassVar[str] = "test-pkgfiles"
    version: ClassVar[int] = 1

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file and entry.path.startswith("pkg/")

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        name, _, version = entry.path.removeprefix("pkg/").partition("=")
        assert content.read() == b"x"
        return AnalysisResult(
            packages=[Package(name, version, Ecosystem.PYPI, PackageType.PYTHON, path=entry.path)]
        )


class Secretish(Analyzer):
    name: ClassVar[str] = "test-secretish"
    scope: ClassVar[ScanScope] = ScanScope.SENSITIVE_INFO

    def wants(self, entry: FileEntry) -> bool:
        return entry.path.endswith(".env")

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        return AnalysisResult(
            findings=[Finding(FindingKind.SECRET, "test", Severity.HIGH, "env file", path=entry.path)]
        )


class CountingHandle(ImageHandle):
    """Serves a built OCI image's blobs from memory, counting layer opens."""

    def __init__(self, built: BuiltImage) -> None:
        image = build_image(built.manifest_digest, parse_manifest(built.manifest), built.config)
        super().__init__(parse_ref(f"oci:{built.oci_dir}:app"), image)
        self.blobs = built.blobs
        self.opened: list[str] = []

    def open_layer(self, layer: Layer) -> BinaryIO:
        self.opened.append(layer.digest)
        return verified(io.BytesIO(self.blobs[layer.digest]), layer.digest, layer.size, "layer")


def _built(tmp_path: Path) -> BuiltImage:
    return build_oci(
        tmp_path / "img",
        [
            LayerSpec("FROM base").add_bytes("pkg/alpha=1.0", b"x").add_bytes("pkg/gone=0.1", b"x"),
            LayerSpec("RUN pip install beta").add_bytes("pkg/beta=2.0", b"x").add_bytes("app/.env", b"K=V"),
            LayerSpec("RUN rm gone").whiteout("pkg/gone=0.1"),
        ],
    )


def test_scan_folds_layers_with_attribution_and_instructions(tmp_path: Path) -> None:
    built = _built(tmp_path)
    events: list[Progress] = []
    opts = PipelineOptions(analyzers=[ReleaseFile, Secretish], progress=events.append, checks=[])
    report = scan_handle(CountingHandle(built), opts)
    assert [(p.name, p.version, p.layer_digest) for p in report.packages] == [
        ("alpha", "1.0", built.diff_ids[0]),
        ("beta", "2.0", built.diff_ids[1]),
    ]
    assert [layer.created_by for layer in report.layers] == [
        "FROM base",
        "RUN pip install beta",
        "RUN rm gone",
    ]
    assert [f.path for f in report.findings] == ["app/.env"]
    # the default checks read the image config: the builder's config runs as root with a PASSWORD env
    default = scan_handle(CountingHandle(built), PipelineOptions(analyzers=[ReleaseFile]))
    assert {f.kind for f in default.findings} >= {FindingKind.BASELINE}
    assert [(e.done, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert report.image.digest == built.manifest_digest


def test_scope_selects_analyzers_but_inventory_always_runs() -> None:
    assert select_analyzers(ScanScope.MALWARE, [ReleaseFile, Secretish]) == [ReleaseFile]
    assert select_analyzers(ScanScope.ALL, [ReleaseFile, Secretish]) == [ReleaseFile, Secretish]


def test_layer_cache_answers_without_reading_layers(tmp_path: Path) -> None:
    built = _built(tmp_path)
    cache = FileLayerCache(tmp_path / "cache")
    first = CountingHandle(built)
    opts = PipelineOptions(analyzers=[ReleaseFile, Secretish], cache=cache)
    cold = scan_handle(first, opts)
    assert len(first.opened) == 3 and not any(layer.cached for layer in cold.layers)
    second = CountingHandle(built)
    warm = scan_handle(second, opts)
    assert second.opened == []
    assert all(layer.cached for layer in warm.layers)
    assert warm.packages == cold.packages and warm.findings == cold.findings
    # a different analyzer set is a different cache key: the layers are read again
    third = CountingHandle(built)
    scan_handle(third, PipelineOptions(analyzers=[ReleaseFile], cache=cache))
    assert len(third.opened) == 3


def test_cached_layers_still_count_against_the_image_size_limit(tmp_path: Path) -> None:
    built = _built(tmp_path)
    cache = FileLayerCache(tmp_path / "cache")
    scan_handle(CountingHandle(built), PipelineOptions(analyzers=[ReleaseFile], cache=cache))
    tiny = Limits(max_image_bytes=2048)
    with pytest.raises(ImageOversized):
        scan_handle(CountingHandle(built), PipelineOptions(analyzers=[ReleaseFile], cache=cache, limits=tiny))


def test_matcher_and_checks_see_the_folded_inventory(tmp_path: Path) -> None:
    built = _built(tmp_path)
    seen: list[list[str]] = []

    def matcher(inv: Inventory) -> list[VulnerabilityFinding]:
        seen.append([p.name for p in inv.packages])
        return [
            VulnerabilityFinding(
                "CVE-2024-0001", p.name, p.version, p.ecosystem, Severity.HIGH, VulType.APP, fixed_version="9"
            )
            for p in inv.packages
            if p.name == "beta"
        ]

    class UserCheck(Check):
        id = "test-user"
        scope = ScanScope.BASELINE

        def run(self, ctx: CheckContext) -> list[Finding]:
            seen.append([p.name for p in ctx.inventory.packages])
            return [Finding(FindingKind.BASELINE, "user-root", Severity.MEDIUM, f"user {ctx.config.user}")]

    report = scan_handle(
        CountingHandle(built), PipelineOptions(analyzers=[ReleaseFile], matcher=matcher, checks=[UserCheck()])
    )
    assert seen == [["alpha", "beta"], ["alpha", "beta"]]
    assert [v.vul_id for v in report.vulnerabilities] == ["CVE-2024-0001"]
    assert [f.rule_id for f in report.findings] == ["user-root"]
