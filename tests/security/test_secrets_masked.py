"""Secrets planted in an image (generated here) never appear raw anywhere openhss puts them: the
report in every output format, the logs of the scan at DEBUG, the stored results, and the API
that lists them. Each check first asserts the secret *was* found, so a scan that finds nothing
cannot pass by accident.
"""

from __future__ import annotations

import logging
import secrets
import string
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from openhss.cli_scan import OutputFormat, render
from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ImageFinding
from openhss.domain.enums import FindingKind, ScanScope
from openhss.domain.report import ImageReport
from openhss.scan.applier import Inventory
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services import results
from openhss.services.scanning import build_pipeline, scan_image
from tests.scan_sources.builders import LayerSpec, build_oci
from tests.support.service import PROJECT, Service

from .conftest import send, signed

ALNUM = string.ascii_letters + string.digits


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    found = {
        "aws": "AKIA" + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        "github": "ghp_" + _rand(ALNUM, 36),
        "stripe": "sk_live_" + _rand(ALNUM, 24),
        "pem": pem.splitlines()[1],  # a line of the key body: none of it may leak
    }
    env_password = _rand(ALNUM, 18)
    layer = (
        LayerSpec("RUN add config")
        .add_bytes("etc/os-release", b"ID=debian\nVERSION_ID=12\n")
        .add_bytes("app/.env", f"AWS_ACCESS_KEY_ID={found['aws']}\nGITHUB_TOKEN={found['github']}\n".encode())
        .add_bytes("app/settings.js", f"module.exports = {{ stripe: '{found['stripe']}' }}\n".encode())
        .add_bytes("root/.ssh/id_ecdsa", pem.encode(), 0o600)
    )
    out = tmp_path_factory.mktemp("planted") / "img"
    config = {"User": "root", "Env": [f"DB_PASSWORD={env_password}"], "Cmd": ["/bin/sh"]}
    build_oci(out, [layer], config_extra=config)
    return out, {**found, "env_password": env_password}


@pytest.fixture(scope="module")
def report_and_logs(planted: tuple[Path, dict[str, str]]) -> tuple[ImageReport, str]:
    image, _ = planted
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        scope = ScanScope.ALL & ~ScanScope.VULNERABILITY
        options = build_pipeline(scope, settings=Settings(data_dir=image.parent / "data"))
        report = scan_image(parse_ref(f"oci:{image}:app"), SourceOptions(), options)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return report, "\n".join(handler.lines)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _assert_absent(text: str, values: dict[str, str], where: str) -> None:
    leaked = [name for name, value in values.items() if value in text]
    assert not leaked, f"raw {leaked} in {where}"


def test_secrets_are_found(report_and_logs: tuple[ImageReport, str]) -> None:
    report, _ = report_and_logs
    paths = {f.path for f in report.findings if f.kind is FindingKind.SECRET}
    assert {"app/.env", "app/settings.js", "root/.ssh/id_ecdsa"} <= paths, paths


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_no_output_format_carries_a_raw_secret(
    report_and_logs: tuple[ImageReport, str], planted: tuple[Path, dict[str, str]], fmt: OutputFormat
) -> None:
    report, _ = report_and_logs
    text = render(report, fmt)
    assert "app/.env" in text or fmt in (OutputFormat.CYCLONEDX, OutputFormat.SPDX)
    _assert_absent(text, planted[1], f"{fmt.value} output")


def test_debug_logs_of_the_scan_carry_no_raw_secret(
    report_and_logs: tuple[ImageReport, str], planted: tuple[Path, dict[str, str]]
) -> None:
    _, logs = report_and_logs
    _assert_absent(logs, planted[1], "DEBUG logs")


def test_stored_results_and_api_lists_carry_no_raw_secret(
    report_and_logs: tuple[ImageReport, str], planted: tuple[Path, dict[str, str]], pg_service: Service
) -> None:
    report, _ = report_and_logs
    image_id = "sha256:" + secrets.token_hex(32)
    with transaction(pg_service.runtime.sessions) as s:
        img = Image(project_id=PROJECT, image_type="local", image_id=image_id, image_name="planted")
        s.add(img)
        s.flush()
        inventory = Inventory(
            os=report.os, packages=report.packages, files=report.files, findings=report.findings
        )
        results.record_scan(s, img.id, inventory, [])
        pk = img.id
    with transaction(pg_service.runtime.sessions) as s:
        stored = [
            " ".join(str(getattr(row, c.key)) for c in ImageFinding.__table__.columns)
            for row in s.scalars(select(ImageFinding).where(ImageFinding.image_pk == pk))
        ]
    assert any("app/.env" in row for row in stored)
    _assert_absent("\n".join(stored), planted[1], "image_findings rows")
    query = "image_type=local&limit=200&offset=0"
    url, headers, raw = signed(pg_service, "GET", f"/v5/{PROJECT}/image/{image_id}/sensitive?{query}")
    resp = send("GET", url, headers, raw)
    assert resp.status_code == 200, resp.text
    assert resp.json()["total_num"] >= 3, resp.text
    _assert_absent(resp.text, planted[1], "GET .../sensitive")
