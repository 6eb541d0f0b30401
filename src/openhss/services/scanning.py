"""Scanning one image with everything wired: analyzers, OS restamping, checks, the advisory matcher.

The CLI, the Celery scan task and the agent all build their pipeline here, so "what a scan does" is
decided in one place; they differ only in cache, progress sink and where results go.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openhss.domain.enums import ScanScope, Severity
from openhss.domain.report import ImageReport
from openhss.domain.risk import risk_key
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.pipeline import PipelineOptions, scan_handle
from openhss.scan.refs import Transport
from openhss.scan.sources.registry import open_image
from openhss.scan.sources.sbom import read_sbom
from openhss.services.vulndb import VulnDbError, VulnDbService, open_matcher

if TYPE_CHECKING:
    from openhss.config import Settings
    from openhss.scan.cache import LayerCache
    from openhss.scan.refs import ImageRef
    from openhss.scan.sources.base import SourceOptions


@dataclass(frozen=True, slots=True)
class ScanFilters:
    """Report filters a user asks for; they never change what is stored, only what is shown."""

    severities: frozenset[Severity] = frozenset()
    ignore_unfixed: bool = False
    #: Only findings in CISA's KEV catalogue.
    kev_only: bool = False
    #: Only findings whose EPSS score is at least this (0 keeps everything, also findings without EPSS).
    min_epss: float = 0.0

    def keeps_vulnerability(self, v: VulnerabilityFinding) -> bool:
        if self.ignore_unfixed and not v.fixed_version:
            return False
        if self.kev_only and not v.kev:
            return False
        if self.min_epss > 0 and (v.epss is None or v.epss < self.min_epss):
            return False
        return not self.severities or v.severity in self.severities


def apply_filters(report: ImageReport, filters: ScanFilters) -> ImageReport:
    """The report as shown: filtered, vulnerabilities in the risk order (`domain.risk.risk_key`)."""
    kept = [v for v in report.vulnerabilities if filters.keeps_vulnerability(v)]
    return dataclasses.replace(
        report,
        vulnerabilities=sorted(kept, key=risk_key),
        findings=[f for f in report.findings if not filters.severities or f.severity in filters.severities],
    )


def exceeds(report: ImageReport) -> bool:
    """Whether anything is left to fail a pipeline on (call after `apply_filters`)."""
    return bool(report.vulnerabilities or report.findings)


class NoAdvisoryDatabase(ValueError):
    """Vulnerability scanning was asked for but no advisory database exists yet."""


def build_pipeline(
    scope: ScanScope,
    *,
    cache: LayerCache | None = None,
    advisory_db: Path | None = None,
    settings: Settings | None = None,
) -> PipelineOptions:
    """The pipeline for `scope`. Vulnerability matching needs the advisory database; without one the
    scan refuses rather than reporting "no vulnerabilities", which a CI gate would read as clean."""
    options = PipelineOptions(scope=scope, cache=cache)
    if not scope & (ScanScope.MALWARE | ScanScope.VULNERABILITY):
        return options  # no settings, advisory store or rule packs needed: keep start-up lean
    from openhss.config import load_settings

    if scope & ScanScope.MALWARE:  # rule packs and hash lists imported by `openhss db update/import`
        options.analyzers = VulnDbService.from_settings(settings or load_settings()).malware_analyzers()
    if scope & ScanScope.VULNERABILITY:
        try:
            matcher = open_matcher(settings or load_settings(), advisory_db)
        except VulnDbError as exc:
            # The store's message already names `openhss db update`/`db import`: say it once.
            raise NoAdvisoryDatabase(f"{exc}, or scan with --scanners that exclude vuln") from None
        options.matcher = matcher
        options.coverage = matcher.coverage
    return options


def scan_image(ref: ImageRef, source: SourceOptions, options: PipelineOptions) -> ImageReport:
    if ref.transport is Transport.SBOM:
        return scan_sbom(ref, options)
    with open_image(ref, source) as handle:
        return scan_handle(handle, options)


def scan_sbom(ref: ImageRef, options: PipelineOptions) -> ImageReport:
    """An SBOM's inventory matched like an image's; there are no layers, files or content findings."""
    started = time.perf_counter()
    read = read_sbom(Path(ref.path), str(ref))
    inv = read.inventory
    return ImageReport(
        image=read.image,
        os=inv.os,
        packages=inv.packages,
        vulnerabilities=options.matcher(inv) if options.matcher is not None else [],
        coverage=options.coverage(inv) if options.coverage is not None else None,
        seconds=round(time.perf_counter() - started, 4),
    )
