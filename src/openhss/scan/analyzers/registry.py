"""Every analyzer, in one list. Adding an analyzer is one module plus one line here.

The list names modules, not classes, so a scan imports only the analyzers its scope enables: the
secret scanner's hyperscan/RE2 and the malware scanner's YARA cost start-up time that `openhss scan
--scanners vuln` (and the API process, which never analyzes layers) should not pay. Each line repeats the
analyzer's `scope`; `tests/scan/test_registry.py` checks that it matches the class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openhss.domain.enums import ScanScope

if TYPE_CHECKING:
    from openhss.scan.analyzers.base import Analyzer

_INVENTORY = ScanScope.VULNERABILITY


@dataclass(frozen=True, slots=True)
class Entry:
    """`module:Class` of one analyzer and the scan scope bits that enable it."""

    target: str
    scope: ScanScope

    def load(self) -> type[Analyzer]:
        module, _, name = self.target.partition(":")
        cls: type[Analyzer] = getattr(importlib.import_module(module), name)
        return cls


_PKG = "openhss.scan.analyzers"
ENTRIES: tuple[Entry, ...] = (
    Entry(f"{_PKG}.os.release:OSReleaseAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.os.dpkg:DpkgAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.os.apk:ApkAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.os.rpm:RpmAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.files:FilesAnalyzer", _INVENTORY | ScanScope.BASELINE),
    Entry(f"{_PKG}.lang.python:PythonAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.node:NodeAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.java:JavaAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.golang:GoBinaryAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.rust:RustAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.ruby:RubyAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.php:PhpAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.lang.dotnet:DotnetAnalyzer", _INVENTORY),
    Entry(f"{_PKG}.secrets:SecretAnalyzer", ScanScope.SENSITIVE_INFO),
    Entry(f"{_PKG}.malware:MalwareAnalyzer", ScanScope.MALWARE),
    Entry(f"{_PKG}.baseline_files:BaselineFileAnalyzer", ScanScope.BASELINE),
)


def analyzers_for(scope: ScanScope) -> list[type[Analyzer]]:
    """The analyzer classes any of whose scope bits `scope` enables, importing only those, in order."""
    return [e.load() for e in ENTRIES if e.scope & scope]


def all_analyzers() -> list[type[Analyzer]]:
    return [e.load() for e in ENTRIES]


def __getattr__(name: str) -> Any:
    """`ANALYZERS`, the full list, for callers that want every analyzer (imports them all)."""
    if name == "ANALYZERS":
        return all_analyzers()
    raise AttributeError(name)
