"""Enumerations whose string values are exactly those of the HSS v5 API (spec §5) or of OSV.

They are `StrEnum`s so they serialise to the wire value without conversion code anywhere else.
"""

from __future__ import annotations

from enum import IntFlag, StrEnum


class Severity(StrEnum):
    """HSS `repair_necessity` / `severity` levels, ordered from least to most urgent."""

    UNKNOWN = "Unknown"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity | None:
        """Case-insensitive name (`high`, `HIGH`, `High`) → level; None when it names none.

        Rules files, CLI flags and API filters all spell levels freely; one parser keeps them agreeing.
        """
        return _SEVERITY_BY_NAME.get(text.strip().lower())

    @classmethod
    def from_score(cls, score: float | None) -> Severity:
        """CVSS base score → qualitative rating (FIRST's CVSS v3/v4 bands)."""
        if score is None:
            return cls.UNKNOWN
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.UNKNOWN


_SEVERITY_BY_NAME = {s.value.lower(): s for s in Severity}

_SEVERITY_RANK = {
    Severity.UNKNOWN: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class ScanStatus(StrEnum):
    """Per-image scan state machine (spec §5.1)."""

    WAITING = "waiting_for_scan"
    SCANNING = "scanning"
    SUCCESS = "success"
    FAILED = "failed"
    DOWNLOAD_FAILED = "download_failed"
    IMAGE_OVERSIZED = "image_oversized"
    STOPPED = "image_scan_stop"

    @property
    def is_final(self) -> bool:
        return self not in (ScanStatus.WAITING, ScanStatus.SCANNING)


#: An image's `scan_status` values (the HSS filter enum): never scanned, then the per-image states.
#: The API's `ScanStatusAll`, the console's filter and `openhss export --scan-status` are this set
#: (tests/domain/test_scan_statuses.py pins them).
IMAGE_SCAN_STATUSES: tuple[str, ...] = ("unscan", *(s.value for s in ScanStatus))
#: A job (or image) whose scan has not ended: queued or running. The executor, the scan-task use cases
#: and the console test membership in this one tuple.
ACTIVE_SCAN_STATUSES: tuple[str, ...] = (ScanStatus.WAITING.value, ScanStatus.SCANNING.value)
#: Final statuses counted as a failed scan (a user's stop is neither a success nor a failure).
FAILED_SCAN_STATUSES: tuple[str, ...] = (
    ScanStatus.FAILED.value,
    ScanStatus.DOWNLOAD_FAILED.value,
    ScanStatus.IMAGE_OVERSIZED.value,
)


class VulType(StrEnum):
    """HSS vulnerability `type`: OS package vs application package."""

    LINUX = "linux_vul"
    APP = "app_vul"
    WINDOWS = "windows_vul"
    WEB_CMS = "web_cms"
    URGENT = "urgent_vul"


class ScanScope(IntFlag):
    """`scan_scope` bitmask of CreateManualImageScanTask; each nibble group selects a scanner family."""

    VULNERABILITY = 0x000F0000
    BASELINE = 0x0000F000
    MALWARE = 0x00000F00
    SENSITIVE_INFO = 0x000000F0
    SOFTWARE_COMPLIANCE = 0x0000000F
    ALL = 0x7FFFFFFF


class Role(StrEnum):
    """What a user may do. Admin manages identity; operator starts scans and exports; read-only reads."""

    ADMIN = "admin"
    OPERATOR = "operator"
    READ_ONLY = "read-only"

    @property
    def rank(self) -> int:
        return {Role.READ_ONLY: 0, Role.OPERATOR: 1, Role.ADMIN: 2}[self]


class Ecosystem(StrEnum):
    """OSV ecosystem names (https://ossf.github.io/osv-schema/#affectedpackage-field)."""

    DEBIAN = "Debian"
    UBUNTU = "Ubuntu"
    ALPINE = "Alpine"
    REDHAT = "Red Hat"
    ROCKY = "Rocky Linux"
    ALMALINUX = "AlmaLinux"
    OPENEULER = "openEuler"
    SUSE = "SUSE"
    OPENSUSE = "openSUSE"
    WOLFI = "Wolfi"
    CHAINGUARD = "Chainguard"
    # RPM/other distributions without an OSV ecosystem of their own; matched through distro feeds
    # or their upstream's advisories. Names follow the distribution's own spelling.
    CENTOS = "CentOS"
    FEDORA = "Fedora"
    AMAZON = "Amazon Linux"
    ORACLE = "Oracle Linux"
    EULEROS = "EulerOS"
    HCE = "Huawei Cloud EulerOS"
    KYLIN = "Kylin"
    UOS = "UOS"
    PYPI = "PyPI"
    NPM = "npm"
    MAVEN = "Maven"
    GO = "Go"
    CRATES_IO = "crates.io"
    RUBYGEMS = "RubyGems"
    PACKAGIST = "Packagist"
    NUGET = "NuGet"
    UNKNOWN = ""


class PackageType(StrEnum):
    """Where a package record came from; also the purl type family and the HSS `app_type`."""

    DEB = "deb"
    RPM = "rpm"
    APK = "apk"
    PYTHON = "python"
    NPM = "npm"
    JAR = "jar"
    GOBINARY = "gobinary"
    CARGO = "cargo"
    RUSTBINARY = "rustbinary"
    GEM = "gem"
    COMPOSER = "composer"
    NUGET = "nuget"

    @property
    def is_os(self) -> bool:
        return self in (PackageType.DEB, PackageType.RPM, PackageType.APK)


class FindingKind(StrEnum):
    """Non-CVE finding families; values are the HSS `security_report_type` names where one exists."""

    SECRET = "sensitive-info"  # noqa: S105 - a report-type name, not a credential
    MALWARE = "malwares"
    BASELINE = "baseline"
    BUILD_COMMAND_RISK = "build-command-risks"
    NON_COMPLIANT_APP = "non-compliant-app"


class EntryKind(StrEnum):
    """Tar member kinds the layer walker reports; everything else (devices, fifos) is `other`."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"
