"""VEX statements as the one record of every verdict: handling actions, whitelist rules and imported
documents, with expiry; VEX documents out of the current verdicts.

- **Handle** (`handle`): the HSS handle request works unchanged; each (vulnerability, enterprise
  project) it touches becomes one statement (ignore → not_affected, manual_repair → fixed, not_ignore →
  affected) with the remark as impact statement, and the verdicts it sets are tagged `vex:<id>` in the
  history. `add_to_whitelist` makes (or widens) a real whitelist rule, whose statement carries the
  justification and expiry.
- **Import** (`import_document`): statements from OpenVEX / CycloneDX / CSAF documents are stored and
  applied to unhandled findings now, and at every scan and re-match (`apply_to_image`); a user's own
  verdict is never overridden. The reason shown is the statement's impact statement.
- **Expiry** (`expire_due`): checked whenever statements are evaluated (scan, re-match, handle,
  import, listing, export): an expired statement is marked expired and the pairs whose latest verdict
  it made are reopened (history: not_ignore, "VEX statement expired").
- **Export** (`export_statements`): one statement per (image, vulnerability) pair in scope, from the
  pair's status and the statement behind its latest verdict; open pairs are under_investigation.

Tenant scoping: every read of `vex_statements` goes through `_scoped` (the one place the coordinator
switches to the shared scoping mechanism).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openhss.db import tenancy
from openhss.db.models import (
    Image,
    ImageVulnerability,
    ImageVulOperation,
    ImageWhitelist,
    VexStatement,
    VulImageIndex,
)
from openhss.domain import vex as dv
from openhss.domain.errors import InvalidRequest
from openhss.services import vulnerabilities, whitelists
from openhss.services.identity import Scope
from openhss.services.results import FIXED, IGNORED, UNFIXED, now_ms

TAG = "vex:"
HANDLE_STATUS = {
    "ignore": dv.VexStatus.NOT_AFFECTED,
    "manual_repair": dv.VexStatus.FIXED,
    "not_ignore": dv.VexStatus.AFFECTED,
    "add_to_whitelist": dv.VexStatus.NOT_AFFECTED,
}
#: How an imported suppressing statement is recorded in the HSS handle history.
IMPORT_VERDICT = {
    dv.VexStatus.NOT_AFFECTED: ("ignore", IGNORED),
    dv.VexStatus.FIXED: ("manual_repair", FIXED),
}
EXPIRED_REMARK = "VEX statement expired"
#: Year 3000, in epoch ms: later expiries are typos (and would overflow 64-bit columns further on).
MAX_EXPIRY = 32_503_680_000_000

S = TypeVar("S", bound="Select[Any]")


def _scoped(stmt: S, scope: Scope) -> S:
    """The tenant filter: `db.tenancy.scoped`, the one mechanism every tenant query goes through."""
    return tenancy.scoped(stmt, scope)


def _project_scope(project_id: str, ep: str | None = None) -> Scope:
    return Scope(project_id=project_id, enterprise_project_ids=None if ep is None else frozenset({ep}))


def _products_json(products: Iterable[dv.Product]) -> str:
    return json.dumps([[p.id, list(p.subcomponents)] for p in products])


def to_statement(row: VexStatement) -> dv.Statement:
    return dv.Statement(
        vul_id=row.vul_id,
        status=dv.VexStatus(row.status),
        products=tuple(dv.Product(pid, tuple(subs)) for pid, subs in json.loads(row.products or "[]")),
        aliases=tuple(a for a in row.aliases.split(",") if a),
        justification=row.justification,
        impact_statement=row.impact_statement,
        action_statement=row.action_statement,
        author=row.author,
        timestamp=row.created_at,
        expires=row.expires_at,
    )


def _new(
    session: Session,
    project_id: str,
    ep: str,
    source: str,
    st: dv.Statement,
    *,
    whitelist_id: str = "",
    document_id: str = "",
) -> VexStatement:
    row = VexStatement(
        statement_id=uuid.uuid4().hex,
        project_id=project_id,
        enterprise_project_id=ep,
        source=source,
        vul_id=st.vul_id[:256],
        aliases=",".join(st.aliases),
        status=st.status.value,
        justification=st.justification[:64],
        impact_statement=st.impact_statement,
        action_statement=st.action_statement,
        author=st.author[:256],
        created_at=st.timestamp or now_ms(),
        expires_at=st.expires,
        expired=False,
        products=_products_json(st.products),
        whitelist_id=whitelist_id,
        document_id=document_id[:512],
    )
    session.add(row)
    session.flush()
    return row


def check_fields(justification: str, expires_at: int, now: int) -> None:
    if justification and justification not in dv.JUSTIFICATIONS:
        raise InvalidRequest(
            "invalid parameter justification: expected one of " + ", ".join(sorted(dv.OPENVEX_JUSTIFICATIONS))
        )
    if expires_at and not now < expires_at <= MAX_EXPIRY:
        raise InvalidRequest("invalid parameter expires_at: must be in the future (epoch milliseconds)")


# --- product identities of stored findings --------------------------------------------------------------


def _findings(
    session: Session, pairs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], list[tuple[str, str, str]]]:
    """(image_pk, vul_id) → [(ecosystem, app name, app version)] of the finding rows behind each pair."""
    out: dict[tuple[int, str], list[tuple[str, str, str]]] = defaultdict(list)
    for i in range(0, len(pairs), 500):
        chunk = pairs[i : i + 500]
        for pk, vid, eco, name, version in session.execute(
            select(
                ImageVulnerability.image_pk,
                ImageVulnerability.vul_id,
                ImageVulnerability.app_type,
                ImageVulnerability.app_name,
                ImageVulnerability.app_version,
            ).where(
                ImageVulnerability.image_pk.in_({p for p, _v in chunk}),
                ImageVulnerability.vul_id.in_({v for _p, v in chunk}),
            )
        ):
            out[(pk, vid)].append((eco, name, version))
    return out


def image_product(img: Image, packages: Iterable[tuple[str, str, str]]) -> dv.Product:
    subs = tuple(dict.fromkeys(dv.package_purl(e, n, v) for e, n, v in packages))
    return dv.Product(dv.image_purl(img.image_name, img.image_digest, img.image_version), subs)


# --- handle ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandleExtra:
    """The additive fields of the handle request body."""

    justification: str = ""
    expires_at: int = 0


def handle(
    session: Session,
    scope: Scope,
    req: vulnerabilities.HandleRequest,
    user_name: str,
    extra: HandleExtra = HandleExtra(),
) -> int:
    """The HSS handle action, recorded as VEX statements; returns how many pairs changed."""
    now = now_ms()
    check_fields(extra.justification, extra.expires_at, now)
    expire_due(session, now)
    chosen = vulnerabilities.select_pairs(session, scope, req)
    groups: dict[tuple[str, str], list[tuple[VulImageIndex, Image]]] = defaultdict(list)
    for idx, img in chosen:
        groups[(idx.vul_id, img.enterprise_project_id)].append((idx, img))
    found = _findings(session, [(img.id, idx.vul_id) for idx, img in chosen])
    status = HANDLE_STATUS[req.operate_type]
    changed = 0
    for (vul_id, ep), rows in sorted(groups.items()):
        st = dv.Statement(
            vul_id=vul_id,
            status=status,
            products=tuple(image_product(img, found.get((img.id, vul_id), ())) for _idx, img in rows),
            justification=extra.justification if status is dv.VexStatus.NOT_AFFECTED else "",
            impact_statement=req.remark,
            action_statement="",
            author=user_name,
            timestamp=now,
            expires=extra.expires_at if status in dv.SUPPRESSING else 0,
        )
        # The whitelist covers local and registry images (HSS); elsewhere the action is a plain verdict.
        if req.operate_type == "add_to_whitelist" and req.image_type in ("local", "registry"):
            changed += _whitelist(session, req, rows, ep, st, user_name)
            continue
        row = _new(session, rows[0][1].project_id, ep, "handle", st)
        changed += vulnerabilities.apply_verdict(
            session,
            rows,
            req.operate_type,
            vulnerabilities.NEW_STATUS[req.operate_type],
            user_name,
            req.remark,
            TAG + row.statement_id,
        )
    return changed


def _whitelist(
    session: Session,
    req: vulnerabilities.HandleRequest,
    rows: Sequence[tuple[VulImageIndex, Image]],
    ep: str,
    st: dv.Statement,
    user_name: str,
) -> int:
    """add_to_whitelist: a real rule (all images when the request named the vulnerability on all
    images, else the images named), with its statement."""
    if req.select_type == "specific_vul_all_image":
        rule = whitelists.Rule(whitelists.ALL_IMAGES, description=req.remark)
    else:
        images = tuple(
            whitelists.WhitelistImage(id=img.id, image_type=img.registry_type or None)
            if req.image_type == "registry"
            else whitelists.WhitelistImage(image_id=img.image_id, image_name=img.image_name)
            for _idx, img in rows
        )
        rule = whitelists.Rule(
            whitelists.SPECIFIC_IMAGES, images=tuple(dict.fromkeys(images)), description=req.remark
        )
    project_id = rows[0][1].project_id
    before = {idx.id for idx, _img in rows if idx.status == IGNORED}
    wl = whitelists.add_or_extend(
        session, project_id, ep, req.image_type, req.vul_type, st.vul_id, rule, user_name
    )
    row = whitelists.record_statement(session, wl, user_name)
    row.justification = st.justification[:64]
    row.expires_at = st.expires
    row.author = user_name[:256]
    row.created_at = st.timestamp
    return sum(1 for idx, _img in rows if idx.status == IGNORED and idx.id not in before)


# --- import and application -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    statements: int
    applied: int


def import_document(
    session: Session, project_id: str, ep: str, doc: dv.Document, *, expires_at: int = 0
) -> ImportResult:
    """Store a document's statements in one enterprise project and apply them to its findings."""
    now = now_ms()
    expire_due(session, now)
    for st in doc.statements:
        if expires_at and not st.expires:
            st = dv.Statement(
                st.vul_id,
                st.status,
                st.products,
                st.aliases,
                st.justification,
                st.impact_statement,
                st.action_statement,
                st.author or doc.author,
                st.timestamp,
                expires_at,
            )
        _new(session, project_id, ep, "import", st, document_id=doc.id)
    return ImportResult(len(doc.statements), apply_imported(session, project_id, ep))


def import_for_scope(
    session: Session, scope: Scope, doc: dv.Document, *, expires_at: int = 0
) -> ImportResult:
    """An API import: into the enterprise project the caller names (the default one when it may)."""
    check_fields("", expires_at, now_ms())
    return import_document(session, scope.project_id, whitelists._write_ep(scope), doc, expires_at=expires_at)


def _active_imported(
    session: Session, project_id: str, ep: str, image_pk: int | None = None
) -> list[VexStatement]:
    """The suppressing imported statements; for one image, only those about its open vulnerabilities
    (or with aliases, which may name them), so a scan does not read a project's every statement."""
    stmt = _scoped(select(VexStatement), _project_scope(project_id, ep)).where(
        VexStatement.source == "import",
        VexStatement.expired.is_(False),
        VexStatement.status.in_([s.value for s in dv.SUPPRESSING]),
    )
    if image_pk is not None:
        open_ids = select(func.upper(VulImageIndex.vul_id)).where(
            VulImageIndex.image_pk == image_pk, VulImageIndex.handled.is_(False)
        )
        stmt = stmt.where(func.upper(VexStatement.vul_id).in_(open_ids) | (VexStatement.aliases != ""))
    return list(session.scalars(stmt.order_by(VexStatement.id)))


def apply_imported(session: Session, project_id: str, ep: str, image_pk: int | None = None) -> int:
    """Suppress the unhandled findings an imported statement covers (newest covering statement wins);
    returns how many (image, vul) pairs changed."""
    rows = _active_imported(session, project_id, ep, image_pk)
    if not rows:
        return 0
    now = now_ms()
    by_id = {r.statement_id: (r, to_statement(r)) for r in rows}
    ids: set[str] = set()
    for _r, st in by_id.values():
        ids.update(st.vul_ids())
        ids.add(st.vul_id)
        ids.update(st.aliases)
    stmt = (
        select(VulImageIndex, Image)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.project_id == project_id,
            VulImageIndex.enterprise_project_id == ep,
            VulImageIndex.handled.is_(False),
            func.upper(VulImageIndex.vul_id).in_({i.upper() for i in ids}),
        )
    )
    if image_pk is not None:
        stmt = stmt.where(VulImageIndex.image_pk == image_pk)
    candidates = [
        (idx, img)
        for idx, img in session.execute(stmt.order_by(VulImageIndex.id).with_for_update(of=VulImageIndex))
    ]
    found = _findings(session, [(img.id, idx.vul_id) for idx, img in candidates])
    # Index by (vulnerability, image repository) so a document with a product per image is not
    # matched product × candidate; package-level statements apply to every repository.
    anywhere: dict[str, list[tuple[VexStatement, dv.Statement]]] = defaultdict(list)
    by_repo: dict[tuple[str, str], list[tuple[VexStatement, dv.Statement]]] = defaultdict(list)
    for row, st in by_id.values():
        repos = dv.image_repos(st)
        for vid in st.vul_ids():
            if repos is None:
                anywhere[vid].append((row, st))
            else:
                for repo in repos:
                    by_repo[(vid, repo)].append((row, st))
    chosen: dict[str, list[tuple[VulImageIndex, Image]]] = defaultdict(list)
    for idx, img in candidates:
        best: tuple[VexStatement, dv.Statement] | None = None
        vid = idx.vul_id.upper()
        relevant = [*anywhere.get(vid, ()), *by_repo.get((vid, dv.normalize_image_repo(img.image_name)), ())]
        for eco, name, version in found.get((img.id, idx.vul_id), [("", "", "")]):
            target = dv.target_of(
                idx.vul_id, img.image_name, img.image_version, img.image_digest, eco, name, version
            )
            for row, st in relevant:
                if (st.expires and st.expires <= now) or not dv.covers(st, target):
                    continue
                if best is None or st.timestamp >= best[1].timestamp:
                    best = (row, st)
        if best is not None:
            chosen[best[0].statement_id].append((idx, img))
    changed = 0
    for sid, pairs in chosen.items():
        _row, st = by_id[sid]
        op, status = IMPORT_VERDICT[st.status]
        changed += vulnerabilities.apply_verdict(
            session, pairs, op, status, (st.author or "vex import")[:64], st.reason[:512], TAG + sid
        )
    return changed


def apply_to_image(session: Session, image_pk: int) -> int:
    """After a scan or re-match of one image (next to the whitelist rules): expire what is due and apply
    the imported statements of its enterprise project."""
    expire_due(session, now_ms())
    image = session.get(Image, image_pk)
    if image is None:
        return 0
    return apply_imported(session, image.project_id, image.enterprise_project_id, image_pk)


# --- expiry ---------------------------------------------------------------------------------------------


def expire_due(session: Session, now: int) -> int:
    """Mark statements past their expiry expired and reopen the verdicts they made; returns the number of
    pairs reopened. Cheap when nothing is due (one query on ix_vex_statements_due)."""
    due = list(
        session.scalars(
            select(VexStatement)
            .where(
                VexStatement.expired.is_(False), VexStatement.expires_at > 0, VexStatement.expires_at <= now
            )
            .with_for_update()
        )
    )
    reopened = 0
    for row in due:
        row.expired = True
        reason = f"{EXPIRED_REMARK}: {row.impact_statement or row.justification or row.status}"[:512]
        if row.whitelist_id:
            wl = session.scalar(select(ImageWhitelist).where(ImageWhitelist.whitelist_id == row.whitelist_id))
            if wl is not None:
                reopened += whitelists.expire(session, wl, reason)
            continue
        reopened += vulnerabilities.apply_verdict(
            session, _made_by(session, row), "not_ignore", UNFIXED, "system", reason, TAG + row.statement_id
        )
    if due:
        session.flush()
        # Imported statements that an expired one overrode may apply again.
        for project_id, ep in {(r.project_id, r.enterprise_project_id) for r in due}:
            apply_imported(session, project_id, ep)
    return reopened


def _made_by(session: Session, row: VexStatement) -> list[tuple[VulImageIndex, Image]]:
    """Pairs still handled whose latest verdict is this statement's (only the pairs it ever tagged are
    looked at, not the project's whole history)."""
    where = [
        ImageVulOperation.project_id == row.project_id,
        ImageVulOperation.whitelist_id == TAG + row.statement_id,
    ]
    if row.source != "import":  # handling statements name the index's own vul_id: use that index
        where.append(ImageVulOperation.vul_id == row.vul_id)
    tagged = {
        (pk, vid): op_id
        for pk, vid, op_id in session.execute(
            select(ImageVulOperation.image_pk, ImageVulOperation.vul_id, func.max(ImageVulOperation.id))
            .where(*where)
            .group_by(ImageVulOperation.image_pk, ImageVulOperation.vul_id)
        )
        if pk is not None
    }
    if not tagged:
        return []
    last = {
        (pk, vid): op_id
        for op_id, pk, vid in session.execute(
            select(func.max(ImageVulOperation.id), ImageVulOperation.image_pk, ImageVulOperation.vul_id)
            .where(
                ImageVulOperation.image_pk.in_({pk for pk, _v in tagged}),
                ImageVulOperation.vul_id.in_({v for _p, v in tagged}),
            )
            .group_by(ImageVulOperation.image_pk, ImageVulOperation.vul_id)
        )
    }
    pairs = {key for key, op_id in tagged.items() if last.get(key) == op_id}
    if not pairs:
        return []
    stmt = (
        select(VulImageIndex, Image)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.image_pk.in_({pk for pk, _v in pairs}),
            VulImageIndex.vul_id.in_({v for _p, v in pairs}),
            VulImageIndex.handled.is_(True),
        )
    )
    return [
        (idx, img)
        for idx, img in session.execute(stmt.order_by(VulImageIndex.id).with_for_update(of=VulImageIndex))
        if (img.id, idx.vul_id) in pairs
    ]


# --- reads and export -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredStatement:
    statement_id: str
    source: str
    enterprise_project_id: str
    expired: bool
    whitelist_id: str
    document_id: str
    statement: dv.Statement


def list_statements(
    session: Session, scope: Scope, vul_id: str | None, source: str | None, offset: int, limit: int
) -> tuple[int, list[StoredStatement]]:
    expire_due(session, now_ms())
    stmt = _scoped(select(VexStatement), scope)
    if vul_id:
        stmt = stmt.where(VexStatement.vul_id == vul_id)
    if source:
        stmt = stmt.where(VexStatement.source == source)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(VexStatement.id.desc()).offset(offset).limit(limit))
    return total, [
        StoredStatement(
            r.statement_id,
            r.source,
            r.enterprise_project_id,
            r.expired,
            r.whitelist_id,
            r.document_id,
            to_statement(r),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class ExportFilter:
    image_type: str | None = None
    image_id: str | None = None
    vul_id: str | None = None
    include_open: bool = True


@dataclass(frozen=True, slots=True)
class _Verdict:
    idx: VulImageIndex
    img: Image
    #: The pair's latest handling entry and the statement behind it (None: never handled / no statement).
    latest: ImageVulOperation | None
    source: VexStatement | None


def _verdicts(session: Session, scope: Scope, f: ExportFilter) -> list[_Verdict]:
    expire_due(session, now_ms())
    stmt = select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk)
    stmt = stmt.where(VulImageIndex.project_id == scope.project_id)
    if scope.enterprise_project_ids is not None:
        stmt = stmt.where(VulImageIndex.enterprise_project_id.in_(sorted(scope.enterprise_project_ids)))
    if f.image_type:
        stmt = stmt.where(VulImageIndex.image_type == f.image_type)
    if f.image_id:
        stmt = stmt.where(Image.image_id == f.image_id)
    if f.vul_id:
        stmt = stmt.where(VulImageIndex.vul_id == f.vul_id)
    if not f.include_open:
        stmt = stmt.where(VulImageIndex.handled.is_(True))
    pairs = [(idx, img) for idx, img in session.execute(stmt.order_by(VulImageIndex.id))]
    keys = [(img.id, idx.vul_id) for idx, img in pairs]
    last_op: dict[tuple[int, str], ImageVulOperation] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        for op in session.scalars(
            select(ImageVulOperation)
            .where(
                ImageVulOperation.image_pk.in_({p for p, _v in chunk}),
                ImageVulOperation.vul_id.in_({v for _p, v in chunk}),
            )
            .order_by(ImageVulOperation.id)
        ):
            if op.image_pk is not None:
                last_op[(op.image_pk, op.vul_id)] = op
    tags = {o.whitelist_id for o in last_op.values() if o.whitelist_id}
    by_tag: dict[str, VexStatement] = {}
    if tags:
        sids = [t.removeprefix(TAG) for t in tags if t.startswith(TAG)]
        wids = [t for t in tags if not t.startswith(TAG)]
        for r in session.scalars(
            _scoped(select(VexStatement), scope).where(
                VexStatement.statement_id.in_(sids)
                | (VexStatement.whitelist_id.in_(wids) & VexStatement.expired.is_(False))
            )
        ):
            by_tag[TAG + r.statement_id if r.statement_id in sids else r.whitelist_id] = r
    out = []
    for idx, img in pairs:
        latest = last_op.get((img.id, idx.vul_id))
        src = by_tag.get(latest.whitelist_id) if latest is not None and latest.whitelist_id else None
        out.append(_Verdict(idx, img, latest, src))
    return out


def export_statements(session: Session, scope: Scope, f: ExportFilter) -> list[dv.Statement]:
    """One statement per (image, vulnerability) pair in scope: the verdict, its reason and the statement
    (justification, expiry) behind the pair's latest handling."""
    verdicts = _verdicts(session, scope, f)
    found = _findings(session, [(v.img.id, v.idx.vul_id) for v in verdicts])
    out = []
    for v in verdicts:
        idx, img, latest, src = v.idx, v.img, v.latest, v.source
        product = image_product(img, found.get((img.id, idx.vul_id), ()))
        if idx.status == IGNORED:
            status = dv.VexStatus.NOT_AFFECTED
        elif idx.status == FIXED:
            status = dv.VexStatus.FIXED
        elif src is not None and src.status == dv.VexStatus.AFFECTED.value:
            status = dv.VexStatus.AFFECTED
        else:
            status = dv.VexStatus.UNDER_INVESTIGATION
        handled = status in dv.SUPPRESSING and latest is not None
        out.append(
            dv.Statement(
                vul_id=idx.vul_id,
                status=status,
                products=(product,),
                justification=(src.justification if src is not None and handled else ""),
                impact_statement=(latest.remark if handled and latest is not None else ""),
                author=(latest.user_name if latest is not None and handled else ""),
                timestamp=(latest.operate_time if latest is not None else img.latest_scan_time),
                expires=(src.expires_at if src is not None and handled else 0),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Suppression:
    """A finding that does not count as open, and why."""

    image_id: str
    image_name: str
    image_version: str
    vul_id: str
    status: str  # the HSS status: vul_status_ignored | vul_status_fixed
    reason: str
    #: handle | whitelist | import ("" for verdicts older than VEX statements).
    source: str
    statement_id: str
    whitelist_id: str
    justification: str
    author: str
    handled_time: int
    expires_at: int


def suppressions(
    session: Session, scope: Scope, f: ExportFilter, offset: int, limit: int
) -> tuple[int, list[Suppression]]:
    verdicts = _verdicts(session, scope, ExportFilter(f.image_type, f.image_id, f.vul_id, include_open=False))
    out = []
    for v in verdicts[offset : offset + limit]:
        op, src = v.latest, v.source
        wid = op.whitelist_id if op is not None and not op.whitelist_id.startswith(TAG) else ""
        out.append(
            Suppression(
                image_id=v.img.image_id,
                image_name=v.img.image_name,
                image_version=v.img.image_version,
                vul_id=v.idx.vul_id,
                status=v.idx.status,
                reason=op.remark if op is not None else "",
                source=src.source if src is not None else ("whitelist" if wid else ""),
                statement_id=src.statement_id if src is not None else "",
                whitelist_id=wid,
                justification=src.justification if src is not None else "",
                author=op.user_name if op is not None else "",
                handled_time=op.operate_time if op is not None else 0,
                expires_at=src.expires_at if src is not None else 0,
            )
        )
    return len(verdicts), out
