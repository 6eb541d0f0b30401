"""Scan one image end to end: open → analyse each layer once (or take it from the cache) → fold → check
→ match.

Everything here is shared by `openhss scan` (no server), the Celery scan task and the agent: only the
cache, the matcher and the progress sink differ. Layers are independent until the fold, so they are
analysed on a small thread pool (decompression and hashing release the GIL; a registry source overlaps
downloads), and a layer whose `(diff_id, analyzer versions)` is cached is never opened at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from openhss.domain.coverage import CoverageEntry
from openhss.domain.enums import ScanScope, ScanStatus
from openhss.domain.report import ImageReport, ImageSummary, LayerSummary
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.analyzers.base import Analyzer
from openhss.scan.analyzers.os.restamp import restamp_os_packages
from openhss.scan.analyzers.registry import Selection, analyzers_for, selection_for
from openhss.scan.applier import Inventory, OsRestamper, fold
from openhss.scan.budget import AnalyzerBudget, ScratchQuota
from openhss.scan.cache import LayerCache, cache_key
from openhss.scan.checks.base import Check, CheckContext, run_checks
from openhss.scan.checks.registry import checks_for
from openhss.scan.errors import ScanError
from openhss.scan.image import MT_DIR_LAYER, Image, Layer
from openhss.scan.layers import ImageBudget, Limits
from openhss.scan.refs import ImageRef
from openhss.scan.sources.base import ImageHandle
from openhss.scan.walk import LayerAnalysis, WalkBudget, analyze_layer

log = logging.getLogger(__name__)

#: Analyzers in this scope build the inventory (packages, files); every report needs it, so they always run.
INVENTORY_SCOPE = ScanScope.VULNERABILITY

Matcher = Callable[[Inventory], list[VulnerabilityFinding]]
Coverage = Callable[[Inventory], list[CoverageEntry]]


def default_checks(scope: ScanScope = ScanScope.ALL) -> list[Check]:
    """Image-level checks over the config, history and folded inventory (baseline, build, compliance);
    only the modules `scope` needs are imported."""
    return [cls() for cls in checks_for(scope)]


@dataclass(frozen=True, slots=True)
class Progress:
    """A layer finished: `done` of `total`; `cached` when the layer cache answered without reading it."""

    done: int
    total: int
    layer: LayerSummary


@dataclass(slots=True)
class PipelineOptions:
    scope: ScanScope = ScanScope.ALL
    limits: Limits = field(default_factory=Limits)
    scratch_dir: Path | None = None
    cache: LayerCache | None = None
    #: Analyzer classes to use instead of the registry (tests, the agent's reduced set).
    analyzers: Sequence[type[Analyzer]] | None = None
    restamp: OsRestamper | None = restamp_os_packages
    matcher: Matcher | None = None
    #: States what the matcher's advisories cover (`VulnerabilityMatcher.coverage`); set with `matcher`.
    coverage: Coverage | None = None
    #: None: the registry's checks for `scope`, imported when the scan runs them.
    checks: Sequence[Check] | None = None
    workers: int = 2
    progress: Callable[[Progress], None] | None = None
    #: Asked before each layer, between members and from inside analyzers' budget checks, so it must be
    #: cheap (the worker's lease answers from memory and looks at the database once a second); True
    #: ends the scan with `ScanStopped` (a user's stop request, or a worker that lost its job's lease)
    #: within seconds, even while a hostile file is being analysed.
    should_stop: Callable[[], bool] | None = None
    #: Wall-clock budget of the whole scan in seconds (0: none); past it the scan ends `ScanTimedOut`.
    max_seconds: float = 0.0
    #: What one analyzer may spend on one file (time, archive members).
    analyzer_budget: AnalyzerBudget = field(default_factory=AnalyzerBudget)
    #: Bytes the scan's spool files may hold at once in the scratch dir; a file over it is skipped.
    scratch_quota: int = 4 * 1024**3


class ScanStopped(ScanError):
    """The scan was asked to stop (checked between layers, members and inside analyzers)."""

    status = ScanStatus.STOPPED


class ScanTimedOut(ScanError):
    """The scan went over its wall-clock budget: a hostile image must not hold a worker forever."""

    status = ScanStatus.FAILED


class Interrupt:
    """The scan-wide stop/deadline check, shared by the layer threads; once tripped it stays tripped."""

    def __init__(self, should_stop: Callable[[], bool] | None, max_seconds: float) -> None:
        self._should_stop = should_stop
        self._max_seconds = max_seconds
        self._deadline = time.monotonic() + max_seconds if max_seconds > 0 else 0.0
        self._tripped: ScanError | None = None

    def __call__(self) -> None:
        if self._tripped is not None:
            raise self._tripped
        now = time.monotonic()
        if self._deadline and now > self._deadline:
            self._tripped = ScanTimedOut(f"scan exceeded its wall-clock budget of {self._max_seconds:g} s")
        elif self._should_stop is not None and self._should_stop():
            self._tripped = ScanStopped("stopped while scanning")
        if self._tripped is not None:
            raise self._tripped


def select_analyzers(
    scope: ScanScope, classes: Sequence[type[Analyzer]] | None = None
) -> list[type[Analyzer]]:
    if classes is None:
        return analyzers_for(scope | INVENTORY_SCOPE)  # imports only these
    return [a for a in classes if a.scope & (scope | INVENTORY_SCOPE)]


def _created_by(image: Image) -> list[str]:
    """The build instruction of each layer: history entries that made a layer, in order."""
    made = [h.created_by for h in image.config.history if not h.empty_layer]
    if len(made) != len(image.layers):
        # History is optional and sometimes inconsistent (squashed images): say nothing rather than lie.
        return [""] * len(image.layers)
    return made


def analyze_layers(
    handle: ImageHandle, options: PipelineOptions
) -> tuple[list[LayerAnalysis], list[LayerSummary]]:
    image = handle.image
    selection = (
        selection_for(options.scope | INVENTORY_SCOPE)  # imported on the first cache miss only
        if options.analyzers is None
        else Selection(classes=select_analyzers(options.scope, options.analyzers))
    )
    versions = selection.versions
    budget = ImageBudget(options.limits)
    interrupt = Interrupt(options.should_stop, options.max_seconds)
    quota = ScratchQuota(options.scratch_quota)
    created = _created_by(image)
    total = len(image.layers)
    done = 0

    def one(index: int, layer: Layer) -> tuple[LayerAnalysis, LayerSummary]:
        if options.should_stop is not None and options.should_stop():
            raise ScanStopped("stopped before layer " + (layer.diff_id or layer.digest))
        interrupt()
        key = cache_key(layer.diff_id, versions, layer.digest) if layer.diff_id and options.cache else ""
        if key and options.cache is not None:
            hit = options.cache.get(key)
            if hit is not None:
                # The walk never ran, but the image-size budget must still see this layer's bytes.
                budget.charge(hit.stats.uncompressed_bytes)
                return hit, _summary(layer, created[index], hit, cached=True, seconds=0.0)
        started = time.perf_counter()
        with handle.open_layer(layer) as stream:
            analysis = analyze_layer(
                stream,
                layer.media_type,
                [cls() for cls in selection.classes()],
                options.limits,
                diff_id=layer.diff_id,
                budget=budget,
                scratch_dir=options.scratch_dir,
                # A directory "layer" is named by a metadata digest, not the hash of a tar.
                verify_diff_id=layer.media_type != MT_DIR_LAYER,
                blob_digest=layer.digest,
                walk_budget=WalkBudget(
                    analyzer=options.analyzer_budget,
                    quota=quota,
                    scratch_dir=options.scratch_dir,
                    interrupt=interrupt,
                ),
            )
        seconds = time.perf_counter() - started
        if key and options.cache is not None:
            options.cache.put(key, analysis)
        return analysis, _summary(layer, created[index], analysis, cached=False, seconds=seconds)

    analyses: list[LayerAnalysis] = []
    summaries: list[LayerSummary] = []
    with ThreadPoolExecutor(max_workers=max(1, min(options.workers, total or 1))) as pool:
        futures = [pool.submit(one, i, layer) for i, layer in enumerate(image.layers)]
        for future in futures:
            analysis, summary = future.result()
            analyses.append(analysis)
            summaries.append(summary)
            done += 1
            if options.progress is not None:
                options.progress(Progress(done, total, summary))
    return analyses, summaries


def _summary(
    layer: Layer, created_by: str, analysis: LayerAnalysis, *, cached: bool, seconds: float
) -> LayerSummary:
    return LayerSummary(
        digest=layer.digest,
        diff_id=analysis.diff_id or layer.diff_id,
        size=layer.size,
        media_type=layer.media_type,
        created_by=created_by,
        cached=cached,
        members=analysis.stats.members,
        uncompressed_bytes=analysis.stats.uncompressed_bytes,
        seconds=round(seconds, 4),
    )


def image_summary(ref: ImageRef, image: Image) -> ImageSummary:
    cfg = image.config
    return ImageSummary(
        ref=str(ref),
        transport=ref.transport.value,
        digest=image.manifest_digest,
        config_digest=image.config_digest,
        os_name=cfg.platform.os,
        architecture=cfg.platform.architecture,
        created=cfg.created,
        user=cfg.user,
        env=cfg.env,
        entrypoint=cfg.entrypoint,
        cmd=cfg.cmd,
        exposed_ports=cfg.exposed_ports,
        labels=tuple(sorted(cfg.labels.items())),
        repo_tags=image.repo_tags,
        size=image.size,
    )


def scan_handle(handle: ImageHandle, options: PipelineOptions) -> ImageReport:
    """Scan an opened image. Raises `ScanError` subclasses whose `status` is the HSS scan status."""
    started = time.perf_counter()
    analyses, summaries = analyze_layers(handle, options)
    inventory = fold(analyses, options.restamp)
    findings = list(inventory.findings)
    checks = list(options.checks) if options.checks is not None else default_checks(options.scope)
    findings.extend(run_checks(checks, CheckContext(handle.image.config, inventory), options.scope))
    vulnerabilities = options.matcher(inventory) if options.matcher is not None else []
    return ImageReport(
        image=image_summary(handle.ref, handle.image),
        os=inventory.os,
        layers=summaries,
        packages=inventory.packages,
        files=inventory.files,
        vulnerabilities=vulnerabilities,
        findings=findings,
        skipped=inventory.skipped,
        warnings=inventory.warnings,
        seconds=round(time.perf_counter() - started, 4),
        coverage=options.coverage(inventory) if options.coverage is not None else None,
    )
