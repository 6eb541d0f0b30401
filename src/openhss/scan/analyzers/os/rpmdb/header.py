"""The rpm header blob as rpmdb stores it (no lead, no magic): `il`, `dl`, `il` index entries, data.

Layout (all big-endian): int32 il, int32 dl, then il × {int32 tag, type, offset, count}, then dl bytes
of data. rpm itself refuses il > 0xffff or dl > 256 MiB; so do we, and every entry must lie inside
the data store. Only the tags the inventory needs are decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SUMMARY = 1004
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
TAG_MODULARITYLABEL = 5096

_STRING, _BIN, _STRING_ARRAY, _I18NSTRING = 6, 7, 8, 9
_INT32 = 4
_MAX_IL = 0xFFFF
_MAX_DL = 256 * 1024 * 1024
_WANTED = {
    TAG_NAME,
    TAG_VERSION,
    TAG_RELEASE,
    TAG_EPOCH,
    TAG_SUMMARY,
    TAG_SIZE,
    TAG_VENDOR,
    TAG_LICENSE,
    TAG_ARCH,
    TAG_SOURCERPM,
    TAG_MODULARITYLABEL,
}


class RpmHeaderError(ValueError):
    """A header blob that is truncated or inconsistent."""


@dataclass(frozen=True, slots=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    sourcerpm: str
    license: str
    vendor: str = ""
    summary: str = ""
    size: int | None = None
    modularity_label: str = ""

    @property
    def evr(self) -> str:
        """`[epoch:]version-release`, rpm's own comparison string."""
        vr = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{vr}" if self.epoch is not None else vr

    def source(self) -> tuple[str, str]:
        """`bash-5.1.8-6.el9.src.rpm` → (`bash`, `5.1.8-6.el9`); the epoch is the binary's."""
        srpm = self.sourcerpm
        for suffix in (".src.rpm", ".nosrc.rpm"):
            if srpm.endswith(suffix):
                srpm = srpm[: -len(suffix)]
                break
        else:
            return "", ""
        parts = srpm.rsplit("-", 2)
        if len(parts) != 3 or not all(parts):
            return "", ""
        name, version, release = parts
        vr = f"{version}-{release}"
        return name, f"{self.epoch}:{vr}" if self.epoch is not None else vr


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise RpmHeaderError(f"unterminated string at {offset}")
    return data[offset:end].decode("utf-8", errors="replace")


def parse_header(blob: bytes) -> RpmHeader:
    if len(blob) < 8:
        raise RpmHeaderError("header shorter than its preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il == 0 or il > _MAX_IL or dl > _MAX_DL:
        raise RpmHeaderError(f"implausible header size il={il} dl={dl}")
    data_start = 8 + 16 * il
    if data_start + dl > len(blob):
        raise RpmHeaderError(f"header truncated: needs {data_start + dl} bytes, has {len(blob)}")
    data = blob[data_start : data_start + dl]
    values: dict[int, str | int] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        if tag not in _WANTED or tag in values:
            continue
        if off < 0 or (off >= dl and not (off == dl and count == 0)):
            raise RpmHeaderError(f"tag {tag} offset {off} outside data ({dl})")
        if typ in (_STRING, _I18NSTRING, _STRING_ARRAY):
            values[tag] = _cstring(data, off)
        elif typ == _INT32:
            if count < 1 or off + 4 > dl:
                raise RpmHeaderError(f"tag {tag} int32 outside data")
            values[tag] = struct.unpack_from(">I", data, off)[0]
    name = values.get(TAG_NAME)
    version = values.get(TAG_VERSION)
    if not isinstance(name, str) or not name or not isinstance(version, str):
        raise RpmHeaderError("header without name or version")

    def text(tag: int) -> str:
        v = values.get(tag, "")
        return v if isinstance(v, str) else ""

    epoch = values.get(TAG_EPOCH)
    size = values.get(TAG_SIZE)
    return RpmHeader(
        name=name,
        version=version,
        release=text(TAG_RELEASE),
        epoch=epoch if isinstance(epoch, int) else None,
        arch=text(TAG_ARCH),
        sourcerpm=text(TAG_SOURCERPM),
        license=text(TAG_LICENSE),
        vendor=text(TAG_VENDOR),
        summary=text(TAG_SUMMARY),
        size=size if isinstance(size, int) else None,
        modularity_label=text(TAG_MODULARITYLABEL),
    )


TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
#: Files per package beyond this are not a real header (the largest real packages list ~100k).
MAX_FILES = 1_000_000


def _index(blob: bytes) -> tuple[bytes, dict[int, tuple[int, int, int]]]:
    """The data store and tag → (type, offset, count), with the same bounds as `parse_header`."""
    if len(blob) < 8:
        raise RpmHeaderError("header shorter than its preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il == 0 or il > _MAX_IL or dl > _MAX_DL:
        raise RpmHeaderError(f"implausible header size il={il} dl={dl}")
    data_start = 8 + 16 * il
    if data_start + dl > len(blob):
        raise RpmHeaderError(f"header truncated: needs {data_start + dl} bytes, has {len(blob)}")
    entries: dict[int, tuple[int, int, int]] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        if tag in (TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES) and tag not in entries:
            if off < 0 or off > dl or count > MAX_FILES:
                raise RpmHeaderError(f"tag {tag} offset {off} / count {count} outside data ({dl})")
            entries[tag] = (typ, off, count)
    return blob[data_start : data_start + dl], entries


def _strings(data: bytes, off: int, count: int) -> list[str]:
    out: list[str] = []
    for _ in range(count):
        end = data.find(b"\0", off)
        if end < 0:
            raise RpmHeaderError(f"unterminated string array at {off}")
        out.append(data[off:end].decode("utf-8", errors="replace"))
        off = end + 1
    return out


def file_paths(blob: bytes) -> list[str]:
    """Every file path the package installed (`DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`), bounds-checked.

    Kept apart from `parse_header`: only ownership needs file lists, and a package without them (or a
    header whose lists are damaged) is still a package."""
    data, entries = _index(blob)
    if not all(t in entries for t in (TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES)):
        return []
    typ_i, off_i, n_i = entries[TAG_DIRINDEXES]
    typ_b, off_b, n_b = entries[TAG_BASENAMES]
    typ_d, off_d, n_d = entries[TAG_DIRNAMES]
    if typ_i != _INT32 or typ_b != _STRING_ARRAY or typ_d != _STRING_ARRAY or n_i != n_b:
        raise RpmHeaderError("inconsistent file list tags")
    if off_i + 4 * n_i > len(data):
        raise RpmHeaderError("dir index array outside data")
    indexes = struct.unpack_from(f">{n_i}I", data, off_i)
    basenames = _strings(data, off_b, n_b)
    dirnames = _strings(data, off_d, n_d)
    if any(i >= n_d for i in indexes):
        raise RpmHeaderError("dir index outside the dir name array")
    return [dirnames[i] + base for i, base in zip(indexes, basenames, strict=True)]
