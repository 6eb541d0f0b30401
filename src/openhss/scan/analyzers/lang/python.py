"""Python packages: installed metadata (dist-info, egg-info, `.egg` zips) and, failing that, lockfiles.

Installed metadata is the truth about an image; a `requirements.txt`, `Pipfile.lock`, `poetry.lock`,
`uv.lock` or `pylock.toml` only says what someone meant to install. So lockfile packages are reported
only for a layer that holds no installed metadata (an application image that copied its lockfile but
whose site-packages were analysed elsewhere would otherwise list everything twice, maybe at other
versions). Names are PEP 503 normalised: that is how PyPI, OSV and pip compare them.
"""

from __future__ import annotations

import re
import zipfile
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any, BinaryIO, ClassVar

from packaging.requirements import InvalidRequirement, Requirement

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._common import (
    as_str,
    basename,
    dedupe,
    inside_installed_package,
    load_toml,
    make_package,
    read_json,
    read_text,
)

#: PKG-INFO/METADATA bodies hold the long description; the headers come first and are small.
_METADATA_MAX = 4 * 1024 * 1024
#: An `.egg` is a zip; only its PKG-INFO is read, and only up to this many bytes.
_EGG_MEMBER_MAX = 1024 * 1024
_EGG_ENTRIES_MAX = 100_000
_LOCKFILES = {"requirements.txt", "pipfile.lock", "poetry.lock", "uv.lock", "pylock.toml"}
#: One `endswith` rejects almost every path; the precise tests follow only for these.
_SUFFIXES = (
    "METADATA",
    "PKG-INFO",
    ".egg-info",
    ".egg",
    ".EGG-INFO",
    "requirements.txt",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pylock.toml",
)
_NORMALIZE = re.compile(r"[-_.]+")
_CLASSIFIER_PREFIX = "License :: "


def normalize_name(name: str) -> str:
    """PEP 503: runs of `-`, `_`, `.` are one `-`, case-insensitive."""
    return _NORMALIZE.sub("-", name).lower().strip()


def pypi_package(name: str, version: str, path: str, licenses: tuple[str, ...] | list[str] = ()) -> Package:
    norm = normalize_name(name)
    return make_package(norm, version, Ecosystem.PYPI, PackageType.PYTHON, path, "pypi", licenses=licenses)


def _licenses(msg: Message) -> list[str]:
    """PEP 639 `License-Expression` wins; then `License` when short (some paste the whole text there);
    then trove classifiers, whose last segment names the license."""
    expr = as_str(msg.get("License-Expression"))
    if expr:
        return [expr]
    out: list[str] = []
    lic = as_str(msg.get("License"))
    if lic and "\n" not in lic and len(lic) < 200:
        out.append(lic)
    if not out:
        for classifier in msg.get_all("Classifier") or []:
            text = str(classifier)
            if text.startswith(_CLASSIFIER_PREFIX):
                last = text.rsplit("::", 1)[-1].strip()
                if last and last != "OSI Approved":
                    out.append(last)
    return out


def parse_metadata(data: bytes, path: str) -> Package | None:
    """Core-metadata headers (RFC 822-ish; bytes so non-UTF-8 descriptions cannot derail parsing)."""
    head = data.split(b"\n\n", 1)[0]
    msg = BytesHeaderParser().parsebytes(head)
    name, version = as_str(msg.get("Name")), as_str(msg.get("Version"))
    if not name or not version:
        return None
    return pypi_package(name, version, path, _licenses(msg))


def parse_egg(content: BinaryIO, path: str) -> Package | None:
    try:
        return _parse_egg(content, path)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise ValueError(f"unreadable egg: {exc}") from exc


def _parse_egg(content: BinaryIO, path: str) -> Package | None:
    with zipfile.ZipFile(content) as zf:
        infos = zf.infolist()
        if len(infos) > _EGG_ENTRIES_MAX:
            raise ValueError(f"egg has more than {_EGG_ENTRIES_MAX} entries")
        for info in infos:
            if info.filename in ("EGG-INFO/PKG-INFO", "EGG-INFO/METADATA"):
                if info.file_size > _EGG_MEMBER_MAX:
                    raise ValueError(f"{info.filename} declares {info.file_size} bytes")
                with zf.open(info) as member:
                    return parse_metadata(member.read(_EGG_MEMBER_MAX), path)
    return None


def _strip_options(line: str) -> str:
    line = line.split("#", 1)[0]
    return re.split(r"\s--?\w", " " + line, maxsplit=1)[0].strip()


def parse_requirements(text: str, path: str) -> list[Package]:
    """Only exact pins (`==`/`===` without wildcards) say which version is installed; the rest is a range."""
    out: list[Package] = []
    logical = re.sub(r"\\\r?\n", " ", text)
    for raw in logical.splitlines():
        line = _strip_options(raw)
        if not line or line.startswith(("-", "git+", "http:", "https:", "file:")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
            continue
        out.append(pypi_package(req.name, specs[0].version, path))
    return out


def parse_pipfile_lock(doc: Any, path: str) -> list[Package]:
    out: list[Package] = []
    if not isinstance(doc, dict):
        raise ValueError("Pipfile.lock is not an object")
    for section in ("default", "develop"):
        deps = doc.get(section)
        if not isinstance(deps, dict):
            continue
        for name, spec in deps.items():
            version = as_str(spec.get("version")) if isinstance(spec, dict) else ""
            if version.startswith("=="):
                out.append(pypi_package(name, version[2:], path))
    return out


def parse_toml_packages(doc: dict[str, Any], path: str) -> list[Package]:
    """poetry.lock, uv.lock and pylock.toml all keep `[[package]]` tables with `name` and `version`
    (uv's own project is one of them, as an editable or virtual source; peers report it too)."""
    out: list[Package] = []
    pkgs = doc.get("package", doc.get("packages"))
    if not isinstance(pkgs, list):
        return out
    for pkg in pkgs:
        if not isinstance(pkg, dict):
            continue
        name, version = as_str(pkg.get("name")), as_str(pkg.get("version"))
        if name and version:
            out.append(pypi_package(name, version, path))
    return out


class PythonAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-python"
    interest: ClassVar[Interest] = Interest(suffixes=_SUFFIXES)
    version: ClassVar[int] = 2

    def __init__(self) -> None:
        self._installed = False
        self._locked: list[Package] = []

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        if not path.endswith(_SUFFIXES) or not entry.is_file:
            return False
        low = path.lower()
        if low.endswith("/metadata") or low == "metadata":
            return low[:-9].endswith("dist-info")
        if low.endswith("/pkg-info"):
            return low[:-9].endswith("egg-info")
        if low.endswith((".egg-info", ".egg")):
            return True
        return basename(low) in _LOCKFILES and not inside_installed_package(path)

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        low = entry.path.lower()
        base = basename(low)
        result = AnalysisResult()
        if base in _LOCKFILES:
            self._locked.extend(self._lockfile(base, entry.path, content))
            return result
        if low.endswith(".egg"):
            pkg = parse_egg(content, entry.path)
        else:
            pkg = parse_metadata(content.read(_METADATA_MAX), entry.path)
        if pkg is not None:
            self._installed = True
            result.packages.append(pkg)
        return result

    def _lockfile(self, base: str, path: str, content: BinaryIO) -> list[Package]:
        if base == "requirements.txt":
            return parse_requirements(read_text(content), path)
        if base == "pipfile.lock":
            return dedupe(parse_pipfile_lock(read_json(content), path))
        doc = load_toml(read_text(content))
        return dedupe(parse_toml_packages(doc, path))

    def finish(self) -> AnalysisResult:
        if self._installed:
            return AnalysisResult()
        return AnalysisResult(packages=self._locked)
