"""Feed download: conditional GET (ETag / Last-Modified), resume of an interrupted transfer, checksums.

A 304 costs one round trip and changes nothing. A partial `.part` file is continued with a Range request
when the server still serves the same entity (If-Range). The SHA-256 of the result is recorded; when the
server publishes an MD5 (`Content-MD5`, or Google Cloud Storage's `x-goog-hash`, which is what OSV's
bucket sends) the download is verified against it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx

CHUNK = 1 << 20
MAX_FEED_BYTES = 4 << 30


class DownloadError(RuntimeError):
    """A feed could not be fetched or failed verification."""


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path | None  # None: not modified since the recorded ETag/Last-Modified
    etag: str = ""
    last_modified: str = ""
    sha256: str = ""


def _published_md5(headers: httpx.Headers) -> str:
    for part in headers.get_list("x-goog-hash", split_commas=True):
        key, _, value = part.strip().partition("=")
        if key == "md5":
            return base64.b64decode(value).hex()
    if md5 := headers.get("content-md5"):
        return base64.b64decode(md5).hex()
    return ""


def fetch(client: httpx.Client, url: str, dest: Path, *, etag: str = "", last_modified: str = "") -> Fetched:
    """Download `url` to `dest` unless unchanged; `dest` is only replaced by a complete, verified file."""
    part = dest.with_name(dest.name + ".part")
    validator_file = dest.with_name(dest.name + ".part-etag")
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    offset = part.stat().st_size if part.exists() else 0
    part_validator = validator_file.read_text() if offset and validator_file.exists() else ""
    if offset and part_validator:
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = part_validator
    try:
        with client.stream("GET", url, headers=headers, follow_redirects=True) as resp:
            if resp.status_code == 304:
                return Fetched(None, etag, last_modified)
            if resp.status_code not in (200, 206):
                raise DownloadError(f"GET {url}: HTTP {resp.status_code}")
            new_etag = resp.headers.get("etag", "")
            new_lm = resp.headers.get("last-modified", "")
            mode = "ab" if resp.status_code == 206 else "wb"
            if mode == "wb":
                offset = 0
            if new_etag or new_lm:
                validator_file.write_text(new_etag or new_lm)
            with part.open(mode) as out:
                written = offset
                for chunk in resp.iter_bytes(CHUNK):
                    written += len(chunk)
                    if written > MAX_FEED_BYTES:
                        raise DownloadError(f"GET {url}: larger than {MAX_FEED_BYTES} bytes")
                    out.write(chunk)
            expected_md5 = _published_md5(resp.headers) if resp.status_code == 200 else ""
    except httpx.HTTPError as exc:
        raise DownloadError(f"GET {url}: {exc}") from exc
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with part.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    if expected_md5 and md5.hexdigest() != expected_md5:
        part.unlink(missing_ok=True)
        validator_file.unlink(missing_ok=True)
        raise DownloadError(f"GET {url}: checksum mismatch (md5 {md5.hexdigest()} != {expected_md5})")
    part.replace(dest)
    validator_file.unlink(missing_ok=True)
    return Fetched(dest, new_etag, new_lm, sha.hexdigest())
