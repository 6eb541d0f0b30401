"""Every image-level check, in one list. Adding a check is one module plus one line here.

Like the analyzer registry, the list names modules with the scope that enables them, so a scan imports
only the checks it runs (the compliance check's licence parser and the build-command check's secret
engine cost start-up time a vulnerability-only scan should not pay). `tests/detectors/test_registry.py`
checks that each line's scope is the class's own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openhss.domain.enums import ScanScope

if TYPE_CHECKING:
    from openhss.scan.checks.base import Check


@dataclass(frozen=True, slots=True)
class Entry:
    target: str
    scope: ScanScope

    def load(self) -> type[Check]:
        module, _, name = self.target.partition(":")
        cls: type[Check] = getattr(importlib.import_module(module), name)
        return cls


ENTRIES: tuple[Entry, ...] = (
    Entry("openhss.scan.checks.image_config:ImageConfigCheck", ScanScope.BASELINE),
    Entry("openhss.scan.checks.build_commands:BuildCommandCheck", ScanScope.BASELINE),
    Entry("openhss.scan.checks.compliance:ComplianceCheck", ScanScope.SOFTWARE_COMPLIANCE),
)


def checks_for(scope: ScanScope) -> list[type[Check]]:
    """The check classes `scope` enables, importing only those, in order."""
    return [e.load() for e in ENTRIES if e.scope & scope]


def __getattr__(name: str) -> Any:
    """`CHECKS`, every check class (imports them all)."""
    if name == "CHECKS":
        return [e.load() for e in ENTRIES]
    raise AttributeError(name)
