"""Every check module is registered, and every analyzer/check declares the scope bit of its family."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import openhss.scan.checks as checks_pkg
from openhss.domain.enums import ScanScope
from openhss.scan.analyzers.baseline_files import BaselineFileAnalyzer
from openhss.scan.analyzers.malware import MalwareAnalyzer
from openhss.scan.analyzers.secrets import SecretAnalyzer
from openhss.scan.checks.base import Check
from openhss.scan.checks.registry import CHECKS


def test_every_check_class_is_registered() -> None:
    defined: set[type[Check]] = set()
    for mod in pkgutil.iter_modules(checks_pkg.__path__):
        module = importlib.import_module(f"{checks_pkg.__name__}.{mod.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Check) and obj is not Check and obj.__module__ == module.__name__:
                defined.add(obj)
    assert defined == set(CHECKS)
    assert len({c.id for c in CHECKS}) == len(CHECKS)


def test_scopes() -> None:
    assert SecretAnalyzer.scope is ScanScope.SENSITIVE_INFO
    assert MalwareAnalyzer.scope is ScanScope.MALWARE
    assert BaselineFileAnalyzer.scope is ScanScope.BASELINE
    scopes = {c.id: c.scope for c in CHECKS}
    assert scopes == {
        "image-config": ScanScope.BASELINE,
        "build-commands": ScanScope.BASELINE,
        "software-compliance": ScanScope.SOFTWARE_COMPLIANCE,
    }


def test_check_registry_scopes_match_the_classes() -> None:
    """The registry names scopes without importing; they must be the classes' own."""
    from openhss.scan.checks.registry import ENTRIES

    for entry in ENTRIES:
        assert entry.scope == entry.load().scope, entry.target
