"""A running service per database, seeded through `services.results.record_scan` with real-looking
Debian/npm inventories, two enterprise projects and a second tenant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkhss.v5 import HssClient

from openhss.db.engine import transaction
from openhss.db.models import Container, Host, Image, ImageHost
from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Role, Severity, VulType
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.services import identity, results
from tests.support.service import BACKENDS, PROJECT, Service, service_on

OTHER_PROJECT = "projbbbbbbbbbbbbbbbb"
OTHER_AK = "OTHERTENANTAK0000001"
OTHER_SK = "other-tenant-sk-" + "y" * 24
EP_AK = "EPONLYAK000000000001"
EP_SK = "ep-only-sk-" + "z" * 28
READER_AK = "APIREADERAK000000001"
READER_SK = "api-reader-sk-" + "r" * 26
LAYER1 = "sha256:" + "1" * 64
LAYER2 = "sha256:" + "2" * 64


@dataclass(frozen=True, slots=True)
class Seeded:
    svc: Service
    images: dict[str, int]  # name → image pk


def sdk(svc: Service, project: str = PROJECT, ak: str | None = None, sk: str | None = None) -> HssClient:
    return (
        HssClient.new_builder()
        .with_credentials(BasicCredentials(ak or svc.ak, sk or svc.sk, project))
        .with_endpoints([svc.base_url])
        .build()
    )


def deb(name: str, version: str, layer: str = LAYER1) -> Package:
    return Package(
        name=name,
        version=version,
        ecosystem=Ecosystem.DEBIAN,
        type=PackageType.DEB,
        purl=f"pkg:deb/debian/{name}@{version}?distro=debian-12",
        path="var/lib/dpkg/status",
        layer_digest=layer,
        source_name=name,
    )


def vul(
    vul_id: str, pkg: Package, severity: Severity, fixed: str = "", vtype: VulType = VulType.LINUX
) -> VulnerabilityFinding:
    return VulnerabilityFinding(
        vul_id=vul_id,
        package_name=pkg.name,
        package_version=pkg.version,
        ecosystem=pkg.ecosystem,
        severity=severity,
        type=vtype,
        fixed_version=fixed,
        status="fixed" if fixed else "unfixed",
        cvss_score=7.5,
        path=pkg.path,
        layer_digest=pkg.layer_digest,
        description=f"{vul_id} in {pkg.name}",
    )


OPENSSL = deb("openssl", "3.0.11-1~deb12u2")
LIBSSL = deb("libssl3", "3.0.11-1~deb12u2")
ZLIB = deb("zlib1g", "1:1.2.13.dfsg-1")
BASH = deb("bash", "5.2.15-2+b2")
LODASH = Package(
    name="lodash",
    version="4.17.20",
    ecosystem=Ecosystem.NPM,
    type=PackageType.NPM,
    purl="pkg:npm/lodash@4.17.20",
    path="app/node_modules/lodash/package.json",
    layer_digest=LAYER2,
    licenses=("MIT",),
)


def nginx_inventory() -> Inventory:
    return Inventory(
        os=OSInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"),
        packages=[BASH, LIBSSL, OPENSSL, ZLIB, LODASH],
        files=[
            FileRecord("usr/sbin/nginx", 1_234_567, 0o755, 0, 0, "executable", "a" * 64, LAYER1),
            FileRecord("usr/bin/passwd", 68_248, 0o4755, 0, 0, "setuid", "b" * 64, LAYER1),
        ],
        findings=[
            Finding(
                FindingKind.SECRET,
                "aws-access-key-id",
                Severity.HIGH,
                "AWS access key",
                path="app/.env",
                layer_digest=LAYER2,
                line=3,
                evidence="AKIA************MPLE",
            ),
            Finding(
                FindingKind.MALWARE,
                "clamav:Eicar-Signature",
                Severity.HIGH,
                "Eicar-Signature",
                path="tmp/eicar.com",
                layer_digest=LAYER2,
            ),
            Finding(FindingKind.BASELINE, "empty-password", Severity.MEDIUM, "root has an empty password"),
        ],
    )


NGINX_VULS = [
    vul("CVE-2023-5678", OPENSSL, Severity.MEDIUM, "3.0.13-1~deb12u1"),
    vul("CVE-2023-5678", LIBSSL, Severity.MEDIUM, "3.0.13-1~deb12u1"),
    vul("CVE-2024-0727", OPENSSL, Severity.LOW, "3.0.13-1~deb12u1"),
    vul("CVE-2023-45853", ZLIB, Severity.CRITICAL),
    vul("CVE-2021-23337", LODASH, Severity.HIGH, "4.17.21", VulType.APP),
]
BUILD_RISK = Finding(
    FindingKind.BUILD_COMMAND_RISK,
    "curl-pipe-shell",
    Severity.HIGH,
    "remote script piped to a shell",
    remediation="download, verify, then run",
)
LICENCE = Finding(
    FindingKind.NON_COMPLIANT_APP,
    "agpl-3.0",
    Severity.MEDIUM,
    "ghostscript",
    path="usr/bin/gs",
    evidence="10.0.0",
)


def _seed(svc: Service) -> dict[str, int]:
    pks: dict[str, int] = {}
    with transaction(svc.runtime.sessions) as s:
        identity.create_project(s, "tenant-b", OTHER_PROJECT)
        identity.create_enterprise_project(s, PROJECT, "ep-prod", "prod")
        identity.create_user(s, "tenant-b-admin", Role.OPERATOR, "tenant-b-pass-1")
        identity.grant(s, "tenant-b-admin", OTHER_PROJECT)
        identity.create_access_key(s, svc.runtime.box, "tenant-b-admin", pair=(OTHER_AK, OTHER_SK))
        identity.create_user(s, "prod-operator", Role.OPERATOR, "prod-pass-12")
        identity.grant(s, "prod-operator", PROJECT, "ep-prod")
        identity.create_access_key(s, svc.runtime.box, "prod-operator", pair=(EP_AK, EP_SK))
        identity.create_user(s, "api-reader", Role.READ_ONLY, "reader-pass-12")
        identity.grant(s, "api-reader", PROJECT)
        identity.create_access_key(s, svc.runtime.box, "api-reader", pair=(READER_AK, READER_SK))

        h1 = Host(
            project_id=PROJECT,
            agent_id="agent-1",
            host_id="ecs-1",
            host_name="web-node-1",
            private_ip="192.168.0.10",
            public_ip="100.64.0.10",
            cluster_id="cce-1",
            cluster_name="prod",
        )
        h2 = Host(
            project_id=PROJECT,
            agent_id="agent-2",
            host_id="ecs-2",
            host_name="batch-node-2",
            private_ip="192.168.0.20",
            public_ip="",
        )
        hb = Host(
            project_id=OTHER_PROJECT,
            agent_id="agent-b",
            host_id="ecs-b",
            host_name="b-node",
            private_ip="10.0.0.5",
        )
        s.add_all([h1, h2, hb])
        s.flush()
        specs = [
            ("nginx", "1.25", PROJECT, "0", [h1, h2], "local"),
            ("redis", "7.2", PROJECT, "0", [h2], "local"),
            ("payments/api", "2.0", PROJECT, "ep-prod", [h1], "local"),
            ("library/nginx", "1.25", PROJECT, "0", [], "registry"),
            ("nginx", "1.25", OTHER_PROJECT, "0", [hb], "local"),
        ]
        for i, (name, version, project, ep, hosts, kind) in enumerate(specs):
            img = Image(
                project_id=project,
                enterprise_project_id=ep,
                image_type=kind,
                image_id=f"sha256:{i + 1:064x}",
                image_digest=f"sha256:{i + 101:064x}",
                image_name=name,
                image_version=version,
                image_size=50_000_000 + i,
                latest_update_time=1_700_000_000_000 + i,
                agent_id=hosts[0].agent_id if hosts else "",
                cluster_id="cce-1" if h1 in hosts else "",
                registry_name="swr-cn-north-4" if kind == "registry" else "",
                registry_type="SwrPrivate" if kind == "registry" else "",
                organization="library" if kind == "registry" else "",
                host_num=len(hosts),
            )
            s.add(img)
            s.flush()
            for h in hosts:
                s.add(ImageHost(image_pk=img.id, host_pk=h.id))
            key = f"{project}:{name}:{kind}"
            pks[key] = img.id
        s.flush()
        nginx = pks[f"{PROJECT}:nginx:local"]
        for n, (host, pod) in enumerate([(h1, "web-7d9f"), (h2, "")]):
            s.add(
                Container(
                    project_id=PROJECT,
                    host_pk=host.id,
                    image_pk=nginx,
                    container_id=f"c0ffee{n}",
                    container_name=f"web-{n}",
                    pod_id=f"pod-{n}" if pod else "",
                    pod_name=pod,
                    entry_point="nginx -g 'daemon off;'",
                )
            )
        s.get_one(Image, nginx).container_num = 2
        # Every image gets a scan; the second tenant's nginx the same results as ours.
        for key, pk in pks.items():
            if key.endswith(":redis:local"):
                inv = Inventory(os=OSInfo("debian", "12"), packages=[BASH, ZLIB])
                results.record_scan(
                    s, pk, inv, [vul("CVE-2023-45853", ZLIB, Severity.CRITICAL)], scanned_at=1_700_000_500_000
                )
            else:
                results.record_scan(
                    s, pk, nginx_inventory(), NGINX_VULS, [BUILD_RISK, LICENCE], scanned_at=1_700_000_600_000
                )
    return pks


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with service_on(request.param, tmp_path_factory.mktemp("api")) as svc:
        yield Seeded(svc, _seed(svc))
