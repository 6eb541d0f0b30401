"""One live service with real scan results, and one headless Chromium, for the console's browser tests.

The main image is built here from generated content (Python packages with published advisories, a
planted AWS key, the EICAR string assembled at run time, a risky build step), scanned by the real
engine against the shared OSV PyPI data, and stored with `services.results.record_scan`, exactly what
a finished scan stores. A second image is left unscanned with a readable source: the console's scan
button queues it and the embedded worker (the one `openhss serve` runs) scans it for real.
Screenshots go to `tests/console/artifacts/` (git-ignored).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from openhss.config import RegistryTargets
from openhss.db.engine import transaction
from openhss.db.models import Container, Host, Image, ImageHost
from openhss.domain.enums import Role, ScanScope
from openhss.domain.report import ImageReport
from openhss.scan.applier import Inventory
from openhss.scan.refs import parse_ref
from openhss.scan.sources.base import SourceOptions
from openhss.services import identity, rematch, results
from openhss.services.scanning import build_pipeline, scan_image
from openhss.services.vulndb import VulnDbService
from openhss.worker.embedded import start_embedded_worker
from tests.scan_sources.builders import LayerSpec, build_oci
from tests.support.service import ADMIN_PASSWORD, PROJECT, Service, make_settings, running_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
READER = "auditor"
READER_PASSWORD = "auditor-pass-" + "for-tests"
SITE = "usr/local/lib/python3.11/site-packages"


@dataclass(frozen=True, slots=True)
class Seeded:
    svc: Service
    console: str
    local_pk: int
    registry_pk: int
    unscanned_pk: int
    agent_only_pk: int
    cicd_pk: int
    aws_key: str
    report: ImageReport


def _dist(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: Apache 2.0\n".encode()


def _eicar() -> bytes:
    return ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*").encode()


def _aws_key() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    while True:  # the rule wants an entropic key; a random draw almost always is
        tail = "".join(secrets.choice(alphabet) for _ in range(16))
        if len(set(tail)) >= 10:
            return "AKIA" + tail


def _build_image(root: Path, aws_key: str) -> Path:
    packages = [
        ("requests", "2.19.1"),
        ("urllib3", "1.24.1"),
        ("pyyaml", "5.3"),
        ("jinja2", "2.10"),
        ("langchain", "0.0.150"),
        ("duckdb", "0.9.0"),
    ]
    layer = LayerSpec("RUN pip install " + " ".join(f"{n}=={v}" for n, v in packages))
    for name, version in packages:
        layer.add_bytes(f"{SITE}/{name}-{version}.dist-info/METADATA", _dist(name, version))
    build_oci(
        root,
        [
            LayerSpec("ADD rootfs.tar /").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            layer,
            LayerSpec("RUN curl -fsSL https://get.example.test/install.sh | sh")
            .add_bytes(
                "app/.env", f"# deploy settings\nAWS_ACCESS_KEY_ID={aws_key}\nREGION=eu-west-1\n".encode()
            )
            .add_bytes("opt/tools/eicar.com", _eicar()),
            _baseline_layer(),
        ],
    )
    return root


#: `.deb` files left in apt's cache by the baseline layer: more rows than a page, all one rule.
CACHED_DEBS = 60


def _baseline_layer() -> LayerSpec:
    """An sshd that accepts empty passwords (Critical) beside a full apt cache (one Low per file, in two
    directories): the console must list the Critical first and the cache as one grouped row. Its
    Debian package is one no imported feed covers, so the coverage notices have something to say."""
    layer = (
        LayerSpec("RUN apt-get install -y openssh-server")
        .add_bytes("etc/ssh/sshd_config", b"PermitEmptyPasswords yes\nPermitRootLogin yes\n")
        # A Debian package no loaded feed covers (only PyPI is imported): a coverage notice to show.
        .add_bytes(
            "var/lib/dpkg/status",
            b"Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n"
            b"Architecture: amd64\n\n",
        )
    )
    for n in range(CACHED_DEBS):
        layer.add_bytes(f"var/cache/apt/archives/lib{n:02d}_1.0_amd64.deb", secrets.token_bytes(64))
    for name in ("deb.debian.org_debian_dists_bookworm_InRelease", "deb.debian.org_debian_Packages"):
        layer.add_bytes(f"var/lib/apt/lists/{name}", secrets.token_bytes(64))
    return layer


def _build_worker_image(root: Path) -> str:
    """A second image, scanned only when the console asks: the executor reads it from `source_ref`."""
    build_oci(
        root,
        [
            LayerSpec("ADD rootfs.tar /").add_bytes("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            LayerSpec("RUN pip install pyyaml==5.3").add_bytes(
                f"{SITE}/pyyaml-5.3.dist-info/METADATA", _dist("pyyaml", "5.3")
            ),
        ],
    )
    return f"oci:{root}:app"


def _seed(svc: Service, report: ImageReport, worker_ref: str) -> tuple[int, int, int, int, int]:
    inv = Inventory(os=report.os, packages=report.packages, files=report.files)
    with transaction(svc.runtime.sessions) as s:
        identity.create_user(s, READER, Role.READ_ONLY, READER_PASSWORD)
        identity.grant(s, READER, PROJECT)
        hosts = [
            Host(
                project_id=PROJECT,
                agent_id=f"agent-{n}",
                host_id=f"host-{n}",
                host_name=f"web-{n}",
                private_ip=f"10.0.0.{10 + n}",
                agent_status="online" if n == 1 else "offline",
                docker_type="docker",
                docker_name="Docker Engine",
                cluster_name="prod-cce" if n == 1 else "",
            )
            for n in (1, 2)
        ]
        s.add_all(hosts)
        s.flush()
        common = {"project_id": PROJECT, "image_size": report.image.size or 48_000_000}
        local = Image(
            **common,
            image_type="local",
            image_id=report.image.config_digest,
            image_digest=report.image.digest,
            image_name="shop/api",
            image_version="1.4.2",
            host_num=2,
            container_num=1,
        )
        registry = Image(
            **common,
            image_type="registry",
            image_id=report.image.digest,
            image_digest=report.image.digest,
            image_name="shop/api",
            image_version="1.4.2",
            registry_name="harbor-prod",
            registry_type="Harbor",
            organization="shop",
        )
        unscanned = Image(
            **common,
            image_type="local",
            image_id="sha256:" + "9" * 64,
            image_name="shop/worker",
            image_version="2.0.0",
            host_num=1,
            source_ref=worker_ref,
        )
        # Only its host's agent could read this one (no source): a scan of it waits for that agent.
        agent_only = Image(
            **common,
            image_type="local",
            image_id="sha256:" + "8" * 64,
            image_name="legacy/batch",
            image_version="0.9",
            host_num=1,
        )
        # A CI/CD pipeline's upload: scanned results only (packages), no source to pull again.
        cicd = Image(
            **common,
            image_type="cicd",
            image_id="sha256:" + "7" * 64,
            image_name="api",
            image_version="build-42",
            registry_name="shop-pipeline",
            organization="shop",
        )
        s.add_all([local, registry, unscanned, agent_only, cicd])
        s.flush()
        results.record_scan(s, cicd.id, inv, (), ())
        s.add_all([ImageHost(image_pk=local.id, host_pk=h.id) for h in hosts])
        s.add(ImageHost(image_pk=unscanned.id, host_pk=hosts[0].id))
        s.add(ImageHost(image_pk=agent_only.id, host_pk=hosts[1].id))
        s.add(
            Container(
                project_id=PROJECT,
                host_pk=hosts[0].id,
                image_pk=local.id,
                container_id="c0ffee" + "0" * 58,
                container_name="shop-api-1",
                pod_name="shop-api-7d9f",
                namespace="shop",
                entry_point="gunicorn app:app",
            )
        )
        for pk in (local.id, registry.id):
            results.record_scan(s, pk, inv, report.vulnerabilities, report.findings)
            # A finished scan also keeps the inventory (re-match and coverage read it).
            rematch.store_inventory(s, pk, inv, results.now_ms())
        return local.id, registry.id, unscanned.id, agent_only.id, cicd.id


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("console")
    settings = make_settings(tmp)
    VulnDbService.from_settings(settings).import_paths([shared_dir / "data/osv/PyPI.zip"])
    aws_key = _aws_key()
    image_dir = _build_image(tmp / "image", aws_key)
    report = scan_image(
        parse_ref(f"oci:{image_dir}:app"), SourceOptions(), build_pipeline(ScanScope.ALL, settings=settings)
    )
    worker_ref = _build_worker_image(tmp / "worker-image")
    # Registries the console adds in tests run on this host: loopback targets are allowed here.
    with running_service(tmp, registry_targets=RegistryTargets(allow_loopback=True)) as svc:
        pks = _seed(svc, report, worker_ref)
        worker = start_embedded_worker(svc.runtime.settings, concurrency=1)
        try:
            yield Seeded(svc, svc.base_url + "/console", *pks, aws_key, report)
        finally:
            worker.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (scripts/test-debs.txt lists it)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


VIEWPORT = {"width": 1280, "height": 800}


def log_in(page: Page, console: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto(console + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/console/(\?.*)?$"))


@pytest.fixture(scope="session")
def admin_state(browser: Browser, seeded: Seeded) -> dict[str, Any]:
    """Log in once through the form; tests reuse the session cookie (a password hash costs seconds)."""
    ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    log_in(ctx.new_page(), seeded.console)
    state = dict(ctx.storage_state())
    ctx.close()
    return state


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    yield ctx
    ctx.close()


@pytest.fixture
def page(browser: Browser, admin_state: dict[str, Any], seeded: Seeded) -> Iterator[Page]:
    ctx = browser.new_context(viewport=VIEWPORT, storage_state=admin_state)  # type: ignore[arg-type]
    p = ctx.new_page()
    p.goto(seeded.console + "/")
    yield p
    ctx.close()


def shoot(page: Page, name: str) -> None:
    """Light and dark screenshots of the current page (the theme toggle is what a user presses)."""
    page.emulate_media(color_scheme="light")
    page.evaluate("document.documentElement.dataset.theme = 'light'")
    page.screenshot(path=ARTIFACTS / f"{name}-light.png", full_page=True)
    page.evaluate("document.documentElement.dataset.theme = 'dark'")
    page.screenshot(path=ARTIFACTS / f"{name}-dark.png", full_page=True)
    page.evaluate("delete document.documentElement.dataset.theme")


def api_token(admin_state: dict[str, Any]) -> str:
    """The console's session cookie is an API token (`POST /v3/auth/tokens`); use it on the JSON API."""
    (cookie,) = admin_state["cookies"]
    return str(cookie["value"])


#: axe-core (npm), fetched once into a cache outside the repository; the accessibility test skips when
#: npm or its registry is unreachable.
AXE_VERSION = "4.14.1"
AXE_CACHE = Path.home() / ".cache" / "openhss-tests" / f"axe-core-{AXE_VERSION}"


@pytest.fixture(scope="session")
def axe_source() -> str:
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: axe-core cannot be fetched")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(AXE_CACHE),
                    "--no-audit",
                    "--no-fund",
                    f"axe-core@{AXE_VERSION}",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm could not install axe-core (registry unreachable?): {exc}")
    return script.read_text(encoding="utf-8")
