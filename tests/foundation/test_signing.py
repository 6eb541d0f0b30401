"""SDK-HMAC-SHA256: the spec's fixed vectors (produced by the SDK's own Signer) must verify exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openhss.domain import signing

AK, SK = "TESTAK1234567890", "TESTSK0987654321abcdef"
BASE_HEADERS = {
    "content-type": "application/json",
    "x-project-id": "p-123",
    "x-sdk-date": "20250101T000000Z",
    "user-agent": "test-agent",
    "host": "127.0.0.1:8000",
}
V1 = (
    "SDK-HMAC-SHA256 Access=TESTAK1234567890, "
    "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
    "Signature=c21fb32c95a70d93d5fad774c72331b58ddfb2d1b31447c7bdfba451d16e8cc3"
)
V2 = (
    "SDK-HMAC-SHA256 Access=TESTAK1234567890, SignedHeaders=content-type;host;region;user-agent;x-project-id;"
    "x-sdk-date, Signature=d7064284aed1f77d75dbe80327da71ea0a85195ebdfb7ecb3302594d6c0c6bdf"
)
V1_PATH = "/v5/p-123/vulnerability/images"
V1_QUERY = "image_type=local&is_handled=false&limit=10&offset=0&type=linux_vul&vul_id=CVE-2024-0001"
V2_BODY = b'{"operate_all": true, "vul_type": "linux_vul"}'


def _verify(auth: str, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> bool:
    parsed = signing.parse_authorization(auth)
    expected = signing.expected_signature(SK, method, path, query, headers, parsed.signed_headers, body)
    return signing.signature_matches(expected, parsed.signature)


def test_vector_v1_verifies() -> None:
    assert _verify(V1, "GET", V1_PATH, V1_QUERY, BASE_HEADERS, b"")


def test_vector_v2_verifies_with_intermediates() -> None:
    headers = {**BASE_HEADERS, "region": "cn-north-4"}
    path, query = "/v5/p-123/image/local-vulnerability/export", "export_size=100"
    assert _verify(V2, "POST", path, query, headers, V2_BODY)
    import hashlib

    assert (
        hashlib.sha256(V2_BODY).hexdigest()
        == "e6e9aeb0d0fc271e2c0fd4e44ac306a0276cdbb653aa1fe28718775141f0038c"
    )
    signed = signing.parse_authorization(V2).signed_headers
    creq = signing.canonical_request(
        "POST", path, query, headers, signed, hashlib.sha256(V2_BODY).hexdigest()
    )
    assert signing.string_to_sign("20250101T000000Z", creq) == (
        "SDK-HMAC-SHA256\n20250101T000000Z\n0b18ea449dc14cb651d5f35da3b90935b60c43423cdd50b77baf79dca8c0bdc9"
    )


@pytest.mark.parametrize(
    ("mutation", "value"),
    [("body", b'{"operate_all": false, "vul_type": "linux_vul"}'), ("query", "export_size=101"), ("sk", "x")],
)
def test_any_change_breaks_v2(mutation: str, value: object) -> None:
    headers = {**BASE_HEADERS, "region": "cn-north-4"}
    path, query, body, sk = "/v5/p-123/image/local-vulnerability/export", "export_size=100", V2_BODY, SK
    if mutation == "body":
        body = value  # type: ignore[assignment]
    elif mutation == "query":
        query = value  # type: ignore[assignment]
    else:
        sk = value  # type: ignore[assignment]
    parsed = signing.parse_authorization(V2)
    expected = signing.expected_signature(sk, "POST", path, query, headers, parsed.signed_headers, body)
    assert not signing.signature_matches(expected, parsed.signature)


def test_sign_reproduces_v1() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    headers = {k: v for k, v in BASE_HEADERS.items() if k != "x-sdk-date"}
    out = signing.sign(AK, SK, "GET", f"http://127.0.0.1:8000{V1_PATH}?{V1_QUERY}", headers, b"", now)
    assert out["Authorization"] == V1
    assert out["X-Sdk-Date"] == "20250101T000000Z"


def test_canonical_uri_always_ends_in_slash_and_reencodes() -> None:
    assert signing.canonical_uri("/v5/a%20b/x") == "/v5/a%20b/x/"
    assert signing.canonical_uri("/v5/p/") == "/v5/p/"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        "SDK-HMAC-SHA256 Access=A, Signature=b",
        "SDK-HMAC-SHA256 Access=A, SignedHeaders=content-type;x-sdk-date, Signature=b",
        "SDK-HMAC-SHA256 Access=A, SignedHeaders=x-sdk-date;host, Signature=b",
        "SDK-HMAC-SHA256 garbage",
    ],
)
def test_malformed_authorization_is_rejected(header: str) -> None:
    with pytest.raises(signing.SignatureError):
        signing.parse_authorization(header)
