"""Huawei Cloud `SDK-HMAC-SHA256` request signing, both sides.

The server verifies what `huaweicloudsdkcore`'s `Signer` produced (spec §2.3), so the canonical form
must match the SDK's byte for byte: the *raw* request path re-encoded per segment and always ending in
`/`, the query sorted and RFC 3986 encoded, only the headers listed in `SignedHeaders`, and the hex
SHA-256 of the exact body bytes. The same functions sign requests made by our own agent and CLI.

The SDK lets a client put its own payload hash in `X-Sdk-Content-Sha256` (and writes
`UNSIGNED-PAYLOAD` there for non-JSON bodies). The server never takes that claim in place of the body:
a signature then would cover a hash, not the bytes that arrived, and a captured request could carry
any other body. The header is accepted only when it is signed and equals the received body's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


class SignatureError(ValueError):
    """The Authorization header is missing, malformed or does not cover the required headers."""


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def canonical_uri(raw_path: str) -> str:
    segments = urllib.parse.unquote(raw_path).split("/")
    path = "/".join(urllib.parse.quote(seg, safe="~") for seg in segments)
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}" for k, v in pairs)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """`headers` must have lower-case names."""
    canon_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            canon_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(sdk_date: str, creq: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(creq.encode()).hexdigest()}"


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> ParsedAuthorization:
    if not value.startswith(ALGORITHM + " "):
        raise SignatureError(f"Authorization must use {ALGORITHM}")
    parts: dict[str, str] = {}
    for item in value[len(ALGORITHM) + 1 :].split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise SignatureError("malformed Authorization header")
        parts[key] = val
    try:
        access = parts["Access"]
        signed = tuple(h for h in parts["SignedHeaders"].split(";") if h)
        signature = parts["Signature"]
    except KeyError as exc:
        raise SignatureError(f"Authorization header lacks {exc.args[0]}") from exc
    if not access or not signature:
        raise SignatureError("Authorization header has an empty Access or Signature")
    if "host" not in signed or "x-sdk-date" not in signed:
        raise SignatureError("SignedHeaders must include host and x-sdk-date")
    if list(signed) != sorted(signed) or any(h != h.lower() for h in signed):
        raise SignatureError("SignedHeaders must be lower-case and sorted")
    return ParsedAuthorization(access, signed, signature)


def parse_sdk_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError("X-Sdk-Date must be YYYYMMDDTHHMMSSZ") from exc


def payload_hash(headers: Mapping[str, str], signed_headers: tuple[str, ...], body: bytes) -> str:
    """The hash the canonical request must carry: always the received body's own SHA-256."""
    actual = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-sdk-content-sha256")
    if claimed is None:
        return actual
    if "x-sdk-content-sha256" not in signed_headers:
        raise SignatureError("X-Sdk-Content-Sha256 must be a signed header")
    if not hmac.compare_digest(claimed.strip().encode(), actual.encode()):
        raise SignatureError(
            "X-Sdk-Content-Sha256 must be the SHA-256 of the request body (no unsigned payloads)"
        )
    return actual


def expected_signature(
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    """Raises `SignatureError` when a client-supplied payload hash is not the body's own."""
    digest = payload_hash(headers, signed_headers, body)
    creq = canonical_request(method, raw_path, raw_query, headers, signed_headers, digest)
    return hmac_hex(secret_key, string_to_sign(headers["x-sdk-date"], creq))


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison so response timing does not reveal how much of a forgery was right."""
    return hmac.compare_digest(expected.encode(), given.encode())


def sign(
    access_key: str,
    secret_key: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers to add to a request so a server (ours or Huawei's) accepts it; mirrors the SDK's Signer."""
    parsed = urllib.parse.urlsplit(url)
    out = {k.lower(): v for k, v in headers.items()}
    out.setdefault("host", parsed.netloc)
    out["x-sdk-date"] = (now or datetime.now(UTC)).strftime(DATE_FORMAT)
    signed = tuple(sorted(h for h in out if "_" not in h))
    signature = expected_signature(secret_key, method, parsed.path or "/", parsed.query, out, signed, body)
    return {
        "X-Sdk-Date": out["x-sdk-date"],
        "Authorization": f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}",
    }
