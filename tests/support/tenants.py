"""Tenants for isolation attacks: two projects × two enterprise projects, each with one of everything.

Every tenant owns a local image (host, container, packages, files, findings, vulnerabilities), a
registry and a registry image, a CI/CD image, a scan task with a waiting job, a finished export, a
whitelist rule, a re-match hit and an agent layer-cache entry, plus an operator and a read-only user.

Each tenant has `secrets`: strings stored in its rows that no attack ever sends (host name, container
name, package name, digests, task names, registry address, whitelist text, file path, evidence). Every
object kind shows at least one of them when it is listed, so "a response contains another tenant's
secret" is the read-leak oracle; `snapshot` (every tenant row and child row, as values) is the write
oracle. Ids the attacks send (image ids, task ids, agent ids ...) are in `Tenant` fields, not secrets,
because error messages may echo what was asked for.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, sessionmaker

from openhss.db.engine import transaction
from openhss.db.models import (
    Container,
    ExportTask,
    Host,
    Image,
    ImageFinding,
    ImageHost,
    ImageVulnerability,
    ImageVulOperation,
    ImageWhitelist,
    Registry,
    RegistryImage,
    ScanTask,
    ScanTaskImage,
    VulImageIndex,
)
from openhss.db.scheduling import LayerCacheEntry, RematchHit, RematchRun
from openhss.domain.enums import Ecosystem, FindingKind, PackageType, Role, Severity, VulType
from openhss.domain.models import FileRecord, Finding, OSInfo, Package
from openhss.domain.scope import Scope
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.analyzers.base import AnalysisResult
from openhss.scan.applier import Inventory
from openhss.scan.cache import encode
from openhss.scan.walk import LayerAnalysis
from openhss.services import agents, identity, results
from openhss.services.runtime import Runtime

#: A vulnerability every tenant's image has: vulnerability-keyed routes then reach every tenant's rows.
SHARED_VUL = "CVE-2023-45853"
SECOND_PROJECT = "projisolation000000b"
SECOND_EP = "ep2"


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    project: str
    ep: str
    operator_token: str
    readonly_token: str
    operator_password: str
    image_pk: int
    image_id: str
    image_name: str
    image_version: str
    agent_id: str
    host_id: str
    container_id: str
    registry_id: str
    registry_name: str
    registry_image_id: str
    cicd_name: str
    cicd_image_id: str
    scan_task_id: str
    job_pk: int
    export_task_id: str
    file_id: str
    whitelist_id: str
    finding_pk: int
    layer_key: str
    secrets: tuple[str, ...] = field(default=())

    @property
    def scope(self) -> Scope:
        return Scope(self.project, frozenset({self.ep}))


def layer_blob(diff_id: str, package: str) -> bytes:
    """An encoded layer analysis claiming `diff_id` holds one Debian package named `package`."""
    pkg = Package(package, "1.0", Ecosystem.DEBIAN, PackageType.DEB, f"pkg:deb/debian/{package}@1.0")
    return encode(LayerAnalysis(diff_id=diff_id, result=AnalysisResult(packages=[pkg]), analyzers={"os": 1}))


def _inventory(mark: str) -> tuple[Inventory, list[VulnerabilityFinding]]:
    layer = "sha256:" + _h(mark + "layer")
    zlib = Package(
        "zlib1g",
        "1:1.2.13.dfsg-1",
        Ecosystem.DEBIAN,
        PackageType.DEB,
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1",
        "var/lib/dpkg/status",
        layer,
        source_name="zlib",
    )
    own = Package(
        f"pkg-{mark}",
        "2.0",
        Ecosystem.NPM,
        PackageType.NPM,
        f"pkg:npm/pkg-{mark}@2.0",
        "app/package.json",
        layer,
    )
    inventory = Inventory(
        os=OSInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm"),
        packages=[zlib, own],
        files=[FileRecord(f"usr/bin/file-{mark}", 10, 0o755, 0, 0, "executable", "c" * 64, layer)],
        findings=[
            Finding(
                FindingKind.SECRET,
                "aws-access-key-id",
                Severity.HIGH,
                "key",
                f"app/env-{mark}",
                layer,
                1,
                f"evidence-{mark}",
            ),
            Finding(FindingKind.MALWARE, "clamav:Eicar", Severity.HIGH, "Eicar", f"tmp/eicar-{mark}", layer),
            Finding(FindingKind.BUILD_COMMAND_RISK, "curl-pipe-shell", Severity.HIGH, "curl | sh", "", layer),
        ],
    )
    vuls = [
        VulnerabilityFinding(
            vul_id=SHARED_VUL, package_name="zlib1g", package_version="1:1.2.13.dfsg-1",
            ecosystem=Ecosystem.DEBIAN, severity=Severity.CRITICAL, type=VulType.LINUX, fixed_version="",
            status="unfixed", cvss_score=9.8, path="var/lib/dpkg/status", layer_digest=layer,
            description="zlib",
        ),
        VulnerabilityFinding(
            vul_id="CVE-2021-23337", package_name=own.name, package_version="2.0", ecosystem=Ecosystem.NPM,
            severity=Severity.HIGH, type=VulType.APP, fixed_version="2.1", status="fixed", cvss_score=7.2,
            path=own.path, layer_digest=layer, description="app",
        ),
    ]  # fmt: skip
    return inventory, vuls


def seed_tenant(rt: Runtime, name: str, project: str, ep: str, run_pk: int) -> Tenant:
    """One tenant's users and data, written by the system (not through the API under test)."""
    mark = f"{name}{uuid.uuid4().hex[:10]}"
    password = "pw-" + uuid.uuid4().hex
    with transaction(rt.sessions) as s:
        tokens = []
        for role in (Role.OPERATOR, Role.READ_ONLY):
            user = identity.create_user(s, f"{role.value}-{mark}", role, password)
            identity.grant(s, user.name, project, ep)
            tokens.append(identity.issue_token(s, user, 7200, None, "password")[0])
        image = Image(
            project_id=project,
            enterprise_project_id=ep,
            image_type="local",
            image_id="sha256:" + _h(mark + "config"),
            image_digest="sha256:" + _h(mark + "digest"),
            image_name=f"img-{mark}",
            image_version="1.0",
            host_num=1,
            container_num=1,
        )
        host = Host(
            project_id=project,
            enterprise_project_id=ep,
            agent_id=f"agent-{mark}",
            host_id=f"hostid-{mark}",
            host_name=f"host-{mark}",
        )
        s.add_all([image, host])
        s.flush()
        s.add(ImageHost(image_pk=image.id, host_pk=host.id))
        s.add(
            Container(
                project_id=project,
                host_pk=host.id,
                image_pk=image.id,
                container_id=f"ctr-{mark}",
                container_name=f"ctrname-{mark}",
            )
        )
        inventory, vuls = _inventory(mark)
        results.record_scan(s, image.id, inventory, vuls)
        finding_pk = s.scalars(
            select(ImageFinding.id).where(
                ImageFinding.image_pk == image.id, ImageFinding.kind == FindingKind.SECRET.value
            )
        ).one()
        registry = Registry(
            registry_id=uuid.uuid4().hex,
            project_id=project,
            enterprise_project_id=ep,
            registry_name=f"reg-{mark}",
            registry_type="Harbor",
            registry_addr=f"addr-{mark}.invalid",
            password_encrypted=rt.box.encrypt("registry-password"),
            status="success",
        )
        s.add(registry)
        s.flush()
        reg_image = Image(
            project_id=project,
            enterprise_project_id=ep,
            image_type="registry",
            registry_name=registry.registry_name,
            registry_type="Harbor",
            image_id="sha256:" + _h(mark + "regconfig"),
            image_digest="sha256:" + _h(mark + "regdigest"),
            image_name=f"library/rimg-{mark}",
            image_version="2.0",
            organization="library",
        )
        cicd_image = Image(
            project_id=project,
            enterprise_project_id=ep,
            image_type="cicd",
            registry_name=f"cicd-{mark}",
            image_id="sha256:" + _h(mark + "cicdconfig"),
            image_digest="sha256:" + _h(mark + "cicddigest"),
            image_name=f"ci-{mark}",
            image_version="3.0",
        )
        s.add_all([reg_image, cicd_image])
        s.flush()
        s.add(
            RegistryImage(
                image_pk=reg_image.id, registry_pk=registry.id, repository="library/rimg", tag="2.0"
            )
        )
        results.record_scan(s, reg_image.id, inventory, vuls)
        results.record_scan(s, cicd_image.id, inventory, vuls)
        task = ScanTask(
            task_id=uuid.uuid4().hex,
            project_id=project,
            enterprise_project_id=ep,
            task_name=f"task-{mark}",
            image_type="local",
            total_num=1,
            create_time=results.now_ms(),
        )
        s.add(task)
        s.flush()
        job = ScanTaskImage(task_pk=task.id, image_pk=image.id, status="waiting_for_scan")
        s.add(job)
        export = ExportTask(
            task_id=uuid.uuid4().hex,
            project_id=project,
            enterprise_project_ids=json.dumps([ep]),
            task_name=f"export-{mark}",
            export_type="local-vulnerability",
            export_size=10,
            task_status="success",
            file_id=uuid.uuid4().hex,
            file_name=f"file-{mark}.csv",
            create_time=results.now_ms(),
        )
        whitelist = ImageWhitelist(
            whitelist_id=uuid.uuid4().hex,
            project_id=project,
            enterprise_project_id=ep,
            global_image_type="local",
            vul_type="linux_vul",
            vul_id="CVE-2000-0001",
            rule_type="all_images",
            description=f"whitelist-{mark}",
            create_time=results.now_ms(),
        )
        s.add_all([export, whitelist])
        s.add(
            RematchHit(run_pk=run_pk, project_id=project, image_pk=image.id, vul_ids=SHARED_VUL, found_time=1)
        )
        s.flush()
        layer_key = _h("shared-layer")  # every tenant's agents claim the same layer
        agents.put_layer(
            s, Scope(project, frozenset({ep})), layer_key, layer_blob("sha256:" + layer_key, f"lc-{mark}")
        )
        return Tenant(
            name=name,
            project=project,
            ep=ep,
            operator_token=tokens[0],
            readonly_token=tokens[1],
            operator_password=password,
            image_pk=image.id,
            image_id=image.image_id,
            image_name=image.image_name,
            image_version=image.image_version,
            agent_id=host.agent_id,
            host_id=host.host_id,
            container_id=f"ctr-{mark}",
            registry_id=registry.registry_id,
            registry_name=registry.registry_name,
            registry_image_id=reg_image.image_id,
            cicd_name=cicd_image.registry_name,
            cicd_image_id=cicd_image.image_id,
            scan_task_id=task.task_id,
            job_pk=job.id,
            export_task_id=export.task_id,
            file_id=export.file_id,
            whitelist_id=whitelist.whitelist_id,
            finding_pk=finding_pk,
            layer_key=layer_key,
            secrets=(
                f"host-{mark}",
                f"ctrname-{mark}",
                f"pkg-{mark}",
                f"file-{mark}",
                f"evidence-{mark}",
                f"eicar-{mark}",
                image.image_digest,
                reg_image.image_digest,
                cicd_image.image_digest,
                f"task-{mark}",
                f"export-{mark}",
                f"addr-{mark}",
                f"whitelist-{mark}",
                f"lc-{mark}",
            ),
        )


def seed_run(rt: Runtime) -> int:
    with transaction(rt.sessions) as s:
        run = RematchRun(status="finished", created_at=1, finished_at=2, changed=b"")
        s.add(run)
        s.flush()
        return run.id


def _rows(session: Session, stmt: Select[Any]) -> list[dict[str, Any]]:
    out = []
    for row in session.scalars(stmt):
        out.append({c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs})
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True, default=str))


#: Columns system sweeps may change while the attacks run (a heartbeat marks silent hosts offline).
_VOLATILE = {"agent_status", "last_heartbeat", "last_used_at"}


def snapshot(sessions: sessionmaker[Session], t: Tenant) -> dict[str, Any]:
    """Every row of `t` and every child row of its images, hosts and tasks, as plain values."""
    with transaction(sessions) as s:
        mine_img = select(Image.id).where(Image.project_id == t.project, Image.enterprise_project_id == t.ep)
        mine_host = select(Host.id).where(Host.project_id == t.project, Host.enterprise_project_id == t.ep)
        mine_task = select(ScanTask.id).where(
            ScanTask.project_id == t.project, ScanTask.enterprise_project_id == t.ep
        )
        snap: dict[str, Any] = {
            "images": _rows(s, select(Image).where(Image.id.in_(mine_img))),
            "hosts": _rows(s, select(Host).where(Host.id.in_(mine_host))),
            "containers": _rows(
                s,
                select(Container).where(
                    or_(Container.host_pk.in_(mine_host), Container.image_pk.in_(mine_img))
                ),
            ),
            "image_hosts": _rows(
                s,
                select(ImageHost).where(
                    or_(ImageHost.host_pk.in_(mine_host), ImageHost.image_pk.in_(mine_img))
                ),
            ),
            "vulnerabilities": _rows(
                s, select(ImageVulnerability).where(ImageVulnerability.image_pk.in_(mine_img))
            ),
            "index": _rows(s, select(VulImageIndex).where(VulImageIndex.image_pk.in_(mine_img))),
            "findings": _rows(s, select(ImageFinding).where(ImageFinding.image_pk.in_(mine_img))),
            "operations": _rows(s, select(ImageVulOperation).where(ImageVulOperation.image_pk.in_(mine_img))),
            "scan_tasks": _rows(s, select(ScanTask).where(ScanTask.id.in_(mine_task))),
            "jobs": _rows(
                s,
                select(ScanTaskImage).where(
                    or_(ScanTaskImage.task_pk.in_(mine_task), ScanTaskImage.image_pk.in_(mine_img))
                ),
            ),
            "registries": _rows(
                s,
                select(Registry).where(
                    Registry.project_id == t.project, Registry.enterprise_project_id == t.ep
                ),
            ),
            "whitelists": _rows(
                s,
                select(ImageWhitelist).where(
                    ImageWhitelist.project_id == t.project, ImageWhitelist.enterprise_project_id == t.ep
                ),
            ),
            "export": _rows(s, select(ExportTask).where(ExportTask.task_id == t.export_task_id)),
            "layer_cache": sorted(
                s.scalars(
                    select(LayerCacheEntry.key).where(
                        LayerCacheEntry.key == agents.agent_cache_key(t.project, t.ep, t.layer_key)
                    )
                )
            ),
        }
    for rows in snap.values():
        for row in rows:
            if isinstance(row, dict):
                for col in _VOLATILE & row.keys():
                    row[col] = None
    return snap


def leaked(text: str, others: list[Tenant]) -> list[str]:
    return [secret for t in others for secret in t.secrets if secret in text]


def each_pair(tenants: list[Tenant]) -> Iterator[tuple[Tenant, list[Tenant]]]:
    for t in tenants:
        yield t, [o for o in tenants if o is not t]
