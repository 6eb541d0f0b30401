"""Which distribution is this? From os-release and the older per-distro release files.

`OSInfo.family` is the os-release `ID` (normalised where distros changed it over time: openSUSE Leap's
`opensuse` → `opensuse-leap`), because that is what vulnerability feeds key on. Evidence is weighed
within one layer: `etc/os-release` beats `usr/lib/os-release` beats the distro-specific release files
beats `lsb-release`/`debian_version`. An image with dpkg `status.d` records and no release file in
any layer is distroless Debian (`infer_os`, applied after the fold). Release files are tiny;
anything large at these paths is not one, so reads are capped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import BinaryIO, ClassVar

from openhss.domain.distros.debian import codename_of
from openhss.domain.enums import PackageType
from openhss.domain.models import OSInfo, Package
from openhss.scan.analyzers.base import AnalysisResult, Analyzer, FileEntry, Interest

_MAX = 64 * 1024


#: release file → priority within a layer; the lowest present wins.
_FILES: dict[str, int] = {
    "etc/os-release": 0,
    "usr/lib/os-release": 1,
    "etc/openEuler-release": 2,
    "etc/hce-release": 2,
    "etc/EulerOS-release": 2,
    "etc/euleros-release": 2,
    "etc/kylin-release": 2,
    "etc/UnionTech-release": 2,
    "etc/uos-release": 2,
    "etc/almalinux-release": 2,
    "etc/rocky-release": 2,
    "etc/oracle-release": 2,
    "etc/centos-release": 3,
    "etc/fedora-release": 3,
    "etc/system-release": 4,
    "etc/redhat-release": 5,
    "etc/SuSE-release": 5,
    "etc/alpine-release": 6,
    "etc/lsb-release": 6,
    "etc/debian_version": 7,
}
_DISTROLESS = 9

#: First words of a `* release X` line → os-release ID.
_RELEASE_NAMES = [
    ("red hat enterprise linux", "rhel"),
    ("red hat linux", "rhel"),
    ("centos stream", "centos"),
    ("centos", "centos"),
    ("rocky linux", "rocky"),
    ("almalinux", "almalinux"),
    ("fedora", "fedora"),
    ("oracle linux", "ol"),
    ("amazon linux", "amzn"),
    ("openeuler", "openEuler"),
    ("huawei cloud euleros", "hce"),
    ("euleros", "euleros"),
    ("kylin", "kylin"),
    ("uniontech", "uos"),
    ("uos", "uos"),
]
_RELEASE_LINE = re.compile(
    r"^(?P<name>.*?)\s+(?:release|version)\s+(?P<ver>[Vv]?[0-9][\w.+-]*)(?:\s*\((?P<code>[^)]*)\))?", re.I
)
#: os-release IDs that were renamed or are ambiguous, → the canonical family.
_ID_FIX = {"opensuse": "opensuse-leap", "redhat": "rhel", "oracle": "ol", "alma": "almalinux"}


def parse_os_release(text: str) -> dict[str, str]:
    """os-release is a shell-quoted KEY=value list (os-release(5)); never executed, only tokenised."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            parts = [raw.strip("\"'")]
        out[key.strip()] = " ".join(parts)
    return out


def _codename(version_text: str) -> str:
    """`12 (bookworm)` → `bookworm`; distros with VERSION_CODENAME/UBUNTU_CODENAME never get here."""
    m = re.search(r"\(([^)]+)\)", version_text)
    return m.group(1).strip() if m else ""


def from_os_release(text: str) -> OSInfo | None:
    kv = parse_os_release(text)
    family = kv.get("ID", "").strip()
    version = kv.get("VERSION_ID", "").strip()
    if not family or family == "unknown":
        return None
    family = _ID_FIX.get(family, family)
    if family == "opensuse-leap" and "tumbleweed" in kv.get("NAME", "").lower():
        family = "opensuse-tumbleweed"
    codename = (
        kv.get("VERSION_CODENAME") or kv.get("UBUNTU_CODENAME") or _codename(kv.get("VERSION", ""))
    ).strip()
    if family == "debian":
        if not version:
            # testing/sid carry no VERSION_ID; the codename is still there (or in PRETTY_NAME).
            m = re.search(r"(\w+)/sid", kv.get("PRETTY_NAME", ""))
            codename = codename or (m.group(1) if m else "")
            version = f"{codename}/sid" if codename else ""
        codename = codename or codename_of(version)
    if not version:
        return None
    return OSInfo(
        family=family, version=version, name=kv.get("PRETTY_NAME") or kv.get("NAME", ""), codename=codename
    )


def from_release_line(text: str, path: str) -> OSInfo | None:
    """`CentOS Linux release 7.6.1810 (Core)` and friends."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = _RELEASE_LINE.match(line)
    if not m:
        return None
    name = m.group("name").lower()
    family = next((fam for prefix, fam in _RELEASE_NAMES if name.startswith(prefix)), "")
    if not family:
        if "suse" not in path.lower() and "suse" not in name:
            return None
        family = "opensuse-leap" if "opensuse" in name else "sles"
    code = (m.group("code") or "").strip()
    if family == "openEuler" and code:
        code = code.replace(" ", "-")
    return OSInfo(family=family, version=m.group("ver"), name=line.strip(), codename=code)


def from_lsb_release(text: str) -> OSInfo | None:
    kv = parse_os_release(text)
    dist = kv.get("DISTRIB_ID", "").strip().lower()
    version = kv.get("DISTRIB_RELEASE", "").strip()
    if not dist or not version:
        return None
    return OSInfo(
        family=_ID_FIX.get(dist, dist),
        version=version,
        name=kv.get("DISTRIB_DESCRIPTION", ""),
        codename=kv.get("DISTRIB_CODENAME", ""),
    )


def from_debian_version(text: str) -> OSInfo | None:
    version = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not version or not re.match(r"^[\w.+~/-]+$", version):
        return None
    if "/" in version:  # "bookworm/sid": testing or unstable
        return OSInfo(family="debian", version=version, codename=version.split("/")[0])
    return OSInfo(family="debian", version=version, codename=codename_of(version))


def from_alpine_release(text: str) -> OSInfo | None:
    version = text.strip().splitlines()[0].strip() if text.strip() else ""
    return OSInfo(family="alpine", version=version) if re.match(r"^\d[\w.]*$", version) else None


def detect(path: str, text: str) -> OSInfo | None:
    """One release file's verdict, or None when it says nothing usable."""
    base = path.rsplit("/", 1)[-1]
    if base == "os-release":
        return from_os_release(text)
    if base == "lsb-release":
        return from_lsb_release(text)
    if base == "debian_version":
        return from_debian_version(text)
    if base == "alpine-release":
        return from_alpine_release(text)
    return from_release_line(text, path)


def _merge(best: OSInfo, others: list[OSInfo]) -> OSInfo:
    """Fill a gap of the winning source from a lower-priority one of the same family (codename...)."""
    for o in others:
        if o.family != best.family:
            continue
        if not best.codename and o.codename:
            best = OSInfo(best.family, best.version, best.name, o.codename)
    return best


class OSReleaseAnalyzer(Analyzer):
    name: ClassVar[str] = "os-release"
    interest: ClassVar[Interest] = Interest(paths=frozenset(_FILES))
    version: ClassVar[int] = 1
    max_size: ClassVar[int] = _MAX

    def __init__(self) -> None:
        self._found: list[tuple[int, OSInfo]] = []

    def wants(self, entry: FileEntry) -> bool:
        return entry.is_file and entry.path in _FILES

    def analyze(self, entry: FileEntry, content: BinaryIO) -> AnalysisResult:
        text = content.read(_MAX).decode("utf-8", errors="replace")
        info = detect(entry.path, text)
        if info is not None:
            self._found.append((_FILES[entry.path], info))
        return AnalysisResult()

    def finish(self) -> AnalysisResult:
        if self._found:
            ranked = [i for _, i in sorted(self._found, key=lambda t: t[0])]
            return AnalysisResult(os=_merge(ranked[0], ranked[1:]))
        return AnalysisResult()


def infer_os(packages: Iterable[Package]) -> OSInfo | None:
    """The OS of an image that has no release file at all, from its packages: distroless Debian.

    This is an image-level decision (a status.d record in layer 5 says nothing about whether layer 1
    had an os-release), so it runs after the fold, only when no layer reported an OS. distroless keeps
    one dpkg record per package in `status.d`; its `base-files` version carries the Debian release.
    """
    debs = [p for p in packages if p.type is PackageType.DEB and "/status.d/" in p.path]
    if not debs:
        return None
    base = next((p for p in debs if p.name == "base-files"), None)
    m = re.match(r"^(\d+)", base.version) if base else None
    version = m.group(1) if m else ""
    return OSInfo(family="debian", version=version, name="distroless", codename=codename_of(version))
