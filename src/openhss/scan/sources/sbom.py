"""`sbom:FILE`: an inventory read from a CycloneDX 1.x or SPDX 2.3 JSON SBOM instead of image layers.

The packages are matched exactly like an image's, so an SBOM that openhss wrote for an image gives the
same findings as scanning the image: openhss's own documents carry every field matching reads
(ecosystem, path, source package and version, OS ownership) as `openhss:*` properties (CycloneDX) or
in the package comment and `sourceInfo` (SPDX). Other tools' SBOMs (Syft, Trivy) are read from their
purls: the purl type gives the package type and ecosystem, deb/rpm/apk qualifiers the epoch, the
distro and (Syft's `upstream=`, Trivy's `aquasecurity:trivy:Src*` properties) the source package. The
OS comes from an `operating-system` component (CycloneDX) / `OPERATING-SYSTEM` package (SPDX), else
from a purl's `distro` qualifier.

The file is hostile input like an image: its size is bounded and malformed content is a one-line error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from openhss.domain.enums import Ecosystem, PackageType
from openhss.domain.models import OSInfo, Package
from openhss.domain.report import ImageSummary
from openhss.scan.analyzers.os.restamp import restamp_os_packages
from openhss.scan.applier import Inventory
from openhss.scan.errors import CorruptImage, ImageNotFound

SBOM_MAX = 256 * 1024 * 1024
#: purl type → (package type, ecosystem); OS types get their ecosystem from the OS (restamp).
_PURL_TYPES: dict[str, tuple[PackageType, Ecosystem]] = {
    "deb": (PackageType.DEB, Ecosystem.DEBIAN),
    "rpm": (PackageType.RPM, Ecosystem.REDHAT),
    "apk": (PackageType.APK, Ecosystem.ALPINE),
    "pypi": (PackageType.PYTHON, Ecosystem.PYPI),
    "npm": (PackageType.NPM, Ecosystem.NPM),
    "maven": (PackageType.JAR, Ecosystem.MAVEN),
    "golang": (PackageType.GOBINARY, Ecosystem.GO),
    "cargo": (PackageType.CARGO, Ecosystem.CRATES_IO),
    "gem": (PackageType.GEM, Ecosystem.RUBYGEMS),
    "composer": (PackageType.COMPOSER, Ecosystem.PACKAGIST),
    "nuget": (PackageType.NUGET, Ecosystem.NUGET),
}
_ECOSYSTEMS = {e.value: e for e in Ecosystem}
_TYPES = {t.value: t for t in PackageType}
_OS_COMMENT = re.compile(r"(?:^|; )os (\S+) (\S+)")
_PATH_COMMENT = re.compile(r"^path (.*?); layer (\S*)(?:; owner (\S+))?$")
_SOURCE_INFO = re.compile(r"^built from source package (\S+)(?: (\S+))?$")
_DISTRO = re.compile(r"^([a-z][a-z-]*?)-(\d[\w.]*)$")


@dataclass(slots=True)
class SbomInventory:
    image: ImageSummary
    inventory: Inventory


def read_sbom(path: Path, ref: str) -> SbomInventory:
    try:
        with path.open("rb") as f:
            data = f.read(SBOM_MAX + 1)
    except FileNotFoundError:
        raise ImageNotFound(f"no SBOM file at {path}") from None
    if len(data) > SBOM_MAX:
        raise CorruptImage(f"{path}: larger than {SBOM_MAX} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise CorruptImage(f"{path}: not a JSON SBOM ({str(exc)[:120]})") from None
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        os_info, packages, digest, platform = _cyclonedx(doc)
    elif isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-2"):
        os_info, packages, digest, platform = _spdx(doc)
    else:
        raise CorruptImage(f"{path}: neither a CycloneDX nor an SPDX 2.x JSON document")
    if os_info is None:
        os_info = _os_from_purls(packages)
    if os_info is not None:
        packages = restamp_os_packages(packages, os_info)
    os_name, _, arch = platform.partition("/")
    image = ImageSummary(ref, "sbom", digest, "", os_name or "linux", arch)
    return SbomInventory(image, Inventory(os=os_info, packages=packages))


# --- CycloneDX ------------------------------------------------------------------------------------------


def _walk(components: Any) -> Iterator[dict[str, Any]]:
    stack = [components] if isinstance(components, list) else []
    while stack:
        for comp in stack.pop():
            if isinstance(comp, dict):
                yield comp
                if isinstance(comp.get("components"), list):
                    stack.append(comp["components"])


def _props(item: dict[str, Any]) -> dict[str, str]:
    raw = item.get("properties")
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for p in raw:
            if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("value"), str):
                out.setdefault(p["name"], p["value"])
    return out


def _cyclonedx(doc: dict[str, Any]) -> tuple[OSInfo | None, list[Package], str, str]:
    meta = doc.get("metadata")
    root: dict[str, Any] = {}
    if isinstance(meta, dict) and isinstance(meta.get("component"), dict):
        root = meta["component"]
    root_props = _props(root)
    os_info = _os_text(root_props.get("openhss:os", ""))
    digest = str(root.get("version", "")) if str(root.get("version", "")).startswith("sha256:") else ""
    packages: list[Package] = []
    for comp in _walk(doc.get("components")):
        if comp.get("type") == "operating-system":
            os_info = os_info or _os(str(comp.get("name", "")), str(comp.get("version", "")))
            continue
        props = _props(comp)
        pkg = _package(
            str(comp.get("name", "")), str(comp.get("version", "")), str(comp.get("purl", "")), props
        )
        if pkg is not None:
            packages.append(pkg)
    return os_info, packages, digest, root_props.get("openhss:platform", "")


# --- SPDX -----------------------------------------------------------------------------------------------


def _spdx(doc: dict[str, Any]) -> tuple[OSInfo | None, list[Package], str, str]:
    os_info: OSInfo | None = None
    digest = platform = ""
    packages: list[Package] = []
    for item in doc.get("packages") or []:
        if not isinstance(item, dict):
            continue
        purpose = item.get("primaryPackagePurpose")
        comment = str(item.get("comment", ""))
        if purpose == "CONTAINER":
            m = _OS_COMMENT.search(comment)
            os_info = os_info or (_os(m.group(1), m.group(2)) if m else None)
            platform = (
                comment.removeprefix("platform ").split(";", 1)[0] if comment.startswith("platform ") else ""
            )
            version = str(item.get("versionInfo", ""))
            digest = version if version.startswith("sha256:") else ""
            continue
        if purpose == "OPERATING-SYSTEM":
            os_info = os_info or _os(str(item.get("name", "")), str(item.get("versionInfo", "")))
            continue
        purl = next(
            (
                str(r.get("referenceLocator", ""))
                for r in item.get("externalRefs") or []
                if isinstance(r, dict) and r.get("referenceType") == "purl"
            ),
            "",
        )
        props: dict[str, str] = {}
        m = _PATH_COMMENT.match(comment)
        if m:
            props["openhss:path"], props["openhss:layer_digest"] = m.group(1), m.group(2)
            if m.group(3):
                props["openhss:owner"] = m.group(3)
        src = _SOURCE_INFO.match(str(item.get("sourceInfo", "")))
        if src:
            props["openhss:source_name"], props["openhss:source_version"] = src.group(1), src.group(2) or ""
        pkg = _package(str(item.get("name", "")), str(item.get("versionInfo", "")), purl, props)
        if pkg is not None:
            packages.append(pkg)
    return os_info, packages, digest, platform


# --- packages and the OS --------------------------------------------------------------------------------


def _package(name: str, version: str, purl_text: str, props: dict[str, str]) -> Package | None:
    """A package from its purl and (openhss's or Trivy's) properties; None when nothing identifies it."""
    try:
        purl = PackageURL.from_string(purl_text) if purl_text else None
    except ValueError:
        purl = None
    if (purl is None or purl.type not in _PURL_TYPES) and not props.get("openhss:type"):
        return None  # a file, an unidentified component, the image itself: nothing to match
    ptype, eco = _PURL_TYPES.get(purl.type if purl else "", (PackageType.JAR, Ecosystem.UNKNOWN))
    ptype = _TYPES.get(props.get("openhss:type", ""), ptype)
    eco = _ECOSYSTEMS.get(props.get("openhss:ecosystem", eco.value), eco)
    quals = dict(purl.qualifiers or {}) if purl is not None and isinstance(purl.qualifiers, dict) else {}
    if purl is not None and not props.get("openhss:ecosystem"):
        name, version = _purl_identity(purl, name, version, quals)
    src_name = props.get("openhss:source_name", "") or props.get("aquasecurity:trivy:SrcName", "")
    src_version = props.get("openhss:source_version", "") or _trivy_source_version(props)
    if not src_name and "upstream" in quals:  # Syft: upstream=NAME@VERSION or NAME (same version)
        up_name, _, up_version = quals["upstream"].partition("@")
        src_name, src_version = up_name.removesuffix(".src.rpm"), up_version
    if ptype.is_os and not src_name:
        src_name = name
    if ptype.is_os and not src_version:
        src_version = version
    if not name:
        return None
    return Package(
        name=name,
        version=version,
        ecosystem=eco,
        type=ptype,
        purl=purl_text,
        path=(props.get("openhss:path", "") or props.get("syft:location:0:path", "")).lstrip("/"),
        layer_digest=props.get("openhss:layer_digest", ""),
        source_name=src_name,
        source_version=src_version,
        arch=quals.get("arch", ""),
        owner=props.get("openhss:owner", ""),
    )


def _purl_identity(purl: PackageURL, name: str, version: str, quals: dict[str, str]) -> tuple[str, str]:
    """Name and version as the matcher keys them, from another tool's purl."""
    version = purl.version or version
    if purl.type in ("deb", "rpm") and quals.get("epoch") and ":" not in version:
        version = f"{quals['epoch']}:{version}"
    if purl.type in ("maven", "composer") and purl.namespace:
        sep = ":" if purl.type == "maven" else "/"
        return f"{purl.namespace}{sep}{purl.name}", version
    if purl.type == "golang":
        return (f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name), version
    if purl.type == "npm" and purl.namespace:
        return f"{purl.namespace}/{purl.name}", version
    return purl.name, version


def _trivy_source_version(props: dict[str, str]) -> str:
    version = props.get("aquasecurity:trivy:SrcVersion", "")
    if not version:
        return ""
    release = props.get("aquasecurity:trivy:SrcRelease", "")
    epoch = props.get("aquasecurity:trivy:SrcEpoch", "")
    full = f"{version}-{release}" if release else version
    return f"{epoch}:{full}" if epoch and epoch != "0" else full


def _os(family: str, version: str) -> OSInfo | None:
    family = family.strip().lower()
    return OSInfo(family=family, version=version.strip()) if family else None


def _os_text(text: str) -> OSInfo | None:
    family, _, version = text.partition(" ")
    return _os(family, version)


def _os_from_purls(packages: list[Package]) -> OSInfo | None:
    for p in packages:
        if p.type.is_os and "distro=" in p.purl:
            try:
                quals = PackageURL.from_string(p.purl).qualifiers
            except ValueError:
                continue
            distro = quals.get("distro", "") if isinstance(quals, dict) else ""
            m = _DISTRO.match(str(distro))
            if m:
                return OSInfo(family=m.group(1), version=m.group(2))
    return None
