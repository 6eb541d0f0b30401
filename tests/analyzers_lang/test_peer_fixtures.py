"""Golden tests on the peer scanners' own fixtures (../shared/data/fixtures, via `shared_dir`).

Each fixture is placed into a layer where a real image would hold it (a lockfile under its canonical
name, metadata inside a `site-packages`, a jar as is) and the layer goes through the real walker and
applier. Every package Trivy/Syft assert must come out with the exact version. Parsers that are not
part of this analyzer set (gradle, sbt, bun, NuGet `packages.config`/props, PEAR, setup.py) are skipped
with that reason; so are fixtures the peers assert on but that were not staged (too large).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openhss.domain.enums import PackageType
from openhss.domain.models import Package

from .helpers import scan_files, tree_files

FIX = "data/fixtures"
GOLDEN = Path(__file__).parent / "golden"
SITE = "usr/lib/python3/site-packages"

Placement = Callable[[Path], list[tuple[str, Path | bytes, int]]]


def _as(name: str, mode: int = 0o644) -> Placement:
    return lambda src: [(name, src, mode)]


def _keep(prefix: str, mode: int = 0o644) -> Placement:
    def place(src: Path) -> list[tuple[str, Path | bytes, int]]:
        if src.is_dir():
            return tree_files(src, f"{prefix}/{src.name}")
        return [(f"{prefix}/{src.name}", src, mode)]

    return place


def _python_metadata(src: Path) -> list[tuple[str, Path | bytes, int]]:
    if src.is_dir():
        return tree_files(src, f"{SITE}/{src.name}")
    if src.name.endswith(".egg-info"):
        return [(f"{SITE}/{src.name}", src, 0o644)]
    if "PKG-INFO" in src.name:
        return [(f"{SITE}/pkg.egg-info/PKG-INFO", src, 0o644)]
    return [(f"{SITE}/pkg.dist-info/METADATA", src, 0o644)]


def _gemspec(src: Path) -> list[tuple[str, Path | bytes, int]]:
    return [(f"usr/local/bundle/specifications/{src.name}", src, 0o644)]


def _deps_json(src: Path) -> list[tuple[str, Path | bytes, int]]:
    name = src.name if src.name.endswith(".deps.json") else "app.deps.json"
    return [(f"app/{name}", src, 0o644)]


# EXPECTED.json directory → how to place its fixtures, or why it is skipped.
PLACEMENT: dict[str, Placement | str] = {
    "python/syft/python": _keep(SITE),
    "python/trivy/analyzer-python-packaging": _keep(SITE),
    "python/trivy/python/packaging": _python_metadata,
    "python/trivy/python/pip": _as("app/requirements.txt"),
    "python/trivy/python/pipenv": _as("app/Pipfile.lock"),
    "python/trivy/python/poetry": _as("app/poetry.lock"),
    "python/trivy/python/uv": _as("app/uv.lock"),
    "python/trivy/python/pylock": _as("app/pylock.toml"),
    "python/trivy/python/pyproject": "pyproject.toml declares ranges, not installed versions",
    "npm/syft/javascript": _keep("app"),
    "npm/trivy/nodejs/npm": _as("app/package-lock.json"),
    "npm/trivy/nodejs/yarn": _as("app/yarn.lock"),
    "npm/trivy/nodejs/pnpm": _as("app/pnpm-lock.yaml"),
    "npm/trivy/nodejs/packagejson": _as("app/node_modules/pkg/package.json"),
    "npm/trivy/nodejs/bun": "bun.lock is not in this analyzer set",
    "java/trivy/java/jar": _keep("app"),
    "java/trivy/gradle/lockfile": "gradle lockfiles are not in this analyzer set",
    "java/trivy/sbt/lockfile": "sbt lockfiles are not in this analyzer set",
    "go/trivy/golang/mod": "go.mod/go.sum are not read: Go binaries' buildinfo is the inventory",
    "go/trivy/golang/sum": "go.mod/go.sum are not read: Go binaries' buildinfo is the inventory",
    "rust/syft/rust": _keep("app"),
    "rust/trivy/rust/cargo": _as("app/Cargo.lock"),
    "ruby/syft/ruby": _keep("app"),
    "ruby/trivy/ruby/bundler": _as("app/Gemfile.lock"),
    "ruby/trivy/ruby/gemspec": _gemspec,
    "php/syft/php": _keep("app"),
    "php/trivy/php/composer": _as("app/composer.lock"),
    "dotnet/trivy/dotnet/core_deps": _deps_json,
    "dotnet/trivy/nuget/lock": _as("app/packages.lock.json"),
    "dotnet/trivy/nuget/config": "NuGet packages.config is not in this analyzer set",
    "dotnet/trivy/nuget/packagesprops": "NuGet *.props declare ranges, not resolved versions",
}

# Cases whose expectation rests on a peer option or database we do not share (by directory and case
# name, or fixture when the case has no name); the reason is reported with the counts.
_JAVA_DB = "needs Trivy's Maven index database (sha1/artifactId lookup); offline the manifest case applies"
CASE_SKIPS: dict[tuple[str, str], str] = {
    ("java/trivy/java/jar", "sha1 search"): _JAVA_DB,
    ("java/trivy/java/jar", "artifactId search"): _JAVA_DB,
    ("java/trivy/java/jar", "offline"): "Trivy invents coordinates from the manifest's display name "
    "(`org.springframework:Spring Framework`); openhss reports an unidentified jar with its sha1",
    ("java/trivy/java/jar", "jenkins plugin manifest license"): "a manifest-only jar: Implementation-Title "
    "is a display name by Maven's convention, not an artifactId; openhss reports it unidentified",
    (
        "python/trivy/python/pip",
        "testdata/requirements_compatible.txt",
    ): "Trivy's opt-in 'use minimum version' mode turns >= and ~= ranges into versions; a range is not a pin",
    (
        "php/syft/php",
        "testdata/memcached-v6-format.reg",
    ): "PEAR registry files are not in this analyzer set",
    (
        "php/syft/php",
        "testdata/memcached-v5-format.reg",
    ): "PEAR registry files are not in this analyzer set",
}

_PEP503 = re.compile(r"[-_.]+")


def _norm(eco_dir: str, name: str) -> str:
    return _PEP503.sub("-", name).lower() if eco_dir.startswith("python") else name


def _params() -> list[Any]:
    out: list[Any] = []
    for rel in PLACEMENT:
        out.append(pytest.param(rel, id=rel))
    return out


def _pkg_json(p: Package) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "ecosystem": p.ecosystem.value,
        "type": p.type.value,
        "purl": p.purl,
        "path": p.path,
        "licenses": list(p.licenses),
    }


def _check_golden(rel: str, output: dict[str, list[dict[str, Any]]], update: bool) -> None:
    """Our complete output per fixture (purls, licenses, paths, extras beyond the peers' assertions)."""
    golden = GOLDEN / (rel.replace("/", "-") + ".json")
    text = json.dumps(output, indent=1, sort_keys=True) + "\n"
    if update or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert json.loads(golden.read_text()) == output, f"{golden} differs; --update-golden after review"


@pytest.mark.parametrize("rel", _params())
def test_peer_fixture(shared_dir: Path, rel: str, update_golden: bool) -> None:
    how = PLACEMENT[rel]
    if isinstance(how, str):
        pytest.skip(how)
    base = shared_dir / FIX / rel
    doc = json.loads((base / "EXPECTED.json").read_text())
    checked = 0
    missing: list[str] = []
    skipped: list[str] = []
    output: dict[str, list[dict[str, Any]]] = {}
    for case in doc["cases"]:
        fixture = case["fixture"]
        if not case.get("fixture_present"):
            skipped.append(f"{fixture}: not staged")
            continue
        reason = CASE_SKIPS.get((rel, case.get("case") or "")) or CASE_SKIPS.get((rel, fixture))
        if reason:
            skipped.append(f"{fixture}: {reason}")
            continue
        src = base / fixture
        packages, _ = scan_files(how(src))
        found = {(_norm(rel, p.name), p.version) for p in packages}
        for exp in case.get("expected_packages") or []:
            if not exp.get("Name") or not exp.get("Version"):
                continue
            key = (_norm(rel, exp["Name"]), exp["Version"])
            checked += 1
            if key not in found:
                missing.append(f"{fixture}: {key[0]}@{key[1]}")
        _assert_sane(packages)
        output[fixture] = sorted(
            (_pkg_json(p) for p in packages), key=lambda d: json.dumps(d, sort_keys=True)
        )
    print(f"{rel}: {checked} expected packages checked, {len(missing)} missing, skipped: {skipped}")
    assert not missing, "\n".join(missing)
    _check_golden(rel, output, update_golden)


def _assert_sane(packages: list[Package]) -> None:
    for p in packages:
        assert p.name and p.version and p.purl.startswith("pkg:"), p
        # An unidentified jar has no ecosystem on purpose: nothing may be matched against it.
        assert p.ecosystem.value or (p.type is PackageType.JAR and "checksum=sha1:" in p.purl), p
