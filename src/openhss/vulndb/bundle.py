"""Advisory bundles: the whole advisory database as one verified file, for air-gapped sites.

A connected machine updates from its configured feeds and writes `openhss-advisories-<date>.tar`:
`manifest.json` (format, schema, creation time, every source with its record count and origin, and the
SHA-256 and size of each member), then `advisories.sqlite`. Next to it, `<bundle>.sha256` holds the
digest of the tar itself in `sha256sum` format, so the transfer can be checked with standard tools.

Import verifies before anything changes: the member's digest and size against the manifest, the schema,
and SQLite's own integrity check; only then is the file swapped in (as an update would). A bundle
replaces the advisory database as a whole: it is a copy of the connected machine's database, not a feed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "openhss-advisory-bundle"
FORMAT_VERSION = 1
DB_MEMBER = "advisories.sqlite"
MANIFEST = "manifest.json"
#: Far above any real advisory database (the full OSV + distro set is a few GB at most).
MAX_DB_BYTES = 32 * 1024**3


class BundleError(ValueError):
    """A bundle that is not one, is damaged, or does not verify; nothing was changed."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    path: Path
    sha256: str
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bundle(db_file: Path, out: Path, schema: int) -> BundleInfo:
    """Snapshot `db_file` (SQLite's backup API: consistent even while an update swaps it) into `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot = out.with_name(f".{out.name}.db.tmp")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        snapshot.unlink(missing_ok=True)
        with (
            contextlib.closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(snapshot)) as dst,
        ):
            src.backup(dst)
            sources = [
                {"name": n, "count": c, "synced_at": s, "url": u, "sha256": h}
                for n, c, s, u, h in dst.execute("SELECT name, count, synced_at, url, sha256 FROM sources")
            ]
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema": schema,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sources": sorted(sources, key=lambda s: str(s["name"])),
            "files": {DB_MEMBER: {"sha256": _sha256(snapshot), "size": snapshot.stat().st_size}},
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            tar.add(snapshot, arcname=DB_MEMBER, recursive=False)
        tmp.replace(out)
    finally:
        snapshot.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    digest = _sha256(out)
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    return BundleInfo(out, digest, manifest)


def is_bundle(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            return first is not None and first.name == MANIFEST
    except (tarfile.TarError, OSError):
        return False


def read_bundle(path: Path, dest: Path, schema: int) -> dict[str, Any]:
    """Verify `path` and write its database to `dest`; returns the manifest. BundleError otherwise."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        expected = sidecar.read_text(errors="replace").split()[:1]
        if expected and expected[0].lower() != _sha256(path):
            raise BundleError(
                f"{path}: SHA-256 differs from {sidecar.name}; the file is damaged or not that bundle"
            )
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > 16 * 1024**2:
                raise BundleError(f"{path}: not an openhss advisory bundle (no manifest first)")
            fh = tar.extractfile(first)
            manifest = json.loads(fh.read()) if fh else None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BundleError(f"{path}: not an openhss advisory bundle")
            if manifest.get("schema") != schema:
                raise BundleError(
                    f"{path}: advisory schema {manifest.get('schema')}, this openhss reads {schema};"
                    " build the bundle with the same openhss version"
                )
            want = (manifest.get("files") or {}).get(DB_MEMBER) or {}
            member = tar.next()
            if member is None or member.name != DB_MEMBER or not member.isfile():
                raise BundleError(f"{path}: {DB_MEMBER} missing")
            if member.size != want.get("size") or member.size > MAX_DB_BYTES:
                raise BundleError(
                    f"{path}: {DB_MEMBER} is {member.size} bytes, the manifest says {want.get('size')}"
                )
            src = tar.extractfile(member)
            if src is None:
                raise BundleError(f"{path}: {DB_MEMBER} unreadable")
            h = hashlib.sha256()
            with dest.open("wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
    except (tarfile.TarError, ValueError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{path}: damaged bundle ({exc})") from exc
    if h.hexdigest() != want.get("sha256"):
        raise BundleError(f"{path}: {DB_MEMBER} does not match the manifest's SHA-256")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{dest}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA quick_check").fetchone()
            conn.execute("SELECT count(*) FROM records").fetchone()
    except sqlite3.Error as exc:
        raise BundleError(f"{path}: {DB_MEMBER} is not a usable advisory database ({exc})") from exc
    if not ok or ok[0] != "ok":
        raise BundleError(f"{path}: {DB_MEMBER} fails SQLite's integrity check")
    return manifest
