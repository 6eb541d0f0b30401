"""Persisting one scan's results for one image, and keeping every derived table in step with them.

Everything a list endpoint shows is written here, at scan or re-match time, so requests never aggregate
findings: the per-image rows (apps, files, findings, vulnerabilities), the inverted index vul → image
(`vul_image_index`) and the image's summary columns (scan_status, severity_level, counters).

A user's verdicts survive rescans: a vulnerability ignored or marked fixed on an image stays so when the
same vul_id is found again, and so does the handling state of a sensitive-info finding.

A scan limited by `scan_scope` replaces only the results of the families it ran: a malware-only scan
leaves the image's vulnerabilities, secrets and baseline findings as the last scan that ran them left
them. The inventory (apps, files) is rebuilt by every scan, because every scope builds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TypeVar

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from openhss.db.models import Image, ImageApp, ImageFile, ImageFinding, ImageVulnerability, VulImageIndex
from openhss.domain.enums import FindingKind, ScanScope, ScanStatus, Severity
from openhss.domain.errors import NotFound
from openhss.domain.models import Finding
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory

UNFIXED = "vul_status_unfix"
IGNORED = "vul_status_ignored"
FIXED = "vul_status_fixed"

SEVERITY_RANK = {
    Severity.UNKNOWN.value: 0,
    Severity.LOW.value: 1,
    Severity.MEDIUM.value: 2,
    Severity.HIGH.value: 3,
    Severity.CRITICAL.value: 4,
}
#: The image-level `severity_level` has no Critical (HSS: Security | Low | Medium | High).
IMAGE_LEVEL = {0: "Security", 1: "Low", 2: "Medium", 3: "High", 4: "High"}
_BATCH = 2000
T = TypeVar("T")

#: The `scan_scope` family that produces each finding kind (the analyzers' and checks' `scope`).
FINDING_SCOPE: dict[FindingKind, ScanScope] = {
    FindingKind.SECRET: ScanScope.SENSITIVE_INFO,
    FindingKind.MALWARE: ScanScope.MALWARE,
    FindingKind.BASELINE: ScanScope.BASELINE,
    FindingKind.BUILD_COMMAND_RISK: ScanScope.BASELINE,
    FindingKind.NON_COMPLIANT_APP: ScanScope.SOFTWARE_COMPLIANCE,
}


def now_ms() -> int:
    return int(time.time() * 1000)


def _chunks(rows: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(rows), _BATCH):
        yield rows[i : i + _BATCH]


def _bulk(session: Session, model: type[object], rows: list[dict[str, object]]) -> None:
    for chunk in _chunks(rows):
        session.execute(insert(model), list(chunk))


def _image(session: Session, image_pk: int) -> Image:
    image = session.get(Image, image_pk, with_for_update=True)
    if image is None:
        raise NotFound(f"image {image_pk} does not exist")
    return image


def _finding_key(f: ImageFinding | Finding, kind: str) -> tuple[str, str, str, int, str]:
    return (kind, f.rule_id, f.path, f.line, f.evidence)


def record_scan(
    session: Session,
    image_pk: int,
    inventory: Inventory,
    vulnerabilities: Sequence[VulnerabilityFinding],
    findings: Sequence[Finding] = (),
    *,
    scanned_at: int | None = None,
    scope: ScanScope = ScanScope.ALL,
) -> None:
    """Replace the image's previous results with this scan's, in the caller's transaction: the
    inventory always, findings and vulnerabilities only of the families in `scope`.

    `findings` are the checks run after the fold (image config, history, policy); the analyzers' own
    findings come with `inventory.findings`. Both are stored.
    """
    image = _image(session, image_pk)
    at = scanned_at if scanned_at is not None else now_ms()
    replaced = [k.value for k, family in FINDING_SCOPE.items() if scope & family]

    previous_handling = {
        _finding_key(f, f.kind): f.handle_status
        for f in session.scalars(
            select(ImageFinding).where(ImageFinding.image_pk == image_pk, ImageFinding.kind.in_(replaced))
        )
    }
    for model in (ImageApp, ImageFile):
        session.execute(delete(model).where(model.image_pk == image_pk))
    session.execute(
        delete(ImageFinding).where(ImageFinding.image_pk == image_pk, ImageFinding.kind.in_(replaced))
    )

    apps: dict[tuple[str, str, str, str], dict[str, object]] = {}
    for p in inventory.packages:
        apps.setdefault(
            (p.name, p.version, p.type.value, p.path),
            {
                "image_pk": image_pk,
                "app_name": p.name[:256],
                "app_version": p.version[:256],
                "app_type": p.type.value,
                "app_path": p.path[:1024],
                "layer_digest": p.layer_digest[:128],
                "licenses": ",".join(p.licenses),
                "vul_num": 0,
            },
        )
    _bulk(session, ImageApp, list(apps.values()))
    _bulk(
        session,
        ImageFile,
        [
            {
                "image_pk": image_pk,
                "file_path": r.path[:4096],
                "file_name": r.path.rsplit("/", 1)[-1][:1024],
                "size": r.size,
                "mode": r.mode,
                "file_type": r.file_type[:32],
                "sha256": r.sha256,
                "layer_digest": r.layer_digest[:128],
            }
            for r in inventory.files
        ],
    )
    rows = []
    for f in [*inventory.findings, *findings]:
        if f.kind.value not in replaced:
            continue  # the scope did not ask for it; the stored results of that family stand
        kind = f.kind.value
        rows.append(
            {
                "project_id": image.project_id,
                "image_pk": image_pk,
                "kind": kind,
                "rule_id": f.rule_id[:256],
                "severity": f.severity.value,
                "title": f.title[:1024],
                "path": f.path[:4096],
                "layer_digest": f.layer_digest[:128],
                "line": f.line,
                "evidence": f.evidence,
                "remediation": f.remediation,
                "handle_status": previous_handling.get(_finding_key(f, kind), "unhandled"),
                "found_time": at,
            }
        )
    _bulk(session, ImageFinding, rows)

    kinds = dict(
        session.execute(
            select(ImageFinding.kind, func.count())
            .where(ImageFinding.image_pk == image_pk)
            .group_by(ImageFinding.kind)
        ).all()
    )
    image.component_num = len(apps)
    image.malicious_file_num = kinds.get(FindingKind.MALWARE.value, 0)
    image.unsafe_setting_num = kinds.get(FindingKind.BASELINE.value, 0)
    image.scan_status = ScanStatus.SUCCESS.value
    image.scan_failed_desc = ""
    if not image.first_scan_time:
        image.first_scan_time = at
    image.latest_scan_time = at
    if scope & ScanScope.VULNERABILITY:
        _replace_vulnerabilities(session, image, vulnerabilities, at)
    else:
        _count_app_vulnerabilities(session, image_pk)
        refresh_summary(session, image)


def _count_app_vulnerabilities(session: Session, image_pk: int) -> None:
    """`vul_num` of the rebuilt apps from the stored vulnerability rows (a scan without the
    vulnerability family keeps them)."""
    hits: dict[tuple[str, str], set[str]] = {}
    for vul_id, name, version in session.execute(
        select(ImageVulnerability.vul_id, ImageVulnerability.app_name, ImageVulnerability.app_version).where(
            ImageVulnerability.image_pk == image_pk
        )
    ):
        hits.setdefault((name, version), set()).add(vul_id)
    for app in session.scalars(select(ImageApp).where(ImageApp.image_pk == image_pk)):
        app.vul_num = len(hits.get((app.app_name, app.app_version), ()))


def rematch(session: Session, image_pk: int, vulnerabilities: Sequence[VulnerabilityFinding]) -> None:
    """After an advisory update: replace only the image's vulnerability rows (inventory untouched)."""
    image = _image(session, image_pk)
    _replace_vulnerabilities(session, image, vulnerabilities, now_ms())


def _replace_vulnerabilities(
    session: Session, image: Image, vulnerabilities: Sequence[VulnerabilityFinding], at: int
) -> None:
    image_pk = image.id
    # The user's verdict is per (image, vul_id); first-found times are per finding row.
    verdicts = dict(
        session.execute(
            select(VulImageIndex.vul_id, VulImageIndex.status).where(VulImageIndex.image_pk == image_pk)
        ).all()
    )
    first_found = {
        (vid, name, path, version): t
        for vid, name, path, version, t in session.execute(
            select(
                ImageVulnerability.vul_id,
                ImageVulnerability.app_name,
                ImageVulnerability.app_path,
                ImageVulnerability.app_version,
                ImageVulnerability.first_found_time,
            ).where(ImageVulnerability.image_pk == image_pk)
        ).all()
    }
    session.execute(delete(ImageVulnerability).where(ImageVulnerability.image_pk == image_pk))
    session.execute(delete(VulImageIndex).where(VulImageIndex.image_pk == image_pk))

    per_finding: dict[tuple[str, str, str, str], dict[str, object]] = {}
    per_vul: dict[tuple[str, str], dict[str, object]] = {}
    app_hits: dict[tuple[str, str], set[str]] = {}
    for v in vulnerabilities:
        key = (v.vul_id[:256], v.package_name[:256], v.path[:1024], v.package_version[:256])
        rank = SEVERITY_RANK.get(v.severity.value, 0)
        status = verdicts.get(key[0], UNFIXED)
        row = per_finding.get(key)
        if row is None or int(row["severity_rank"]) < rank:  # type: ignore[call-overload]
            per_finding[key] = {
                "project_id": image.project_id,
                "image_pk": image_pk,
                "vul_id": key[0],
                "vul_type": v.type.value,
                "repair_necessity": v.repair_necessity,
                "severity_rank": rank,
                "cvss_score": v.cvss_score or None,
                "app_name": key[1],
                "app_version": key[3],
                "app_path": key[2],
                "app_type": v.ecosystem.value[:32],
                "fixed_version": v.fixed_version[:256],
                "layer_digest": v.layer_digest[:128],
                "description": v.description or v.title,
                "status": status,
                "first_found_time": first_found.get(key, at),
                "severity_source": v.severity_source[:64],
                "epss": v.epss,
                "epss_percentile": v.epss_percentile,
                "epss_date": v.epss_date[:16],
                "kev_date_added": v.kev_date_added[:16],
                "kev_due_date": v.kev_due_date[:16],
            }
        idx = per_vul.get((key[0], v.type.value))
        if idx is None or SEVERITY_RANK.get(str(idx["repair_necessity"]), 0) < rank:
            per_vul[(key[0], v.type.value)] = {
                "project_id": image.project_id,
                "enterprise_project_id": image.enterprise_project_id,
                "vul_id": key[0],
                "vul_type": v.type.value,
                "image_pk": image_pk,
                "image_type": image.image_type,
                "repair_necessity": v.repair_necessity,
                "status": status,
                "handled": status != UNFIXED,
            }
        app_hits.setdefault((v.package_name, v.package_version), set()).add(key[0])
    _bulk(session, ImageVulnerability, list(per_finding.values()))
    _bulk(session, VulImageIndex, list(per_vul.values()))

    for app in session.scalars(select(ImageApp).where(ImageApp.image_pk == image_pk)):
        app.vul_num = len(app_hits.get((app.app_name, app.app_version), ()))
    refresh_summary(session, image)


def refresh_summary(session: Session, image: Image) -> None:
    """Recompute vul_num and severity_level from the index (after a scan, re-match or handling)."""
    open_vuls = session.execute(
        select(VulImageIndex.repair_necessity).where(
            VulImageIndex.image_pk == image.id, VulImageIndex.handled.is_(False)
        )
    ).scalars()
    ranks = [max(SEVERITY_RANK.get(r, 0), 1) for r in open_vuls]
    image.vul_num = len(ranks)
    level = max(ranks, default=0)
    if image.malicious_file_num:
        level = max(level, 3)
    if image.unsafe_setting_num:
        level = max(level, 1)
    image.severity_level = IMAGE_LEVEL[level]
