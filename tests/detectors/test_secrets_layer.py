"""Secrets planted in a test layer (generated at test time) are found with the right rule and masked."""

from __future__ import annotations

import secrets
import string

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openhss.domain.enums import FindingKind
from openhss.scan.analyzers.secrets import SecretAnalyzer, default_engine, mask, shannon_entropy
from openhss.scan.checks.base import CheckContext
from openhss.scan.checks.image_config import ImageConfigCheck

from .helpers import file, image_config, scan_layers

UPPER = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def rand(alphabet: str, n: int) -> str:
    # Retry until the sample clears the rules' entropy floors (a random draw almost always does).
    while True:
        s = "".join(secrets.choice(alphabet) for _ in range(n))
        if shannon_entropy(s.encode()) > 3.6:
            return s


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_planted_secrets_found_masked_with_right_rule() -> None:
    aws = "AKIA" + rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    ghp = "ghp_" + rand(ALNUM, 36)
    hw_ak, hw_sk = rand(UPPER, 20), rand(ALNUM, 40)
    tencent = "AKID" + rand(ALNUM, 32)
    stripe = "sk_live_" + rand(ALNUM, 24)
    digits = "".join(secrets.choice(string.digits) for _ in range(24))
    slack = f"xoxb-{digits[:12]}-{digits[12:]}-{rand(ALNUM, 24)}"
    db_pw = rand(ALNUM, 14) + "!"
    key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    eckey = pem(ec.generate_private_key(ec.SECP256R1()))
    planted = {
        ("app/.env", "aws-access-token"): aws,
        ("app/deploy.sh", "github-pat"): ghp,
        ("etc/hwcloud/credentials.ini", "huaweicloud-access-key-id"): hw_ak,
        ("etc/hwcloud/credentials.ini", "huaweicloud-secret-access-key"): hw_sk,
        ("opt/app/config.py", "tencent-cloud-secret-id"): tencent,
        ("opt/app/settings.js", "stripe-access-token"): stripe,
        ("opt/app/notify.yaml", "slack-bot-token"): slack,
        ("srv/app/config/database.yml", "password-in-config"): db_pw,
        ("root/.ssh/id_rsa", "private-key"): key.splitlines()[1],
        ("srv/tls/server.key", "private-key"): eckey.splitlines()[1],
    }
    layer = [
        file("app/.env", f"# generated\nAWS_ACCESS_KEY_ID={aws}\nREGION=eu-west-1\n"),
        file("app/deploy.sh", f"#!/bin/sh\ngit clone https://{ghp}@github.com/acme/app.git\n", 0o755),
        file(
            "etc/hwcloud/credentials.ini",
            f"[default]\nhuaweicloud_access_key = {hw_ak}\nhuaweicloud_secret_key = {hw_sk}\n",
        ),
        file("opt/app/config.py", f'TENCENT_SECRET_ID = "{tencent}"\n'),
        file("opt/app/settings.js", f"module.exports = {{ stripeKey: '{stripe}' }};\n"),
        file("opt/app/notify.yaml", f"slack:\n  token: {slack}\n"),
        file("srv/app/config/database.yml", f"production:\n  adapter: postgresql\n  password: {db_pw}\n"),
        file("root/.ssh/id_rsa", key, 0o600),
        file("srv/tls/server.key", eckey, 0o600),
        file("srv/tls/keystore.p12", secrets.token_bytes(512), 0o600),
        # Same secret in documentation and in a binary: excluded path / binary guard, not reported.
        file("usr/share/doc/app/README", f"AWS_ACCESS_KEY_ID={aws}\n"),
        file("opt/app/blob.bin", b"\x00\x01" + aws.encode()),
    ]
    inv = scan_layers([layer], [SecretAnalyzer])
    found = {(f.path, f.rule_id): f for f in inv.findings if f.kind is FindingKind.SECRET}
    for (path, rule), secret in planted.items():
        assert (path, rule) in found, f"{rule} not found in {path}; got {sorted(found)}"
        f = found[(path, rule)]
        assert secret not in f.evidence, f"raw secret leaked in evidence of {rule}"
        assert f.line >= 1 and f.layer_digest.startswith("sha256:")
    assert not [f for f in inv.findings if f.path.startswith("usr/share/doc/") or f.path.endswith(".bin")]
    # A key store is reported by its path alone (gitleaks' pkcs12-file rule), binary or not.
    assert ("srv/tls/keystore.p12", "pkcs12-file") in found
    assert found[("app/.env", "aws-access-token")].evidence == f"AWS_ACCESS_KEY_ID={mask(aws)}"
    print(f"\n{len(found)} planted secrets found, {len(planted)} expected")


def test_secret_deleted_in_later_layer_is_still_reported() -> None:
    ghp = "ghp_" + rand(ALNUM, 36)
    inv = scan_layers(
        [[file("build/token.txt", f"GITHUB_TOKEN={ghp}\n")], [file("build/.wh.token.txt", b"")]],
        [SecretAnalyzer],
    )
    assert [f.rule_id for f in inv.findings] == ["github-pat"]


def test_secret_in_image_env() -> None:
    aws = "AKIA" + rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    pw = rand(ALNUM, 16)
    cfg = image_config(
        env=["PATH=/usr/bin", f"AWS_ACCESS_KEY_ID={aws}", f"DB_PASSWORD={pw}", "PASSWORD_FILE=/run/x"]
    )
    findings = [
        f for f in ImageConfigCheck().run(CheckContext(cfg)) if f.rule_id == "baseline-config-secret-in-env"
    ]
    assert len(findings) == 2
    assert all(aws not in f.evidence and pw not in f.evidence for f in findings)


def test_rules_compile_and_ids_unique() -> None:
    engine = default_engine()
    ids = [r.id for r in engine.rules]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 222  # at least gitleaks' default rule set
    for needed in (
        "huaweicloud-access-key-id",
        "alibaba-access-key-id",
        "tencent-cloud-secret-id",
        "aws-access-token",
        "gcp-api-key",
        "azure-storage-account-key",
        "private-key",
    ):
        assert needed in ids
