"""Node packages: installed `node_modules/**/package.json`, and the lockfiles npm, yarn and pnpm write.

What `node_modules` holds is what runs, so for a project directory whose `node_modules` is in the same
layer, its lockfile adds nothing and is not reported (it would double every package). Lockfiles of
projects shipped without `node_modules` are reported: they are what `npm ci` would install.
Local links (`file:`, `link:`, `workspace:`, git and tarball URLs without a registry version) are not
registry packages and are left out, as npm's own audit does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, ClassVar

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest
from openhss.scan.analyzers.lang._common import (
    as_str,
    basename,
    dedupe,
    dirname,
    inside_installed_package,
    load_yaml_all,
    make_package,
    read_json,
    read_text,
)

_PACKAGE_JSON_MAX = 4 * 1024 * 1024
_LOCKFILES = {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"}
_SUFFIXES = ("/package.json", *_LOCKFILES)
_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$")
_NODE_MODULES = "node_modules/"


def npm_package(name: str, version: str, path: str, licenses: list[str] | tuple[str, ...] = ()) -> Package:
    namespace, _, short = name.rpartition("/")
    return make_package(
        name,
        version,
        Ecosystem.NPM,
        PackageType.NPM,
        path,
        "npm",
        namespace=namespace or None,
        purl_name=short,
        licenses=licenses,
    )


def _license_values(doc: dict[str, Any]) -> list[str]:
    """`license` is SPDX nowadays; old packages use `{type: ...}` or a `licenses` array of either."""
    out: list[str] = []
    for key in ("license", "licenses"):
        value = doc.get(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("type"), str):
                out.append(item["type"])
    return out


def parse_package_json(doc: Any, path: str) -> Package | None:
    if not isinstance(doc, dict):
        raise ValueError("package.json is not an object")
    name, version = as_str(doc.get("name")), as_str(doc.get("version"))
    if not name or not version:
        return None
    return npm_package(name, version, path, _license_values(doc))


def _name_from_key(key: str) -> str:
    idx = key.rfind(_NODE_MODULES)
    return key[idx + len(_NODE_MODULES) :] if idx >= 0 else ""


def parse_package_lock(doc: Any, path: str) -> list[Package]:
    """v2/v3 keep a flat `packages` map keyed by install path; v1 a nested `dependencies` tree."""
    if not isinstance(doc, dict):
        raise ValueError("package-lock.json is not an object")
    out: list[Package] = []
    packages = doc.get("packages")
    if isinstance(packages, dict) and packages:
        for key, meta in packages.items():
            if not key or not isinstance(meta, dict) or meta.get("link"):
                continue
            # Workspace members live outside node_modules; their directory names them when the
            # entry does not.
            name = _name_from_key(key) or as_str(meta.get("name")) or key.rsplit("/", 1)[-1]
            version = as_str(meta.get("version"))
            if name and _SEMVER.match(version):
                out.append(npm_package(name, version, path, _license_values(meta)))
        return dedupe(out)
    stack: list[Any] = [doc.get("dependencies")]
    while stack:
        deps = stack.pop()
        if not isinstance(deps, dict):
            continue
        for name, meta in deps.items():
            if not isinstance(meta, dict):
                continue
            version = as_str(meta.get("version"))
            if _SEMVER.match(version):
                out.append(npm_package(name, version, path))
            stack.append(meta.get("dependencies"))
    return dedupe(out)


def _yarn_name(spec: str) -> str:
    """`"@scope/name@npm:^1.0.0"` or `name@^1.0.0` → the package name."""
    spec = spec.strip().strip('"')
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


def _yarn_local(spec: str) -> bool:
    return any(p in spec for p in ("@file:", "@link:", "@portal:", "@workspace:", "@patch:", "@exec:"))


def parse_yarn_v1(text: str, path: str) -> list[Package]:
    out: list[Package] = []
    header = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            header = line.rstrip(":")
            continue
        stripped = line.strip()
        if header and stripped.startswith(("version ", '"version" ')):
            version = stripped.split(None, 1)[1].strip().strip('"')
            first = header.split(",")[0]
            if not _yarn_local(first) and _SEMVER.match(version):
                out.append(npm_package(_yarn_name(first), version, path))
            header = ""
    return dedupe(out)


def parse_yarn_berry(doc: Any, path: str) -> list[Package]:
    out: list[Package] = []
    if not isinstance(doc, dict):
        raise ValueError("yarn.lock is not a mapping")
    for key, meta in doc.items():
        if key == "__metadata" or not isinstance(meta, dict):
            continue
        resolution = as_str(meta.get("resolution")) or str(key).split(",")[0]
        if _yarn_local(resolution):
            continue
        version = as_str(str(meta.get("version", "")))
        if _SEMVER.match(version):
            out.append(npm_package(_yarn_name(resolution), version, path))
    return dedupe(out)


def parse_yarn(text: str, path: str) -> list[Package]:
    if "__metadata:" in text:
        docs = list(load_yaml_all(text))
        return parse_yarn_berry(docs[0] if docs else None, path)
    return parse_yarn_v1(text, path)


_PEER_SUFFIX = re.compile(r"\(.*$")


def _pnpm_key(key: str, v5: bool) -> tuple[str, str]:
    """`/name/1.0.0_peer` (v5), `/name@1.0.0(peer)` (v6), `name@1.0.0(peer)` (v9) → (name, version)."""
    key = _PEER_SUFFIX.sub("", key.lstrip("/"))
    if v5:
        name, _, version = key.rpartition("/")
        return name, version.split("_", 1)[0]
    at = key.rfind("@")
    return (key[:at], key[at + 1 :]) if at > 0 else ("", "")


def parse_pnpm(text: str, path: str) -> list[Package]:
    out: list[Package] = []
    for doc in load_yaml_all(text):
        if not isinstance(doc, dict) or "lockfileVersion" not in doc:
            continue
        lock_version = str(doc.get("lockfileVersion", ""))
        v5 = lock_version.startswith("5") or lock_version.startswith("4")
        packages = doc.get("packages")
        if not isinstance(packages, dict):
            continue
        for key, meta in packages.items():
            meta = meta if isinstance(meta, dict) else {}
            name, version = _pnpm_key(str(key), v5)
            # Tarball and git dependencies carry their real name and version in the entry.
            name = as_str(meta.get("name")) or name
            version = as_str(str(meta.get("version", ""))) or version
            if name and _SEMVER.match(version):
                out.append(npm_package(name, version, path))
    return dedupe(out)


#: Distribution-managed module roots (Debian's node-* packages install here, not in node_modules).
_SYSTEM_ROOTS = ("usr/share/nodejs/", "usr/lib/nodejs/")


def _installed_manifest(path: str) -> bool:
    """`node_modules/<name>/package.json` or `node_modules/@scope/<name>/package.json` only (or the
    same under a system module root): packages ship test fixtures and examples with package.json files
    of their own, which are not installed."""
    idx = path.rfind(_NODE_MODULES)
    if idx < 0:
        root = next((r for r in _SYSTEM_ROOTS if path.startswith(r)), None)
        if root is None:
            return False
        rest = path[len(root) :].split("/")
    elif idx > 0 and path[idx - 1] != "/":
        return False
    else:
        rest = path[idx + len(_NODE_MODULES) :].split("/")
    if len(rest) == 2:
        return not rest[0].startswith((".", "@"))
    return len(rest) == 3 and rest[0].startswith("@")


def _project_dir(path: str) -> str:
    idx = path.find(_NODE_MODULES)
    if idx == 0:
        return ""
    return path[: idx - 1] if idx > 0 else dirname(path)


class NodeAnalyzer(Analyzer):
    name: ClassVar[str] = "lang-node"
    interest: ClassVar[Interest] = Interest(suffixes=_SUFFIXES)
    version: ClassVar[int] = 3

    def __init__(self) -> None:
        self._installed_roots: set[str] = set()
        self._locked: list[Package] = []

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        if not path.endswith(_SUFFIXES) or not entry.is_file:
            return False
        if path.endswith("/package.json"):
            return _installed_manifest(path)
        # A lockfile inside node_modules (or any other installed package) came with a published
        # package: it was not what got installed.
        return basename(path) in _LOCKFILES and not inside_installed_package(path)

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        base = basename(entry.path)
        result = AnalysisResult()
        if base == "package.json":
            pkg = parse_package_json(read_json(content, _PACKAGE_JSON_MAX), entry.path)
            if pkg is not None:
                self._installed_roots.add(_project_dir(entry.path))
                result.packages.append(pkg)
            return result
        self._locked.extend(self._lockfile(base, entry.path, content))
        return result

    @staticmethod
    def _lockfile(base: str, path: str, content: BinaryIO) -> Iterator[Package]:
        if base in ("package-lock.json", "npm-shrinkwrap.json"):
            yield from parse_package_lock(read_json(content), path)
        elif base == "yarn.lock":
            yield from parse_yarn(read_text(content), path)
        else:
            yield from parse_pnpm(read_text(content), path)

    def finish(self) -> AnalysisResult:
        kept = [p for p in self._locked if dirname(p.path) not in self._installed_roots]
        return AnalysisResult(packages=kept)
