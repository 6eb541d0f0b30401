"""`docker://REGISTRY/REPO[:tag|@digest]`: a registry speaking the OCI Distribution API v2.

Every registry type HSS knows (SWR, Harbor, JFrog, other) is this API with credentials. Auth follows
the `WWW-Authenticate` challenge: none, Basic, or Bearer (a token fetched from the realm with the
credentials, scoped to pulling this repository). Transient failures (429, 5xx, connection errors)
are retried with exponential backoff; everything fetched is checked against the digest naming it:
manifests in memory (they are small and capped), blobs as they stream through the walker.
"""

from __future__ import annotations

import base64
import io
import re
import ssl
import time
from collections.abc import Iterator
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import httpx

from openhss.scan.errors import (
    AuthenticationFailed,
    CorruptImage,
    DownloadFailed,
    ImageNotFound,
)
from openhss.scan.image import (
    INDEX_TYPES,
    MAX_METADATA_BYTES,
    MT_DOCKER_LIST,
    MT_DOCKER_MANIFEST,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    Image,
    Layer,
    Platform,
    build_image,
    index_platforms,
    load_json,
    manifest_kind,
    parse_manifest,
    select_platform,
    sha256_digest,
    verify_digest,
)
from openhss.scan.refs import DOCKER_HUB, ImageRef, Transport
from openhss.scan.sources.base import ImageHandle, Source, SourceOptions, check_image_size, verified

ACCEPT = ", ".join((MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST))
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')
_CHUNK = 1024 * 1024


def _host(registry: str) -> str:
    return "registry-1.docker.io" if registry == DOCKER_HUB else registry


#: Pages one paginated list may take (100,000 names at the smallest page size registries use, 100).
MAX_PAGES = 1000


class RegistryClient:
    """One repository on one registry; remembers the auth header the challenge flow produced."""

    def __init__(self, ref: ImageRef, options: SourceOptions, *, scope: str = "") -> None:
        self.ref = ref
        self.options = options
        #: The token scope asked for on a Bearer challenge: pulling this repository unless told
        #: otherwise (`registry:catalog:*` to list repositories).
        self.scope = scope or f"repository:{ref.repository}:pull"
        verify: ssl.SSLContext | bool = True
        if options.insecure:
            verify = False
        elif options.ca_file:
            verify = ssl.create_default_context(cafile=options.ca_file)
        self.http = httpx.Client(verify=verify, timeout=options.timeout, follow_redirects=True)
        self.base = f"https://{_host(ref.registry)}"
        self.auth: str | None = None
        self._probe()

    def close(self) -> None:
        self.http.close()

    def _probe(self) -> None:
        """`GET /v2/` once: picks the scheme (plain HTTP only in insecure mode) and answers the challenge."""
        try:
            resp = self._send("GET", "/v2/", retry=False)
        except DownloadFailed:
            if not self.options.insecure:
                raise
            self.base = f"http://{_host(self.ref.registry)}"
            resp = self._send("GET", "/v2/", retry=True)
        resp.close()
        if resp.status_code == 401:
            self._authenticate(resp.headers.get("www-authenticate", ""))

    def _authenticate(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        params = dict(_PARAM_RE.findall(rest))
        creds = self.options.credentials
        if scheme.lower() == "basic":
            if creds is None or not creds.username:
                raise AuthenticationFailed(f"registry {self.ref.registry} requires credentials")
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            self.auth = f"Basic {token}"
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise AuthenticationFailed(
                f"registry {self.ref.registry}: unsupported auth challenge {challenge!r}"
            )
        if creds is not None and creds.token and not creds.username:
            self.auth = f"Bearer {creds.token}"
            return
        query = {"scope": self.scope}
        if "service" in params:
            query["service"] = params["service"]
        auth = httpx.BasicAuth(creds.username, creds.password) if creds and creds.username else None
        try:
            resp = self.http.get(params["realm"], params=query, auth=auth)
        except httpx.HTTPError as exc:
            raise DownloadFailed(f"token server {params['realm']}: {exc}") from None
        if resp.status_code in (401, 403):
            raise AuthenticationFailed(f"token server for {self.ref.registry} refused the credentials")
        if resp.status_code != 200:
            raise DownloadFailed(f"token server for {self.ref.registry} answered {resp.status_code}")
        body = load_json(resp.content, "token response")
        bearer = body.get("token") or body.get("access_token")
        if not isinstance(bearer, str) or not bearer:
            raise AuthenticationFailed(f"token server for {self.ref.registry} returned no token")
        self.auth = f"Bearer {bearer}"

    def _send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, retry: bool = True
    ) -> httpx.Response:
        """A streamed response (caller reads or closes it); retries 429/5xx/transport errors with backoff."""
        hdrs = dict(headers or {})
        if self.auth:
            hdrs["Authorization"] = self.auth
        attempts = self.options.retries + 1 if retry else 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.options.backoff * 2 ** (attempt - 1))
            try:
                req = self.http.build_request(method, self.base + path, headers=hdrs)
                resp = self.http.send(req, stream=True)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                resp.close()
                continue
            return resp
        raise DownloadFailed(f"registry {self.ref.registry} {path}: {last} after {attempts} attempt(s)")

    def check_access(self) -> None:
        """Prove the credentials work: an authenticated `GET /v2/` must answer 200.

        The probe alone does not show it for Basic auth, where the header is built without a round trip.
        """
        resp = self._send("GET", "/v2/", retry=False)
        resp.close()
        if resp.status_code in (401, 403):
            raise AuthenticationFailed(f"registry {self.ref.registry} refused the credentials")
        if resp.status_code != 200:
            raise DownloadFailed(f"registry {self.ref.registry} /v2/: HTTP {resp.status_code}")

    def paged(
        self,
        path: str,
        key: str,
        page_size: int = 1000,
        limit: int = 100_000,
        *,
        max_pages: int = MAX_PAGES,
        deadline: float | None = None,
    ) -> list[str]:
        """A paginated name list (`_catalog` repositories, `tags/list` tags), following `Link: rel=next`.

        The registry is not trusted to end its list: a page without names ends it, a `next` link seen
        before is a cycle, and more than `max_pages` pages or a passed `deadline` (monotonic) is an
        error rather than a sync that requests forever.
        """
        out: list[str] = []
        nxt: str | None = f"{path}?n={page_size}"
        seen: set[str] = set()
        pages = 0
        while nxt is not None and len(out) < limit:
            if pages >= max_pages:
                raise DownloadFailed(f"registry {self.ref.registry} {path}: more than {max_pages} pages")
            if deadline is not None and time.monotonic() > deadline:
                raise DownloadFailed(f"registry {self.ref.registry} {path}: listing exceeded its time budget")
            seen.add(nxt)
            pages += 1
            data, headers = self.get_small(nxt)
            names = load_json(data, key).get(key) or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CorruptImage(f"registry {self.ref.registry} {path}: {key!r} is not a list of names")
            if not names:
                break
            out.extend(names)
            nxt = _next_link(headers.get("link", ""))
            if nxt in seen:
                break
        return out[:limit]

    def get(self, path: str, accept: str = "") -> httpx.Response:
        resp = self._send("GET", path, headers={"Accept": accept} if accept else None)
        if resp.status_code == 401:
            resp.close()
            self._authenticate(resp.headers.get("www-authenticate", ""))
            resp = self._send("GET", path, headers={"Accept": accept} if accept else None)
        if resp.status_code in (401, 403):
            resp.close()
            raise AuthenticationFailed(
                f"registry {self.ref.registry} refused access to {self.ref.repository}"
            )
        if resp.status_code == 404:
            resp.close()
            raise ImageNotFound(
                f"{self.ref.registry}/{self.ref.repository}: {path.rsplit('/', 1)[-1]} not found"
            )
        if resp.status_code != 200:
            resp.close()
            raise DownloadFailed(f"registry {self.ref.registry} {path}: HTTP {resp.status_code}")
        return resp

    def get_small(self, path: str, accept: str = "") -> tuple[bytes, httpx.Headers]:
        resp = self.get(path, accept)
        try:
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > MAX_METADATA_BYTES:
                    raise CorruptImage(f"{path} is larger than {MAX_METADATA_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise DownloadFailed(f"registry {self.ref.registry} {path}: {exc}") from None
        finally:
            resp.close()
        return bytes(buf), resp.headers

    def manifest(self, reference: str) -> tuple[str, bytes, str]:
        """(digest, bytes, media type); pinned digests and Docker-Content-Digest are both verified."""
        data, headers = self.get_small(f"/v2/{self.ref.repository}/manifests/{reference}", ACCEPT)
        if reference.startswith(("sha256:", "sha512:")):
            verify_digest(data, reference, f"manifest {reference}")
            digest = reference
        else:
            digest = sha256_digest(data)
            header = headers.get("docker-content-digest", "")
            if header:
                verify_digest(data, header, f"manifest {self.ref.named}")
        kind = manifest_kind(load_json(data, "manifest"), headers.get("content-type", "").split(";")[0])
        return digest, data, kind

    def blob(self, digest: str) -> bytes:
        data, _ = self.get_small(f"/v2/{self.ref.repository}/blobs/{digest}")
        verify_digest(data, digest, f"blob {digest}")
        return data

    def open_blob(self, digest: str, size: int) -> BinaryIO:
        resp = self.get(f"/v2/{self.ref.repository}/blobs/{digest}")
        return verified(
            cast(BinaryIO, _ResponseStream(resp, self.ref.registry)), digest, size, f"layer {digest}"
        )


_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def _next_link(header: str) -> str | None:
    """The path+query of a `Link: <...>; rel="next"` header; absolute URLs are reduced to their path."""
    match = _LINK_RE.search(header)
    if match is None:
        return None
    parts = urlsplit(match.group(1))
    if not parts.path.startswith("/v2/"):
        return None
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class _ResponseStream(io.RawIOBase):
    def __init__(self, resp: httpx.Response, registry: str) -> None:
        self._resp = resp
        self._it: Iterator[bytes] = resp.iter_bytes(_CHUNK)
        self._buf = b""
        self._registry = registry

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                nxt = next(self._it, None)
            except httpx.HTTPError as exc:
                raise DownloadFailed(f"registry {self._registry}: blob download broke off: {exc}") from None
            if nxt is None:
                return 0
            self._buf = nxt
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._resp.close()
        super().close()


class RegistryHandle(ImageHandle):
    def __init__(self, ref: ImageRef, image: Image, client: RegistryClient) -> None:
        super().__init__(ref, image)
        self.client = client

    def open_layer(self, layer: Layer) -> BinaryIO:
        return self.client.open_blob(layer.digest, layer.size)

    def close(self) -> None:
        self.client.close()


def _top(client: RegistryClient, ref: ImageRef) -> tuple[str, bytes, str]:
    return client.manifest(ref.digest or ref.tag or "latest")


class DistributionSource(Source):
    transport = Transport.REGISTRY

    def open(self, ref: ImageRef, options: SourceOptions) -> ImageHandle:
        client = RegistryClient(ref, options)
        try:
            digest, data, kind = _top(client, ref)
            if kind in INDEX_TYPES:
                chosen = select_platform(load_json(data, "index"), options.platform)
                digest, data, kind = client.manifest(chosen.digest)
                if kind in INDEX_TYPES:
                    raise CorruptImage("image index points at another index for a platform")
            manifest = parse_manifest(data, kind)
            config = client.blob(manifest.config.digest)
            image = build_image(
                digest,
                manifest,
                config,
                repo_tags=(ref.named,) if ref.tag else (),
                repo_digests=(f"{ref.name}@{digest}",),
            )
            check_image_size(image, options)
        except BaseException:
            client.close()
            raise
        return RegistryHandle(ref, image, client)

    def platforms(self, ref: ImageRef, options: SourceOptions) -> list[Platform]:
        client = RegistryClient(ref, options)
        try:
            _, data, kind = _top(client, ref)
            if kind in INDEX_TYPES:
                return index_platforms(load_json(data, "index"))
            manifest = parse_manifest(data, kind)
            config = load_json(client.blob(manifest.config.digest), "image config")
            return [
                Platform(
                    str(config.get("os", "")),
                    str(config.get("architecture", "")),
                    str(config.get("variant", "")),
                )
            ]
        finally:
            client.close()
