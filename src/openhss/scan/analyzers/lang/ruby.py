"""Ruby gems: installed `specifications/*.gemspec` and `Gemfile.lock`.

Installed gemspecs are Ruby code written by RubyGems; they are never evaluated, only matched with the
few line patterns RubyGems itself generates (`s.name = "rake".freeze`, `s.version = "13.0.3"`,
`s.licenses = ["MIT".freeze]`). `Gemfile.lock` lists resolved gems under `specs:` with four spaces of
indent (six spaces are their dependencies' ranges).
"""

from __future__ import annotations

import re
from typing import BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._common import (
    basename,
    dedupe,
    inside_installed_package,
    make_package,
    read_text,
)

_GEMSPEC_MAX = 1024 * 1024
_NAME = re.compile(r"""^\s*\w+\.name\s*=\s*["']([^"']+)["']""", re.M)
_VERSION = re.compile(r"""^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?["']([^"']+)["']""", re.M)
_LICENSES = re.compile(r"""^\s*\w+\.licenses?\s*=\s*\[?([^\n\]]*)""", re.M)
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_SPEC_LINE = re.compile(r"^    (\S+) \(([^)]+)\)\s*$")
_PLATFORMS = re.compile(
    r"-(x86|x64|x86_64|aarch64|arm64|arm|universal|java|mswin|mingw|darwin|linux|jruby).*$"
)


def gem(name: str, version: str, path: str, licenses: list[str] | None = None) -> Package:
    return make_package(
        name, version, Ecosystem.RUBYGEMS, PackageType.GEM, path, "gem", licenses=licenses or []
    )


def parse_gemspec(text: str, path: str) -> Package | None:
    name, version = _NAME.search(text), _VERSION.search(text)
    if not name or not version:
        return None
    licenses: list[str] = []
    lic = _LICENSES.search(text)
    if lic:
        licenses = _QUOTED.findall(lic.group(1))
    return gem(name.group(1), version.group(1), path, licenses)


def parse_gemfile_lock(text: str, path: str) -> list[Package]:
    out: list[Package] = []
    section = ""
    in_specs = False
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            in_specs = False
            continue
        if line.strip() == "specs:":
            in_specs = True
            continue
        if section == "GEM" and in_specs:
            m = _SPEC_LINE.match(line)
            if m:
                version = _PLATFORMS.sub("", m.group(2))
                out.append(gem(m.group(1), version, path))
    return dedupe(out)


class RubyAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-ruby"
    interest: ClassVar[Interest] = Interest(suffixes=(".gemspec", "Gemfile.lock"))
    version: ClassVar[int] = 2

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        if not path.endswith((".gemspec", "Gemfile.lock")) or not entry.is_file:
            return False
        if path.endswith(".gemspec"):
            return "/specifications/" in path or path.startswith("specifications/")
        return basename(path) == "Gemfile.lock" and not inside_installed_package(path)

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        if entry.path.endswith(".gemspec"):
            pkg = parse_gemspec(read_text(content, _GEMSPEC_MAX), entry.path)
            return AnalysisResult(packages=[pkg] if pkg else [])
        return AnalysisResult(packages=parse_gemfile_lock(read_text(content), entry.path))
