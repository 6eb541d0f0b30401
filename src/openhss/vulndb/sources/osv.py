"""OSV bulk exports: `https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip`.

Zips are read entry by entry without extracting anything to disk; each entry is bounded in size.
Also reads a directory of OSV JSON files (an unpacked export or a git checkout of an advisory repo).
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from pydantic import ValidationError

from openhss.domain.advisory import AffectedRecord
from openhss.vulndb.osv import OsvVulnerability, records_from_osv
from openhss.vulndb.sources.base import MAX_DOCUMENT_BYTES, AdvisorySource, Feed, SourceError

log = logging.getLogger(__name__)

OSV_BASE = "https://osv-vulnerabilities.storage.googleapis.com"
LANGUAGE_ECOSYSTEMS = ("PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet")


def osv_feed(ecosystem: str) -> Feed:
    path = f"{ecosystem}/all.zip"
    return Feed(name=f"osv:{ecosystem}", url=f"{OSV_BASE}/{path.replace(' ', '%20')}", mirror_path=path,
                ecosystem=ecosystem)  # fmt: skip


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for f in sorted(path.rglob("*.json")):
            if f.is_file() and not f.is_symlink() and f.stat().st_size <= MAX_DOCUMENT_BYTES:
                yield str(f), f.read_bytes()
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > MAX_DOCUMENT_BYTES:
                    log.warning(
                        "%s: %s larger than %d bytes skipped", path, info.filename, MAX_DOCUMENT_BYTES
                    )
                    continue
                try:
                    with zf.open(info) as fh:
                        data = fh.read(MAX_DOCUMENT_BYTES + 1)
                except (zlib.error, EOFError, NotImplementedError, OSError) as exc:
                    # A member that does not inflate (corrupt deflate stream, bad offsets, unknown
                    # method): the feed is unusable, and the caller keeps the database it has.
                    raise SourceError(
                        f"{path}: corrupt zip member {info.filename} ({type(exc).__name__}: {exc})"
                    ) from exc
                yield info.filename, data
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{path}: not a zip file ({exc})") from exc


def parse_osv_documents(path: Path, feed_name: str) -> Iterator[AffectedRecord]:
    bad = 0
    for name, data in _documents(path):
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or "id" not in doc:
                continue
            vuln = OsvVulnerability.model_validate(doc)
        except (ValueError, ValidationError) as exc:
            bad += 1
            log.debug("%s: %s is not a valid OSV record: %s", path, name, exc)
            continue
        yield from records_from_osv(vuln, feed_name)
    if bad:
        log.warning("%s: %d invalid OSV documents skipped", path, bad)


class OsvSource(AdvisorySource):
    """Language ecosystems from OSV; the distro families use the same reader with their own feeds."""

    name: ClassVar[str] = "osv"
    ecosystems: ClassVar[tuple[str, ...]] = LANGUAGE_ECOSYSTEMS

    def feeds(self) -> list[Feed]:
        return [osv_feed(e) for e in self.ecosystems]

    def accepts(self, path: Path, head: bytes) -> bool:
        return path.is_dir() or head.startswith(b"PK\x03\x04") or head.lstrip().startswith(b'{"id"')

    def feed_name(self, path: Path) -> str:
        stem = path.name.removesuffix(".zip")
        if stem == "all" and path.parent.name:
            stem = path.parent.name
        return f"osv:{stem}"

    def parse(self, path: Path, feed_name: str) -> Iterator[AffectedRecord]:
        return parse_osv_documents(path, feed_name)
