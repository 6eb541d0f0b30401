"""Value objects that flow from the analyzers through the matcher to storage.

Frozen dataclasses with slots: inventories hold hundreds of thousands of these, so they must be
small and hashable, and nothing downstream may mutate what an analyzer reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Severity


@dataclass(frozen=True, slots=True)
class OSInfo:
    """Distribution identity; `family` is the os-release ID (`debian`, `alpine`, `rhel`, ...)."""

    family: str
    version: str
    name: str = ""
    codename: str = ""


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package.

    `version` is the full string in the ecosystem's own scheme, so the matcher compares it as-is:
    dpkg `[epoch:]upstream[-revision]`, rpm `[epoch:]version-release`, apk `version-rN`, PEP 440, semver...
    `source_name`/`source_version` matter for OS packages: distro advisories are keyed by source package.
    `path` is the file the record was read from and `layer_digest` the diff_id of the layer that
    introduced it, so every finding can point at evidence.
    """

    name: str
    version: str
    ecosystem: Ecosystem
    type: PackageType
    purl: str = ""
    path: str = ""
    layer_digest: str = ""
    licenses: tuple[str, ...] = ()
    source_name: str = ""
    source_version: str = ""
    arch: str = ""
    dependencies: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity used when layers are folded: the same package at the same place is one package."""
        return (self.type.value, self.name, self.path, self.arch)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file worth listing in the HSS `files` report (executables, setuid/setgid, world-writable)."""

    path: str
    size: int
    mode: int
    uid: int
    gid: int
    file_type: str
    sha256: str = ""
    layer_digest: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """A non-CVE finding: secret, malware hit, baseline failure, build-command risk, compliance breach.

    `rule_id` is stable across releases (users whitelist and filter by it); `evidence` is already
    masked for secrets: the raw secret never leaves the analyzer.
    """

    kind: FindingKind
    rule_id: str
    severity: Severity
    title: str
    path: str = ""
    layer_digest: str = ""
    line: int = 0
    evidence: str = ""
    remediation: str = ""
    #: Files this finding stands for when repeated findings of one rule in one directory were grouped
    #: (`path` is then the directory); `examples` holds a few of their paths.
    count: int = 1
    examples: tuple[str, ...] = ()
