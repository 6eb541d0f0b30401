"""What an agent or a CI pipeline uploads after scanning an image itself: the inventory, never layers.

Vulnerabilities are not part of it: the server matches the packages against its own advisory
database, so every image is judged by the same, current advisories. The JSON form is produced and
validated by pydantic from these dataclasses, so both ends share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import TypeAdapter

from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.domain.report import ImageReport, ImageSummary


@dataclass(frozen=True, slots=True)
class ScanUpload:
    image: ImageSummary
    os: OSInfo | None = None
    packages: list[Package] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    #: Analyzer findings and image checks (secrets already masked by the analyzer).
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def from_report(cls, report: ImageReport) -> ScanUpload:
        return cls(report.image, report.os, report.packages, report.files, report.findings)


UPLOAD = TypeAdapter(ScanUpload)


def to_json(upload: ScanUpload) -> bytes:
    return UPLOAD.dump_json(upload)


def from_json(data: bytes) -> ScanUpload:
    """Parse an upload; raises pydantic's ValidationError on anything malformed."""
    return UPLOAD.validate_json(data)
