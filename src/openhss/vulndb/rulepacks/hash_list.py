"""Known-bad hash lists: text or CSV with one SHA-256 per line (MalwareBazaar's export, or a site's own).

Any line whose first hex field is 64 characters long counts, so `sha256`, `sha256,name` and the quoted
CSV of MalwareBazaar's full export are all read; comment lines (`#`) and everything else are ignored.
The staged file is the analyzer's hash-list format: `sha256 [rule_id [title]]`, one per line.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from openhss.vulndb.rulepacks.base import MAX_PACK_BYTES, PackError, RulePackSource, Staged
from openhss.vulndb.sources.base import Feed

_SHA256 = re.compile(rb"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _lines(path: Path) -> Iterator[bytes]:
    if path.stat().st_size > MAX_PACK_BYTES:
        raise PackError(f"{path}: larger than {MAX_PACK_BYTES} bytes")
    if zipfile.is_zipfile(path):  # MalwareBazaar serves its full export zipped
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir() and not info.filename.endswith(".json"):  # never an OSV zip
                    with zf.open(info) as fh:
                        yield from fh
        return
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if gzipped:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield from unzipped
        else:
            yield from raw


def _first_hash(line: bytes) -> bytes | None:
    stripped = line.lstrip()
    if not stripped or stripped.startswith((b"#", b"{", b"[", b'"id"')):  # comments, JSON documents
        return None
    m = _SHA256.search(stripped)
    return m.group(0).lower() if m else None


class HashListSource(RulePackSource):
    name: ClassVar[str] = "hashes"
    mirror_dir: ClassVar[str] = "malware/hashes"

    def feeds(self, urls: list[str]) -> list[Feed]:
        return [
            Feed(f"hashes:{_SAFE.sub('_', url.rstrip('/').rsplit('/', 1)[-1]) or 'list'}-"
                 f"{hashlib.sha256(url.encode()).hexdigest()[:8]}", url,
                 f"{self.mirror_dir}/{url.rstrip('/').rsplit('/', 1)[-1] or 'list.txt'}", "malware")
            for url in urls
        ]  # fmt: skip

    def accepts(self, path: Path, head: bytes) -> bool:
        if not path.is_file() or (b"\x00" in head[:512] and head[:2] != b"\x1f\x8b" and head[:2] != b"PK"):
            return False
        try:
            for line in _lines(path):  # the first line that is not a comment decides
                stripped = line.strip()
                if not stripped or stripped.startswith(b"#"):
                    continue
                return _first_hash(line) is not None
        except (PackError, OSError, zipfile.BadZipFile, EOFError):
            return False
        return False

    def stage(self, path: Path, dest: Path, feed_name: str) -> Staged:
        staged = Staged()
        rule_id = "malware-hash-" + _SAFE.sub("-", feed_name.split(":", 1)[-1]).strip("-").lower()
        seen: set[bytes] = set()
        try:
            with (dest / "hashes.txt").open("wb") as out:
                for line in _lines(path):
                    digest = _first_hash(line)
                    if digest is None or digest in seen:
                        continue
                    seen.add(digest)
                    out.write(digest + b" " + rule_id.encode() + b" Known malicious file (" +
                              feed_name.encode() + b")\n")  # fmt: skip
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise PackError(f"{path}: not a readable hash list: {exc}") from exc
        staged.hashes = len(seen)
        if not seen:
            raise PackError(f"{path}: no SHA-256 hashes in it")
        return staged
