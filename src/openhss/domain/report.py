"""The result of scanning one image, as every consumer outside the engine sees it.

The engine's own types (image model, layer analyses) stay inside `scan/`; this flat value is what the CLI
prints, the exporters render (JSON, CycloneDX, SPDX, SARIF) and the services persist, so none of them has
to import the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openhss.domain.coverage import CoverageEntry
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.domain.vulnerability import VulnerabilityFinding


@dataclass(frozen=True, slots=True)
class LayerSummary:
    """One layer: its blob, the build instruction that made it, and whether the cache served it."""

    digest: str
    diff_id: str
    size: int
    media_type: str
    created_by: str = ""
    cached: bool = False
    members: int = 0
    uncompressed_bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ImageSummary:
    ref: str
    transport: str
    digest: str
    config_digest: str
    os_name: str
    architecture: str
    created: str = ""
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    repo_tags: tuple[str, ...] = ()
    size: int = 0


@dataclass(slots=True)
class ImageReport:
    image: ImageSummary
    os: OSInfo | None = None
    layers: list[LayerSummary] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    vulnerabilities: list[VulnerabilityFinding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: (path, reason) for content an analyzer wanted but could not read: reported, never silent.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Advisory coverage per OS release / ecosystem; None when vulnerabilities were not matched.
    coverage: list[CoverageEntry] | None = None
