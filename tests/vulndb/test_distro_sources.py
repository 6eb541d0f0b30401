from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import openhss.scan.matcher as matcher_pkg
import openhss.vulndb.enrichment as enrichment_pkg
import openhss.vulndb.sources as sources_pkg
from openhss.domain.advisory import AffectedStatus
from openhss.domain.enums import Ecosystem, Severity
from openhss.scan.matcher.base import Matcher
from openhss.scan.matcher.registry import MATCHERS
from openhss.services.vulndb import VulnDbService
from openhss.vulndb.enrichment.base import EnrichmentSource
from openhss.vulndb.enrichment.registry import ENRICHMENT_SOURCES
from openhss.vulndb.sources.base import AdvisorySource
from openhss.vulndb.sources.registry import SOURCES

TRACKER = {
    "openssl": {
        "CVE-2023-0001": {"description": "fixed by a backport", "releases": {
            "bookworm": {"status": "resolved", "fixed_version": "3.0.11-1~deb12u1", "urgency": "medium"},
            "bullseye": {"status": "open", "urgency": "low", "nodsa": "Minor", "nodsa_reason": "postponed"},
        }},
        "CVE-2023-0002": {"description": "never shipped", "releases": {
            "bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"},
        }},
        "CVE-2023-0003": {"releases": {"bookworm": {"status": "open", "urgency": "not yet assigned"}}},
        "CVE-2023-0004": {"releases": {
            "bookworm": {"status": "open", "urgency": "low", "nodsa": "x", "nodsa_reason": "ignored"},
        }},
    }
}  # fmt: skip


def write_tracker(path: Path) -> Path:
    path.write_text(json.dumps(TRACKER))
    return path


def test_every_source_and_matcher_module_is_registered() -> None:
    registered = {type(s) for s in SOURCES}
    for info in pkgutil.iter_modules(sources_pkg.__path__):
        module = importlib.import_module(f"{sources_pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, AdvisorySource) and not inspect.isabstract(obj):
                assert obj in registered, f"{obj.__name__} is not in vulndb/sources/registry.py"
    enrichers = {type(e) for e in ENRICHMENT_SOURCES}
    for info in pkgutil.iter_modules(enrichment_pkg.__path__):
        module = importlib.import_module(f"{enrichment_pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, EnrichmentSource) and not inspect.isabstract(obj):
                assert obj in enrichers, f"{obj.__name__} is not in vulndb/enrichment/registry.py"
    matchers = {type(m) for m in MATCHERS}
    for info in pkgutil.iter_modules(matcher_pkg.__path__):
        module = importlib.import_module(f"{matcher_pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Matcher) and obj is not Matcher:
                assert obj in matchers, f"{obj.__name__} is not in scan/matcher/registry.py"


def test_debian_tracker_verdicts(tmp_path: Path) -> None:
    svc = VulnDbService(tmp_path / "db")
    report = svc.import_paths([write_tracker(tmp_path / "tracker.json")])
    assert report.counts == {"debian-tracker": 5}
    idx = svc.open_index()
    recs = {r.advisory_id: r for r in idx.lookup(Ecosystem.DEBIAN, "12", "openssl")}
    assert recs["CVE-2023-0001"].status is AffectedStatus.FIXED
    assert recs["CVE-2023-0001"].fixed_versions == ("3.0.11-1~deb12u1",)
    assert recs["CVE-2023-0001"].severity is Severity.MEDIUM
    assert recs["CVE-2023-0002"].status is AffectedStatus.NOT_AFFECTED and recs["CVE-2023-0002"].reason
    assert recs["CVE-2023-0003"].status is AffectedStatus.UNFIXED
    assert recs["CVE-2023-0004"].status is AffectedStatus.WONT_FIX
    (old,) = idx.lookup(Ecosystem.DEBIAN, "11", "openssl")
    assert old.status is AffectedStatus.UNFIXED and old.reason == "no-dsa: postponed"


def test_alpine_secdb_from_shared_data(shared_dir: Path, tmp_path: Path) -> None:
    main = shared_dir / "data/alpine/secdb/v3.10/main.json"
    doc = json.loads(main.read_text())
    pkg = next(p["pkg"] for p in doc["packages"] if p["pkg"].get("secfixes"))
    fixed, ids = next(iter(pkg["secfixes"].items()))
    svc = VulnDbService(tmp_path / "db")
    report = svc.import_paths([main])
    assert list(report.counts) == ["alpine:v3.10/main"] and (report.counts["alpine:v3.10/main"] or 0) > 100
    recs = svc.open_index().lookup(Ecosystem.ALPINE, "3.10", pkg["name"])
    cve = ids[0].split()[0]
    match = [r for r in recs if r.advisory_id == cve]
    assert match and (match[0].fixed_versions == (fixed,) or match[0].status is AffectedStatus.NOT_AFFECTED)
