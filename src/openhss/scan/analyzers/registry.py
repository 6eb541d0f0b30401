"""Every analyzer, in one list. Adding an analyzer is one module plus one line here.

The list names modules, not classes, so a scan imports only the analyzers its scope enables: the
secret scanner's hyperscan/RE2 and the malware scanner's YARA cost start-up time that `openhss scan
--scanners vuln` (and the API process, which never analyzes layers) should not pay. Each line also
repeats the analyzer's `scope`, `name` and `version`, so a rescan whose layers are all in the layer cache
(keyed by those versions) imports no analyzer at all. `tests/scan/test_registry.py` checks that each line
matches its class: bumping an analyzer's version means bumping it here too. The malware analyzer's
version depends on the imported rule packs, so it is read from the class (`version=None`).
"""

from __future__ import annotations

import importlib
import threading
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
    name: str
    version: int | None

    def load(self) -> type[Analyzer]:
        module, _, name = self.target.partition(":")
        cls: type[Analyzer] = getattr(importlib.import_module(module), name)
        return cls


_PKG = "openhss.scan.analyzers"
ENTRIES: tuple[Entry, ...] = (
    Entry(f"{_PKG}.os.release:OSReleaseAnalyzer", _INVENTORY, "os-release", 1),
    Entry(f"{_PKG}.os.dpkg:DpkgAnalyzer", _INVENTORY, "dpkg", 3),
    Entry(f"{_PKG}.os.apk:ApkAnalyzer", _INVENTORY, "apk", 2),
    Entry(f"{_PKG}.os.rpm:RpmAnalyzer", _INVENTORY, "rpm", 2),
    Entry(f"{_PKG}.files:FilesAnalyzer", _INVENTORY | ScanScope.BASELINE, "files", 2),
    Entry(f"{_PKG}.lang.python:PythonAnalyzer", _INVENTORY, "lang-python", 2),
    Entry(f"{_PKG}.lang.node:NodeAnalyzer", _INVENTORY, "lang-node", 3),
    Entry(f"{_PKG}.lang.java:JavaAnalyzer", _INVENTORY, "lang-java", 2),
    Entry(f"{_PKG}.lang.golang:GoBinaryAnalyzer", _INVENTORY, "lang-gobinary", 1),
    Entry(f"{_PKG}.lang.rust:RustAnalyzer", _INVENTORY, "lang-rust", 2),
    Entry(f"{_PKG}.lang.ruby:RubyAnalyzer", _INVENTORY, "lang-ruby", 2),
    Entry(f"{_PKG}.lang.php:PhpAnalyzer", _INVENTORY, "lang-php", 2),
    Entry(f"{_PKG}.lang.dotnet:DotnetAnalyzer", _INVENTORY, "lang-dotnet", 2),
    Entry(f"{_PKG}.secrets:SecretAnalyzer", ScanScope.SENSITIVE_INFO, "secrets", 1),
    Entry(f"{_PKG}.malware:MalwareAnalyzer", ScanScope.MALWARE, "malware", None),
    Entry(f"{_PKG}.baseline_files:BaselineFileAnalyzer", ScanScope.BASELINE, "baseline-files", 1),
)


def analyzers_for(scope: ScanScope) -> list[type[Analyzer]]:
    """The analyzer classes any of whose scope bits `scope` enables, importing only those, in order."""
    return [e.load() for e in ENTRIES if e.scope & scope]


class Selection:
    """The analyzers of one scan: their cache-key versions at once, their classes only when a layer
    actually has to be read (the first cache miss), loaded once for all the scan's threads."""

    def __init__(
        self, entries: list[Entry] | None = None, classes: list[type[Analyzer]] | None = None
    ) -> None:
        self._entries = entries or []
        self._classes = classes
        self._lock = threading.Lock()
        if classes is not None:
            self.versions = {c.name: c.version for c in classes}
        else:
            self.versions = {e.name: e.version for e in self._entries if e.version is not None}
            if len(self.versions) != len(self._entries):
                self._classes = [e.load() for e in self._entries]
                self.versions = {c.name: c.version for c in self._classes}

    def classes(self) -> list[type[Analyzer]]:
        with self._lock:
            if self._classes is None:
                self._classes = [e.load() for e in self._entries]
            return self._classes


def selection_for(scope: ScanScope) -> Selection:
    return Selection(entries=[e for e in ENTRIES if e.scope & scope])


def all_analyzers() -> list[type[Analyzer]]:
    return [e.load() for e in ENTRIES]


def __getattr__(name: str) -> Any:
    """`ANALYZERS`, the full list, for callers that want every analyzer (imports them all)."""
    if name == "ANALYZERS":
        return all_analyzers()
    raise AttributeError(name)
