"""Read-only aggregates only the console shows (overview counts, charts, fleet pages).

The per-image and per-vulnerability lists come from the same service functions the API routers call;
what lives here are the summaries no HSS endpoint returns. Every query is scoped exactly as the API
scopes (project + enterprise projects) and groups in the database, never in Python.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from openhss.db.models import (
    Container,
    ExportTask,
    Host,
    Image,
    ImageApp,
    ImageFile,
    ImageFinding,
    ImageHost,
    ImageVulnerability,
    ScanTask,
    ScanTaskImage,
    VulImageIndex,
)
from openhss.db.tenancy import scoped
from openhss.domain.advisory import AffectedRecord, EventKind
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, FAILED_SCAN_STATUSES, FindingKind, ScanStatus, Severity
from openhss.services import scan_tasks
from openhss.services.identity import Scope
from openhss.services.images import scoped_images
from openhss.services.results import UNFIXED

#: Finding severity names as stored (`Severity` values), most urgent first.
SEVERITIES = ("Critical", "High", "Medium", "Low", "Unknown")
RANK_NAME = {4: "Critical", 3: "High", 2: "Medium", 1: "Low", 0: "Unknown"}
#: Image-level levels (HSS has no Critical there), most urgent first.
IMAGE_LEVELS = ("High", "Medium", "Low", "Security")
DAY_MS = 86_400_000
T = TypeVar("T")


def image_pks(scope: Scope) -> Select[tuple[int]]:
    return scoped_images(scope).with_only_columns(Image.id)


@dataclass(slots=True)
class ImageCounts:
    image_type: str
    total: int = 0
    scanned: int = 0
    failed: int = 0
    running: int = 0
    by_level: dict[str, int] = field(default_factory=lambda: dict.fromkeys(IMAGE_LEVELS, 0))


def image_counts(session: Session, scope: Scope) -> list[ImageCounts]:
    """Images per type: how many, how many scanned, and the scanned ones by image severity level."""
    rows = session.execute(
        scoped_images(scope)
        .with_only_columns(Image.image_type, Image.scan_status, Image.severity_level, func.count())
        .group_by(Image.image_type, Image.scan_status, Image.severity_level)
    ).all()
    out: dict[str, ImageCounts] = {}
    for image_type, status, level, n in rows:
        c = out.setdefault(image_type, ImageCounts(image_type))
        c.total += n
        if status == ScanStatus.SUCCESS.value:
            c.scanned += n
            c.by_level[level] = c.by_level.get(level, 0) + n
        elif status in FAILED_SCAN_STATUSES:
            c.failed += n
        elif status in ACTIVE_SCAN_STATUSES:
            c.running += n
    order = {"local": 0, "registry": 1, "cicd": 2}
    return sorted(out.values(), key=lambda c: order.get(c.image_type, 9))


def open_vulnerabilities_by_severity(session: Session, scope: Scope) -> dict[str, int]:
    """Unhandled (image, vulnerability) pairs per severity, from the index."""
    stmt = scoped(
        select(VulImageIndex.repair_necessity, func.count())
        .where(VulImageIndex.handled.is_(False))
        .group_by(VulImageIndex.repair_necessity),
        scope,
    )
    counts = dict.fromkeys(SEVERITIES, 0)
    for sev, n in session.execute(stmt).all():
        counts[sev if sev in counts else "Unknown"] += n
    return counts


@dataclass(frozen=True, slots=True)
class DayBucket:
    day_ms: int
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def findings_over_time(
    session: Session, scope: Scope, days: int = 14, now_ms: int | None = None
) -> list[DayBucket]:
    """Vulnerability findings first seen per day (UTC) and severity, for the last `days` days."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    today = now // DAY_MS
    start = (today - days + 1) * DAY_MS
    day = ImageVulnerability.first_found_time // DAY_MS
    rows = session.execute(
        scoped(
            select(day, ImageVulnerability.severity_rank, func.count())
            .where(
                ImageVulnerability.first_found_time >= start,
                ImageVulnerability.image_pk.in_(image_pks(scope)),
            )
            .group_by(day, ImageVulnerability.severity_rank),
            scope,
        )
    ).all()
    buckets = {d: dict.fromkeys(SEVERITIES, 0) for d in range(today - days + 1, today + 1)}
    for d, rank, n in rows:
        if int(d) in buckets:
            buckets[int(d)][RANK_NAME.get(rank, "Unknown")] += n
    return [DayBucket(d * DAY_MS, c) for d, c in sorted(buckets.items())]


@dataclass(frozen=True, slots=True)
class PackageRisk:
    app_name: str
    vul_count: int
    image_count: int
    worst: str


def top_vulnerable_packages(session: Session, scope: Scope, limit: int = 8) -> list[PackageRisk]:
    """Packages with the most distinct unfixed vulnerabilities across the scope's images."""
    rows = session.execute(
        scoped(
            select(
                ImageVulnerability.app_name,
                func.count(func.distinct(ImageVulnerability.vul_id)),
                func.count(func.distinct(ImageVulnerability.image_pk)),
                func.max(ImageVulnerability.severity_rank),
            )
            .where(
                ImageVulnerability.status == UNFIXED,
                ImageVulnerability.image_pk.in_(image_pks(scope)),
            )
            .group_by(ImageVulnerability.app_name)
            .order_by(
                func.count(func.distinct(ImageVulnerability.vul_id)).desc(), ImageVulnerability.app_name
            )
            .limit(limit),
            scope,
        )
    ).all()
    return [PackageRisk(name, int(v), int(i), RANK_NAME.get(r, "Unknown")) for name, v, i, r in rows]


@dataclass(frozen=True, slots=True)
class RecentFinding:
    kind: str  # "vulnerability" or a FindingKind value
    ident: str
    severity: str
    subject: str
    image: Image
    found_time: int


def newest_critical(session: Session, scope: Scope, limit: int = 8) -> list[RecentFinding]:
    """The newest open Critical vulnerabilities and malware hits, newest first."""
    vul_rows = session.execute(
        scoped(
            select(ImageVulnerability, Image)
            .join(Image, Image.id == ImageVulnerability.image_pk)
            .where(
                ImageVulnerability.severity_rank >= 4,
                ImageVulnerability.status == UNFIXED,
                ImageVulnerability.image_pk.in_(image_pks(scope)),
            )
            .order_by(ImageVulnerability.first_found_time.desc(), ImageVulnerability.id.desc())
            .limit(limit),
            scope,
        )
    ).all()
    mal_rows = session.execute(
        scoped(
            select(ImageFinding, Image)
            .join(Image, Image.id == ImageFinding.image_pk)
            .where(
                ImageFinding.kind == FindingKind.MALWARE.value,
                ImageFinding.image_pk.in_(image_pks(scope)),
            )
            .order_by(ImageFinding.found_time.desc(), ImageFinding.id.desc())
            .limit(limit),
            scope,
        )
    ).all()
    found = [
        RecentFinding(
            "vulnerability", v.vul_id, "Critical", f"{v.app_name} {v.app_version}", img, v.first_found_time
        )
        for v, img in vul_rows
    ] + [
        RecentFinding(FindingKind.MALWARE.value, f.rule_id, f.severity, f.path, img, f.found_time)
        for f, img in mal_rows
    ]
    found.sort(key=lambda r: -r.found_time)
    return found[:limit]


@dataclass(frozen=True, slots=True)
class TaskView:
    task: ScanTask
    progress: int
    counts: dict[str, int]
    risky: int = 0

    @property
    def running(self) -> bool:
        return self.task.task_status == "scanning"


def _task_counts(session: Session, task_pks: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {pk: {} for pk in task_pks}
    if task_pks:
        for pk, status, n in session.execute(
            select(ScanTaskImage.task_pk, ScanTaskImage.status, func.count())
            .where(ScanTaskImage.task_pk.in_(task_pks))
            .group_by(ScanTaskImage.task_pk, ScanTaskImage.status)
        ).all():
            out[pk][status] = n
    return out


def task_views(session: Session, tasks: Sequence[ScanTask]) -> list[TaskView]:
    counts = _task_counts(session, [t.id for t in tasks])
    views = []
    for t in tasks:
        p = scan_tasks.task_progress(session, t)
        views.append(TaskView(t, p.task_status, counts[t.id], p.risky_num))
    return views


def running_tasks(session: Session, scope: Scope, limit: int = 10) -> list[TaskView]:
    stmt = scoped(select(ScanTask).where(ScanTask.task_status == "scanning"), scope)
    tasks = list(session.scalars(stmt.order_by(ScanTask.create_time.desc()).limit(limit)))
    return task_views(session, tasks)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    total: int
    rows: list[T]
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def prev_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


def export_tasks(session: Session, scope: Scope, offset: int, limit: int) -> tuple[int, list[ExportTask]]:
    """The project's export tasks, newest first, filtered to the caller's enterprise projects as
    `services.exports.get_task` filters one task."""
    stmt = scoped(select(ExportTask), scope)
    rows = list(session.scalars(stmt.order_by(ExportTask.create_time.desc(), ExportTask.id.desc())))
    if scope.enterprise_project_ids is not None:
        allowed = scope.enterprise_project_ids
        rows = [
            r
            for r in rows
            if (eps := json.loads(r.enterprise_project_ids or "null")) is not None and set(eps) <= allowed
        ]
    return len(rows), rows[offset : offset + limit]


@dataclass(frozen=True, slots=True)
class RegistryView:
    registry_name: str
    registry_type: str
    images: int
    scanned: int
    vulnerable: int
    latest_scan_time: int


def registries(session: Session, scope: Scope) -> list[RegistryView]:
    """Registries as their images show them (name, type, image and risk counts)."""
    rows = session.execute(
        scoped_images(scope)
        .where(Image.image_type == "registry")
        .with_only_columns(
            Image.registry_name,
            Image.registry_type,
            func.count(),
            func.sum(case((Image.scan_status == ScanStatus.SUCCESS.value, 1), else_=0)),
            func.sum(case((Image.vul_num > 0, 1), else_=0)),
            func.max(Image.latest_scan_time),
        )
        .group_by(Image.registry_name, Image.registry_type)
        .order_by(Image.registry_name)
    ).all()
    return [RegistryView(n, t, int(c), int(s or 0), int(v or 0), int(ls or 0)) for n, t, c, s, v, ls in rows]


@dataclass(frozen=True, slots=True)
class AgentView:
    host: Host
    images: int
    containers: int


def agents(session: Session, scope: Scope) -> list[AgentView]:
    stmt = scoped(select(Host), scope)
    hosts = list(session.scalars(stmt.order_by(Host.host_name, Host.id)))
    pks = [h.id for h in hosts]
    images: dict[int, int] = {}
    containers: dict[int, int] = {}
    if pks:
        images = dict(
            session.execute(
                select(ImageHost.host_pk, func.count())
                .where(ImageHost.host_pk.in_(pks))
                .group_by(ImageHost.host_pk)
            ).all()
        )
        containers = dict(
            session.execute(
                select(Container.host_pk, func.count())
                .where(Container.host_pk.in_(pks))
                .group_by(Container.host_pk)
            ).all()
        )
    return [AgentView(h, images.get(h.id, 0), containers.get(h.id, 0)) for h in hosts]


@dataclass(slots=True)
class LayerView:
    digest: str
    packages: int = 0
    files: int = 0
    vulnerabilities: int = 0
    findings: int = 0
    instructions: list[str] = field(default_factory=list)


def layers(session: Session, image_pk: int) -> list[LayerView]:
    """Layers the image's results point at, with what each brought and the build instruction of the
    layers a build-command check quoted (its evidence, already masked)."""
    views: dict[str, LayerView] = {}

    def add(
        model: type[ImageApp] | type[ImageFile] | type[ImageVulnerability] | type[ImageFinding], attr: str
    ) -> None:
        for digest, n in session.execute(
            select(model.layer_digest, func.count())
            .where(model.image_pk == image_pk, model.layer_digest != "")
            .group_by(model.layer_digest)
        ).all():
            view = views.setdefault(digest, LayerView(digest))
            setattr(view, attr, getattr(view, attr) + n)

    add(ImageApp, "packages")
    add(ImageFile, "files")
    add(ImageVulnerability, "vulnerabilities")
    add(ImageFinding, "findings")
    for digest, _line, evidence in session.execute(
        select(ImageFinding.layer_digest, ImageFinding.line, ImageFinding.evidence)
        .where(
            ImageFinding.image_pk == image_pk,
            ImageFinding.kind == FindingKind.BUILD_COMMAND_RISK.value,
            ImageFinding.layer_digest != "",
        )
        .order_by(ImageFinding.line)
    ).all():
        view = views[digest]
        if evidence and evidence not in view.instructions:
            view.instructions.append(evidence)
    return list(views.values())


def finding_counts(session: Session, image_pk: int) -> dict[str, int]:
    """Rows per tab of the image page (vulnerabilities, packages and each finding kind)."""
    counts = {k.value: 0 for k in FindingKind}
    for kind, n in session.execute(
        select(ImageFinding.kind, func.count())
        .where(ImageFinding.image_pk == image_pk)
        .group_by(ImageFinding.kind)
    ).all():
        counts[kind] = n
    # The baseline tab shows one row per rule (`grouped_findings`): its count says the same.
    counts[FindingKind.BASELINE.value] = (
        session.scalar(
            select(func.count(func.distinct(ImageFinding.rule_id))).where(
                ImageFinding.image_pk == image_pk, ImageFinding.kind == FindingKind.BASELINE.value
            )
        )
        or 0
    )
    counts["vulnerabilities"] = (
        session.scalar(select(func.count()).where(ImageVulnerability.image_pk == image_pk)) or 0
    )
    counts["packages"] = session.scalar(select(func.count()).where(ImageApp.image_pk == image_pk)) or 0
    return counts


def vulnerability_facts(session: Session, scope: Scope, vul_id: str) -> dict[str, object]:
    """What is known about one vulnerability across the scope: worst severity, score, description,
    fixed versions and the affected packages."""
    rows = session.execute(
        scoped(
            select(
                ImageVulnerability.vul_type,
                ImageVulnerability.severity_rank,
                ImageVulnerability.cvss_score,
                ImageVulnerability.description,
                ImageVulnerability.app_name,
                ImageVulnerability.fixed_version,
                ImageVulnerability.epss,
                ImageVulnerability.epss_percentile,
                ImageVulnerability.kev_date_added,
                ImageVulnerability.kev_due_date,
                ImageVulnerability.severity_source,
            ).where(
                ImageVulnerability.vul_id == vul_id,
                ImageVulnerability.image_pk.in_(image_pks(scope)),
            ),
            scope,
        )
    ).all()
    if not rows:
        return {}
    return {
        "vul_types": sorted({r[0] for r in rows}),
        "severity": RANK_NAME.get(max(r[1] for r in rows), "Unknown"),
        "cvss_score": max((r[2] for r in rows if r[2] is not None), default=None),
        "description": max((r[3] or "" for r in rows), key=len),
        "packages": sorted({r[4] for r in rows}),
        "fixed_versions": sorted({r[5] for r in rows if r[5]}),
        "epss": max((r[6] for r in rows if r[6] is not None), default=None),
        "epss_percentile": max((r[7] for r in rows if r[7] is not None), default=None),
        "kev_date_added": min((r[8] for r in rows if r[8]), default=""),
        "kev_due_date": min((r[9] for r in rows if r[9]), default=""),
        "severity_source": next((r[10] for r in rows if r[1] == max(x[1] for x in rows) and r[10]), ""),
    }


#: A grouped finding's evidence as the engine writes it (`scan/grouping.py`): "92 files: a, b, c and 89 more".
_GROUP_EVIDENCE = re.compile(r"^(\d+) files: (.*?)(?: and \d+ more)?$")
EXAMPLES = 3


@dataclass(slots=True)
class FindingGroup:
    """Every finding of one rule in one image, shown as one row: how many files and a few of them."""

    rule_id: str
    title: str
    severity: str
    remediation: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    layers: set[str] = field(default_factory=set)


def _paths(f: ImageFinding) -> tuple[int, list[str]]:
    m = _GROUP_EVIDENCE.match(f.evidence or "")
    if m is None:
        return 1, [f.path]
    return int(m.group(1)), [f.path + name.strip() for name in m.group(2).split(",") if name.strip()]


def grouped_findings(
    session: Session, image_pk: int, kind: FindingKind, text: str | None, offset: int, limit: int
) -> Page[FindingGroup]:
    """One row per rule (the engine already groups per directory; this joins the directories), worst
    severity first, then the most files."""
    stmt = select(ImageFinding).where(ImageFinding.image_pk == image_pk, ImageFinding.kind == kind.value)
    if text:
        stmt = stmt.where(ImageFinding.path.contains(text, autoescape=True))
    groups: dict[str, FindingGroup] = {}
    for f in session.scalars(stmt.order_by(ImageFinding.path, ImageFinding.id)):
        g = groups.setdefault(f.rule_id, FindingGroup(f.rule_id, f.title, f.severity, f.remediation))
        if _rank(f.severity) > _rank(g.severity):
            g.severity = f.severity
        n, paths = _paths(f)
        g.count += n
        g.examples.extend(paths[: max(0, EXAMPLES - len(g.examples))])
        if f.layer_digest:
            g.layers.add(f.layer_digest)
    rows = sorted(groups.values(), key=lambda g: (-_rank(g.severity), -g.count, g.rule_id))
    return Page(len(rows), rows[offset : offset + limit], offset, limit)


def _rank(severity: str) -> int:
    found = Severity.parse(severity)
    return found.rank if found else 0


@dataclass(frozen=True, slots=True)
class AdvisoryView:
    """What the advisory store says about one vulnerability (all records of its id or aliases)."""

    aliases: list[str]
    references: list[str]
    vector: str
    summary: str
    published: str
    #: (ecosystem/release, package, affected ranges as text, fixed versions)
    affected: list[tuple[str, str, str, str]]


def _range_text(record: AffectedRecord) -> str:
    parts: list[str] = []
    for r in record.ranges:
        bound: list[str] = []
        for e in r.events:
            if e.kind is EventKind.INTRODUCED:
                bound.append(f">= {e.version}" if e.version not in ("0", "") else "all versions")
            elif e.kind is EventKind.FIXED:
                bound.append(f"< {e.version}")
            elif e.kind is EventKind.LAST_AFFECTED:
                bound.append(f"<= {e.version}")
            else:
                bound.append(f"< {e.version} (limit)")
        parts.append(", ".join(bound))
    if record.versions and not parts:
        shown = ", ".join(record.versions[:8])
        parts.append(shown + (f" and {len(record.versions) - 8} more" if len(record.versions) > 8 else ""))
    return "; ".join(parts) or "all versions"


def advisory_view(records: Sequence[AffectedRecord], vul_id: str) -> AdvisoryView | None:
    if not records:
        return None
    aliases = sorted({a for r in records for a in (r.advisory_id, *r.aliases)} - {vul_id})
    references = list(
        dict.fromkeys(u for r in records for u in r.urls if u.startswith(("https://", "http://")))
    )
    affected = sorted(
        {
            (
                r.ecosystem.value + (f" {r.release}" if r.release else ""),
                r.name,
                _range_text(r),
                ", ".join(r.fixed_versions) or "—",
            )
            for r in records
        }
    )
    return AdvisoryView(
        aliases=aliases,
        references=references[:30],
        vector=next((r.cvss_vector for r in records if r.cvss_vector), ""),
        summary=max((r.summary for r in records), key=len),
        published=min((r.published for r in records if r.published), default=""),
        affected=affected[:50],
    )
