"""YARA rule packs: a zip or tar (optionally compressed) of `.yar`/`.yara` files, or one rule file.

Every rule file is compiled on its own before it is kept, so a pack with one file using a module or
syntax this YARA lacks still contributes the rest (the rejected files are listed in `db status`).
Members are read by name only: paths are flattened, nothing is extracted as given.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from openhss.vulndb.rulepacks.base import (
    MAX_PACK_BYTES,
    MAX_RULE_FILE_BYTES,
    PackError,
    RulePackSource,
    Staged,
)
from openhss.vulndb.sources.base import Feed

log = logging.getLogger(__name__)

_RULE_SUFFIXES = (".yar", ".yara")
_RULE_TEXT = re.compile(rb"^\s*(?:(?:private|global)\s+)*rule\s+\w+", re.M)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every rule file in the pack, bounded."""
    if path.stat().st_size > MAX_PACK_BYTES:
        raise PackError(f"{path}: larger than {MAX_PACK_BYTES} bytes")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for zinfo in zf.infolist():
                if zinfo.is_dir() or not zinfo.filename.lower().endswith(_RULE_SUFFIXES):
                    continue
                if zinfo.file_size > MAX_RULE_FILE_BYTES:
                    yield zinfo.filename, b""
                    continue
                with zf.open(zinfo) as zfh:
                    yield zinfo.filename, zfh.read(MAX_RULE_FILE_BYTES + 1)
        return
    try:
        tf = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except tarfile.TarError:
        tf = None
    if tf is not None:
        with tf:
            for info in tf:
                if not info.isfile() or not info.name.lower().endswith(_RULE_SUFFIXES):
                    continue
                fh = tf.extractfile(info) if info.size <= MAX_RULE_FILE_BYTES else None
                yield info.name, fh.read(MAX_RULE_FILE_BYTES + 1) if fh is not None else b""
        return
    data = path.read_bytes()
    if not (path.name.lower().endswith(_RULE_SUFFIXES) or _RULE_TEXT.search(data[:65536])):
        raise PackError(f"{path}: neither a zip/tar of rule files nor a rule file")
    yield path.name, data


class YaraPackSource(RulePackSource):
    name: ClassVar[str] = "yara"
    mirror_dir: ClassVar[str] = "malware/yara"

    def feeds(self, urls: list[str]) -> list[Feed]:
        return [
            Feed(f"yara:{_SAFE.sub('_', url.rstrip('/').rsplit('/', 1)[-1]) or 'pack'}-"
                 f"{hashlib.sha256(url.encode()).hexdigest()[:8]}", url,
                 f"{self.mirror_dir}/{url.rstrip('/').rsplit('/', 1)[-1]}", "malware")
            for url in urls
        ]  # fmt: skip

    def accepts(self, path: Path, head: bytes) -> bool:
        if not path.is_file():
            return False
        if path.name.lower().endswith(_RULE_SUFFIXES) or _RULE_TEXT.search(head):
            return True
        if (
            head[:4] == b"PK\x03\x04"
            or (len(head) >= 262 and head[257:262] == b"ustar")
            or head[:2]
            in (
                b"\x1f\x8b",
                b"BZ",
            )
            or head[:6] == b"\xfd7zXZ\x00"
        ):
            try:
                return any(True for _ in _members(path))
            except (PackError, OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
                return False
        return False

    def stage(self, path: Path, dest: Path, feed_name: str) -> Staged:
        import yara  # only an import of a pack needs it: scans and the API process never load YARA here

        staged = Staged()
        seen: set[str] = set()
        try:
            members = list(_members(path))
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise PackError(f"{path}: not a readable rule pack: {exc}") from exc
        for name, data in members:
            if not data or len(data) > MAX_RULE_FILE_BYTES:
                staged.rejected.append((name, f"larger than {MAX_RULE_FILE_BYTES} bytes"))
                continue
            text = data.decode("utf-8", errors="replace")
            try:
                yara.compile(source=text)
            except yara.Error as exc:  # includes/modules we lack, syntax errors: skip this file only
                staged.rejected.append((name, str(exc)))
                log.warning("%s: rule file %s skipped: %s", feed_name, name, exc)
                continue
            flat = _SAFE.sub("_", name.strip("/").removesuffix(".yara").removesuffix(".yar")) or "rules"
            while flat in seen:
                flat += "_"
            seen.add(flat)
            (dest / f"{flat}.yar").write_text(text, encoding="utf-8")
            staged.rules += 1
        if not staged.rules and not staged.rejected:
            raise PackError(f"{path}: no .yar/.yara rule files in it")
        return staged
