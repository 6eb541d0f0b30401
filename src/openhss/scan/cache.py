"""Layer-result cache: a layer shared by a thousand images is analysed once.

Key = (diff_id, the name→version map of the analyzers that ran). An analyzer whose `version` is bumped
changes the key, so stale results are never reused. Values are the whole `LayerAnalysis` (results,
whiteouts, opaque dirs), enough for the applier to fold the layer without reading it again.

`scan/` may not import the service database, so this module defines the protocol, the codec and a
file-backed cache for the standalone CLI; the service supplies a database-backed implementation of the
same protocol, shared by every worker and agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import zstandard

from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Severity
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.layers import LayerStats
from openhss.scan.walk import LayerAnalysis

CODEC_VERSION = 3


def cache_key(diff_id: str, analyzers: dict[str, int], blob_digest: str = "") -> str:
    """The key of one layer's analysis. With `blob_digest` (the pipeline always passes it) the key
    names the stored blob too: the diff_id alone is the image author's claim, and an image claiming a
    cached layer's diff_id would otherwise be answered from the cache without its own bytes ever being
    read. A blob digest is checked on every read, and an entry is written only after its blob was
    verified to decompress to the diff_id, so (diff_id, blob digest) cannot name other content."""
    named = [CODEC_VERSION, diff_id, sorted(analyzers.items())]
    if blob_digest and blob_digest != diff_id:
        named.append(blob_digest)
    material = json.dumps(named, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


class LayerCache(Protocol):
    def get(self, key: str) -> LayerAnalysis | None: ...

    def put(self, key: str, analysis: LayerAnalysis) -> None: ...


# --- codec -------------------------------------------------------------------------------------------


def _pkg(p: Package) -> list[Any]:
    return [
        p.name,
        p.version,
        p.ecosystem.value,
        p.type.value,
        p.purl,
        p.path,
        p.layer_digest,
        list(p.licenses),
        p.source_name,
        p.source_version,
        p.arch,
        list(p.dependencies),
        p.owner,
    ]


def _unpkg(r: list[Any]) -> Package:
    return Package(
        r[0],
        r[1],
        Ecosystem(r[2]),
        PackageType(r[3]),
        r[4],
        r[5],
        r[6],
        tuple(r[7]),
        r[8],
        r[9],
        r[10],
        tuple(r[11]),
        r[12] if len(r) > 12 else "",  # entries written before ownership was recorded
    )


def _file(f: FileRecord) -> list[Any]:
    return [f.path, f.size, f.mode, f.uid, f.gid, f.file_type, f.sha256, f.layer_digest]


def _finding(f: Finding) -> list[Any]:
    return [
        f.kind.value,
        f.rule_id,
        f.severity.value,
        f.title,
        f.path,
        f.layer_digest,
        f.line,
        f.evidence,
        f.remediation,
    ]


def _unfinding(r: list[Any]) -> Finding:
    return Finding(FindingKind(r[0]), r[1], Severity(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])


def encode(a: LayerAnalysis) -> bytes:
    res = a.result
    doc = {
        "v": CODEC_VERSION,
        "diff_id": a.diff_id,
        "os": [res.os.family, res.os.version, res.os.name, res.os.codename] if res.os else None,
        "packages": [_pkg(p) for p in res.packages],
        "files": [_file(f) for f in res.files],
        "findings": [_finding(f) for f in res.findings],
        "skipped": [list(s) for s in res.skipped],
        "observed": res.observed,
        "owned": [list(o) for o in res.owned],
        "whiteouts": a.whiteouts,
        "opaque_dirs": a.opaque_dirs,
        "warnings": a.warnings,
        "analyzers": a.analyzers,
        "stats": [a.stats.members, a.stats.uncompressed_bytes, a.stats.compression],
    }
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())


def decode(blob: bytes) -> LayerAnalysis:
    doc = json.loads(zstandard.ZstdDecompressor().decompress(blob))
    if doc.get("v") != CODEC_VERSION:
        raise ValueError("layer cache entry from another codec version")
    os_ = doc["os"]
    result = AnalysisResult(
        os=OSInfo(*os_) if os_ else None,
        packages=[_unpkg(r) for r in doc["packages"]],
        files=[FileRecord(*r) for r in doc["files"]],
        findings=[_unfinding(r) for r in doc["findings"]],
        skipped=[(s[0], s[1]) for s in doc["skipped"]],
        observed=list(doc.get("observed", [])),
        owned=[(o[0], o[1], o[2]) for o in doc.get("owned", [])],
    )
    return LayerAnalysis(
        diff_id=doc["diff_id"],
        result=result,
        whiteouts=doc["whiteouts"],
        opaque_dirs=doc["opaque_dirs"],
        warnings=doc["warnings"],
        analyzers=doc["analyzers"],
        stats=LayerStats(*doc["stats"]),
    )


#: Version of the stored-inventory codec (re-matching reads these without touching layers).
INVENTORY_CODEC = 1


def encode_inventory(os_info: OSInfo | None, packages: list[Package]) -> bytes:
    """What matching needs of a folded inventory: the OS and every package with its source package,
    release and epoch; files and findings stay out (they never change on an advisory update)."""
    doc = {
        "v": INVENTORY_CODEC,
        "os": [os_info.family, os_info.version, os_info.name, os_info.codename] if os_info else None,
        "packages": [_pkg(p) for p in packages],
    }
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())


def decode_inventory(blob: bytes) -> tuple[OSInfo | None, list[Package]]:
    doc = json.loads(zstandard.ZstdDecompressor().decompress(blob))
    if doc.get("v") != INVENTORY_CODEC:
        raise ValueError("stored inventory from another codec version")
    os_ = doc["os"]
    return (OSInfo(*os_) if os_ else None), [_unpkg(r) for r in doc["packages"]]


class FileLayerCache:
    """One compressed file per key under a directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> LayerAnalysis | None:
        try:
            return decode(self._path(key).read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, IndexError, TypeError, zstandard.ZstdError):
            return None  # a corrupt or foreign entry is a miss, and the next put overwrites it

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode(analysis))
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class TieredLayerCache:
    """A near cache in front of a far one: a far hit is kept near, what is analysed goes to both.

    The agent's: its own files first, then the server's shared cache (agent/layer_cache.py). The far
    cache is an optimisation only; its implementations answer a miss on any failure.
    """

    def __init__(self, near: LayerCache, far: LayerCache | None) -> None:
        self.near = near
        self.far = far

    def get(self, key: str) -> LayerAnalysis | None:
        found = self.near.get(key)
        if found is None and self.far is not None:
            found = self.far.get(key)
            if found is not None:
                self.near.put(key, found)
        return found

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        self.near.put(key, analysis)
        if self.far is not None:
            self.far.put(key, analysis)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openhss" / "layers"
