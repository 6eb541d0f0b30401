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
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from openhss.db.models import Image, ImageApp, ImageFile, ImageFinding, ImageVulnerability, VulImageIndex
from openhss.domain.enums import FindingKind, ScanScope, ScanStatus, Severity
from openhss.domain.errors import NotFound
from openhss.domain.models import Finding
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.scan.grouping import group_repeated

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
    # Repeated baseline findings of one rule in one directory are stored as one (issue 23); the CLI
    # groups the same way, after the user's suppressions, which match single file paths.
    for f in group_repeated([*inventory.findings, *findings]):
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

    per_finding = _finding_rows(image, vulnerabilities, verdicts, first_found, at)
    _bulk(session, ImageVulnerability, list(per_finding.values()))
    _bulk(
        session,
        VulImageIndex,
        _index_rows(
            image,
            ((r["vul_id"], r["vul_type"], r["repair_necessity"]) for r in per_finding.values()),
            verdicts,
        ),
    )
    app_hits: dict[tuple[str, str], set[str]] = {}
    for vul_id, name, _path, version in per_finding:
        app_hits.setdefault((name, version), set()).add(vul_id)
    for app in session.scalars(select(ImageApp).where(ImageApp.image_pk == image_pk)):
        app.vul_num = len(app_hits.get((app.app_name, app.app_version), ()))
    refresh_summary(session, image)


FindingKey = tuple[str, str, str, str]
"""(vul_id, app_name, app_path, app_version) as stored: one `image_vulnerabilities` row."""


def _finding_rows(
    image: Image,
    vulnerabilities: Iterable[VulnerabilityFinding],
    verdicts: dict[str, str],
    first_found: dict[FindingKey, int],
    at: int,
) -> dict[FindingKey, dict[str, object]]:
    """The stored rows of findings; of several findings on one row key the most severe (first on ties)
    wins. A row depends only on the findings of packages with that row's (name, version, path), which is
    what lets a re-match rewrite only the rows of the packages an advisory change touched."""
    per_finding: dict[FindingKey, dict[str, object]] = {}
    for v in vulnerabilities:
        key = (v.vul_id[:256], v.package_name[:256], v.path[:1024], v.package_version[:256])
        rank = SEVERITY_RANK.get(v.severity.value, 0)
        row = per_finding.get(key)
        if row is None or int(row["severity_rank"]) < rank:  # type: ignore[call-overload]
            per_finding[key] = {
                "project_id": image.project_id,
                "image_pk": image.id,
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
                "status": verdicts.get(key[0], UNFIXED),
                "first_found_time": first_found.get(key, at),
                "severity_source": v.severity_source[:64],
                "epss": v.epss,
                "epss_percentile": v.epss_percentile,
                "epss_date": v.epss_date[:16],
                "kev_date_added": v.kev_date_added[:16],
                "kev_due_date": v.kev_due_date[:16],
            }
    return per_finding


def _index_rows(
    image: Image, rows: Iterable[tuple[object, object, object]], verdicts: dict[str, str]
) -> list[dict[str, object]]:
    """The image's `vul_image_index` rows as a projection of its stored finding rows
    (vul_id, vul_type, repair_necessity): one per (vul_id, vul_type), the most urgent necessity.

    A projection of the rows, not of the matcher's output order, so recomputing it for a few vul_ids from
    the database after a partial re-match gives exactly what a full re-match writes."""
    per_vul: dict[tuple[str, str], dict[str, object]] = {}
    for vul_id, vul_type, necessity in rows:
        vid, vtype, need = str(vul_id), str(vul_type), str(necessity)
        idx = per_vul.get((vid, vtype))
        if idx is None or SEVERITY_RANK.get(str(idx["repair_necessity"]), 0) < SEVERITY_RANK.get(need, 0):
            status = verdicts.get(vid, UNFIXED)
            per_vul[(vid, vtype)] = {
                "project_id": image.project_id,
                "enterprise_project_id": image.enterprise_project_id,
                "vul_id": vid,
                "vul_type": vtype,
                "image_pk": image.id,
                "image_type": image.image_type,
                "repair_necessity": need,
                "status": status,
                "handled": status != UNFIXED,
            }
    return list(per_vul.values())


@dataclass(frozen=True, slots=True)
class PackageRematch:
    """One image's share of a re-match: the row keys (app_name, app_version, app_path, as stored) of the
    packages an advisory change touched, and the findings of exactly those packages."""

    image_pk: int
    row_keys: frozenset[tuple[str, str, str]]
    findings: Sequence[VulnerabilityFinding]


def _in_chunks(values: Iterable[T]) -> Iterable[list[T]]:
    items = list(dict.fromkeys(values))
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def rematch_packages(
    session: Session, items: Sequence[PackageRematch], *, at: int | None = None
) -> dict[int, list[str]]:
    """After an advisory update: rewrite, for a batch of images, only the finding rows of the touched
    packages, then the index rows of the vul_ids those rows carried or now carry, the touched apps'
    `vul_num` and the images' summaries, each as a few set-based statements for the whole batch.

    Stores exactly what `rematch` (the whole inventory matched again) would store: rows depend only on
    their own package's findings, the index is a projection of the rows (`_index_rows`), verdicts and
    first-found times are kept the same way. Returns the vul_ids each image newly gained."""
    at = at if at is not None else now_ms()
    by_pk = {i.image_pk: i for i in items}
    pks = sorted(by_pk)
    images = {
        img.id: img
        for img in session.scalars(
            select(Image).where(Image.id.in_(pks)).order_by(Image.id).with_for_update()
        )
    }
    pks = [pk for pk in pks if pk in images]  # deleted since the batch was chosen: nothing to do
    names = {k[0] for pk in pks for k in by_pk[pk].row_keys}
    # Findings of other packages than the touched ones would duplicate rows that stay: a matcher given a
    # subset of the inventory reports only on it, and anything else is dropped here.
    findings = {
        pk: [f for f in by_pk[pk].findings if (f.package_name[:256], f.package_version[:256], f.path[:1024])
             in by_pk[pk].row_keys]
        for pk in pks
    }  # fmt: skip
    affected: dict[int, set[str]] = {pk: {f.vul_id[:256] for f in findings[pk]} for pk in pks}
    gained_candidates = {pk: set(v) for pk, v in affected.items()}

    first_found: dict[int, dict[FindingKey, int]] = {pk: {} for pk in pks}
    stale: list[int] = []
    for chunk in _in_chunks(names):
        for rid, pk, vid, name, version, path, t in session.execute(
            select(
                ImageVulnerability.id,
                ImageVulnerability.image_pk,
                ImageVulnerability.vul_id,
                ImageVulnerability.app_name,
                ImageVulnerability.app_version,
                ImageVulnerability.app_path,
                ImageVulnerability.first_found_time,
            ).where(ImageVulnerability.image_pk.in_(pks), ImageVulnerability.app_name.in_(chunk))
        ):
            if (name, version, path) in by_pk[pk].row_keys:
                stale.append(rid)
                first_found[pk][(vid, name, path, version)] = t
                affected[pk].add(vid)

    vids = {v for s in affected.values() for v in s}
    verdicts: dict[int, dict[str, str]] = {pk: {} for pk in pks}
    stale_index: list[int] = []
    for chunk in _in_chunks(vids):
        for rid, pk, vid, status in session.execute(
            select(
                VulImageIndex.id, VulImageIndex.image_pk, VulImageIndex.vul_id, VulImageIndex.status
            ).where(VulImageIndex.image_pk.in_(pks), VulImageIndex.vul_id.in_(chunk))
        ):
            if vid in affected[pk]:
                verdicts[pk][vid] = status
                stale_index.append(rid)

    for ids in _in_chunks(stale):
        session.execute(delete(ImageVulnerability).where(ImageVulnerability.id.in_(ids)))
    for ids in _in_chunks(stale_index):
        session.execute(delete(VulImageIndex).where(VulImageIndex.id.in_(ids)))
    rows: list[dict[str, object]] = []
    for pk in pks:
        rows.extend(_finding_rows(images[pk], findings[pk], verdicts[pk], first_found[pk], at).values())
    _bulk(session, ImageVulnerability, rows)

    # The index rows of every affected vul_id, from the rows now stored (touched and untouched packages).
    projected: dict[int, list[tuple[object, object, object]]] = {pk: [] for pk in pks}
    for chunk in _in_chunks(vids):
        for pk, vid, vtype, need in session.execute(
            select(
                ImageVulnerability.image_pk,
                ImageVulnerability.vul_id,
                ImageVulnerability.vul_type,
                ImageVulnerability.repair_necessity,
            )
            .where(ImageVulnerability.image_pk.in_(pks), ImageVulnerability.vul_id.in_(chunk))
            .order_by(ImageVulnerability.id)
        ):
            if vid in affected[pk]:
                projected[pk].append((vid, vtype, need))
    _bulk(
        session,
        VulImageIndex,
        [row for pk in pks for row in _index_rows(images[pk], projected[pk], verdicts[pk])],
    )

    # `vul_num` of every app sharing a touched (name, version): distinct vul_ids over all its paths.
    pairs = {pk: {(k[0], k[1]) for k in by_pk[pk].row_keys} for pk in pks}
    hits: dict[tuple[int, str, str], int] = {}
    updates: list[dict[str, object]] = []
    for chunk in _in_chunks(names):
        for pk, name, version, n in session.execute(
            select(
                ImageVulnerability.image_pk,
                ImageVulnerability.app_name,
                ImageVulnerability.app_version,
                func.count(func.distinct(ImageVulnerability.vul_id)),
            )
            .where(ImageVulnerability.image_pk.in_(pks), ImageVulnerability.app_name.in_(chunk))
            .group_by(
                ImageVulnerability.image_pk, ImageVulnerability.app_name, ImageVulnerability.app_version
            )
        ):
            hits[(pk, name, version)] = n
        for app_pk, pk, name, version, old in session.execute(
            select(
                ImageApp.id, ImageApp.image_pk, ImageApp.app_name, ImageApp.app_version, ImageApp.vul_num
            ).where(ImageApp.image_pk.in_(pks), ImageApp.app_name.in_(chunk))
        ):
            n = hits.get((pk, name, version), 0)
            if (name, version) in pairs[pk] and n != old:
                updates.append({"id": app_pk, "vul_num": n})
    if updates:
        session.execute(update(ImageApp), updates)
    refresh_summaries(session, [images[pk] for pk in pks])
    return {
        pk: sorted(gained_candidates[pk] - verdicts[pk].keys())
        for pk in pks
        if gained_candidates[pk] - verdicts[pk].keys()
    }


def refresh_summaries(session: Session, images: Sequence[Image]) -> None:
    """`refresh_summary` for many images with one grouped count over the index."""
    counts: dict[int, dict[str, int]] = {img.id: {} for img in images}
    for image_pks in _in_chunks(counts):
        for pk, need, n in session.execute(
            select(VulImageIndex.image_pk, VulImageIndex.repair_necessity, func.count())
            .where(VulImageIndex.image_pk.in_(image_pks), VulImageIndex.handled.is_(False))
            .group_by(VulImageIndex.image_pk, VulImageIndex.repair_necessity)
        ):
            counts[pk][need] = n
    for image in images:
        _set_summary(image, counts[image.id])


def refresh_summary(session: Session, image: Image) -> None:
    """Recompute vul_num and severity_level from the index (after a scan, re-match or handling)."""
    counts: dict[str, int] = {}
    for need, n in session.execute(
        select(VulImageIndex.repair_necessity, func.count())
        .where(VulImageIndex.image_pk == image.id, VulImageIndex.handled.is_(False))
        .group_by(VulImageIndex.repair_necessity)
    ):
        counts[need] = n
    _set_summary(image, counts)


def _set_summary(image: Image, open_by_necessity: dict[str, int]) -> None:
    image.vul_num = sum(open_by_necessity.values())
    level = max((max(SEVERITY_RANK.get(r, 0), 1) for r in open_by_necessity), default=0)
    if image.malicious_file_num:
        level = max(level, 3)
    if image.unsafe_setting_num:
        level = max(level, 1)
    image.severity_level = IMAGE_LEVEL[level]
