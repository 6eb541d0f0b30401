"""The image vulnerability whitelist (HSS `/image/whitelists`): rules that ignore one vulnerability on
all images, on registry flavours, or on named images, kept in step with the index.

A rule's effect is stored, not computed per request: adding or changing a rule marks the matching
unhandled (image, vul) pairs ignored through `vulnerabilities.apply_verdict` (history entry
`add_to_whitelist` tagged with the rule id); removing or narrowing it reopens exactly the pairs whose
latest verdict came from that rule. Verdicts survive rescans (`services.results`), and
`apply_to_image` covers images scanned after the rule was made.

Every rule is also a VEX statement (`vex_statements`, source whitelist, status not_affected, the
description as impact statement, the named images as products), kept in step by `record_statement`;
`services.vex` adds the justification and expiry a handle request gives, and expires rules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openhss.db.models import (
    Image,
    ImageVulnerability,
    ImageVulOperation,
    ImageWhitelist,
    VexStatement,
    VulImageIndex,
)
from openhss.db.tenancy import scoped
from openhss.domain.errors import InvalidRequest, NotFound
from openhss.domain.vex import image_purl
from openhss.services.identity import Scope
from openhss.services.images import IMAGE_TYPE_PARAM
from openhss.services.results import IGNORED, UNFIXED, now_ms
from openhss.services.vulnerabilities import apply_verdict

ALL_IMAGES = "all_images"
SPECIFIC_IMAGE_TYPES = "specific_image_types"
SPECIFIC_IMAGES = "specific_images"


@dataclass(frozen=True, slots=True)
class WhitelistImage:
    id: int | None = None
    image_id: str | None = None
    image_name: str | None = None
    image_type: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    rule_type: str
    image_types: tuple[str, ...] = ()
    images: tuple[WhitelistImage, ...] = ()
    description: str = ""


def _write_ep(scope: Scope) -> str:
    """The enterprise project a new rule belongs to: the one named, else the default one if granted."""
    eps = scope.enterprise_project_ids
    if eps is not None and len(eps) == 1:
        return next(iter(eps))
    if eps is None or "0" in eps:
        return "0"
    raise InvalidRequest("invalid parameter enterprise_project_id: name the enterprise project of the rule")


def _check(global_image_type: str, rule: Rule) -> None:
    if rule.rule_type == SPECIFIC_IMAGE_TYPES:
        if global_image_type != "registry":
            raise InvalidRequest("invalid parameter rule_type: specific_image_types is for registry images")
        if not rule.image_types:
            raise InvalidRequest("invalid parameter query_info: specific_image_types needs image_type")
    if rule.rule_type == SPECIFIC_IMAGES and not rule.images:
        raise InvalidRequest("invalid parameter image_info: specific_images needs at least one image")
    for img in rule.images:
        if global_image_type == "registry" and img.id is None:
            raise InvalidRequest("invalid parameter image_info: registry images are named by id")
        if global_image_type == "local" and not img.image_id:
            raise InvalidRequest("invalid parameter image_info: local images are named by image_id")


def _rule_of(wl: ImageWhitelist) -> Rule:
    images = tuple(WhitelistImage(**d) for d in json.loads(wl.image_info or "[]"))
    types = tuple(t for t in wl.image_types.split(",") if t)
    return Rule(wl.rule_type, types, images, wl.description)


def _store(wl: ImageWhitelist, rule: Rule) -> None:
    wl.rule_type = rule.rule_type
    wl.image_types = ",".join(rule.image_types) if rule.rule_type == SPECIFIC_IMAGE_TYPES else ""
    wl.image_info = json.dumps(
        [
            {"id": i.id, "image_id": i.image_id, "image_name": i.image_name, "image_type": i.image_type}
            for i in rule.images
        ]
        if rule.rule_type == SPECIFIC_IMAGES
        else []
    )
    wl.description = rule.description[:1024]


def _image_condition(wl: ImageWhitelist, rule: Rule) -> ColumnElement[bool] | None:
    """Which images of the rule's type it covers; None means all of them."""
    if rule.rule_type == SPECIFIC_IMAGE_TYPES:
        flavours = [IMAGE_TYPE_PARAM[t][1] for t in rule.image_types if t in IMAGE_TYPE_PARAM]
        return Image.registry_type.in_([f for f in flavours if f])
    if rule.rule_type == SPECIFIC_IMAGES:
        if wl.global_image_type == "registry":
            return Image.id.in_([i.id for i in rule.images if i.id is not None])
        return Image.image_id.in_([i.image_id for i in rule.images if i.image_id])
    return None


def _covered(
    session: Session, wl: ImageWhitelist, rule: Rule, *, image_pk: int | None = None, unhandled_only: bool
) -> list[tuple[VulImageIndex, Image]]:
    stmt = (
        select(VulImageIndex, Image)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.project_id == wl.project_id,
            VulImageIndex.enterprise_project_id == wl.enterprise_project_id,
            VulImageIndex.vul_id == wl.vul_id,
            VulImageIndex.vul_type == wl.vul_type,
            VulImageIndex.image_type == wl.global_image_type,
        )
    )
    cond = _image_condition(wl, rule)
    if cond is not None:
        stmt = stmt.where(cond)
    if image_pk is not None:
        stmt = stmt.where(VulImageIndex.image_pk == image_pk)
    if unhandled_only:
        stmt = stmt.where(VulImageIndex.handled.is_(False))
    return [(idx, img) for idx, img in session.execute(stmt.order_by(VulImageIndex.id).with_for_update())]


def _made_by(session: Session, wl: ImageWhitelist) -> list[tuple[VulImageIndex, Image]]:
    """Pairs still ignored whose latest verdict is this rule's."""
    latest = (
        select(ImageVulOperation.image_pk, func.max(ImageVulOperation.id).label("last"))
        .where(
            ImageVulOperation.project_id == wl.project_id,
            ImageVulOperation.vul_id == wl.vul_id,
            ImageVulOperation.vul_type == wl.vul_type,
        )
        .group_by(ImageVulOperation.image_pk)
        .subquery()
    )
    mine = (
        select(ImageVulOperation.image_pk)
        .join(latest, latest.c.last == ImageVulOperation.id)
        .where(
            ImageVulOperation.whitelist_id == wl.whitelist_id,
            ImageVulOperation.operate_type == "add_to_whitelist",
        )
    )
    stmt = (
        select(VulImageIndex, Image)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.project_id == wl.project_id,
            VulImageIndex.vul_id == wl.vul_id,
            VulImageIndex.vul_type == wl.vul_type,
            VulImageIndex.status == IGNORED,
            VulImageIndex.image_pk.in_(mine),
        )
    )
    return [(idx, img) for idx, img in session.execute(stmt.order_by(VulImageIndex.id).with_for_update())]


def _apply(session: Session, wl: ImageWhitelist, user_name: str) -> int:
    rows = _covered(session, wl, _rule_of(wl), unhandled_only=True)
    return apply_verdict(
        session, rows, "add_to_whitelist", IGNORED, user_name, wl.description, wl.whitelist_id
    )


def _reopen(
    session: Session, rows: Sequence[tuple[VulImageIndex, Image]], wl: ImageWhitelist, user: str
) -> int:
    return apply_verdict(session, rows, "not_ignore", UNFIXED, user, "whitelist removed", wl.whitelist_id)


def add(
    session: Session,
    scope: Scope,
    global_image_type: str,
    vul_type: str,
    vul_ids: Sequence[str],
    rule: Rule,
    user_name: str,
) -> list[ImageWhitelist]:
    """One rule per vulnerability id; a vulnerability already whitelisted in this scope is a 400."""
    if not vul_ids:
        raise InvalidRequest("invalid parameter vul_ids: at least one vulnerability id is required")
    _check(global_image_type, rule)
    ep = _write_ep(scope)
    made = []
    at = now_ms()
    for vid in dict.fromkeys(vul_ids):
        wl = ImageWhitelist(
            whitelist_id=uuid.uuid4().hex,
            project_id=scope.project_id,
            enterprise_project_id=ep,
            global_image_type=global_image_type,
            vul_type=vul_type,
            vul_id=vid,
            vul_name=vid,  # advisories are named by their id, as in every other list
            create_time=at,
        )
        _store(wl, rule)
        made.append(wl)
    try:
        with session.begin_nested():
            session.add_all(made)
            session.flush()
    except IntegrityError as exc:
        raise InvalidRequest("invalid parameter vul_ids: a vulnerability is already whitelisted") from exc
    for wl in made:
        record_statement(session, wl, user_name)
        _apply(session, wl, user_name)
    return made


def _rules(scope: Scope, global_image_type: str) -> Select[ImageWhitelist]:
    return scoped(select(ImageWhitelist).where(ImageWhitelist.global_image_type == global_image_type), scope)


def list_rules(
    session: Session,
    scope: Scope,
    global_image_type: str,
    vul_name: str | None,
    vul_type: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[ImageWhitelist]]:
    stmt = _rules(scope, global_image_type)
    if vul_name:
        stmt = stmt.where(ImageWhitelist.vul_name.contains(vul_name, autoescape=True))
    if vul_type:
        stmt = stmt.where(ImageWhitelist.vul_type == vul_type)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ImageWhitelist.create_time.desc(), ImageWhitelist.id.desc()).offset(offset).limit(limit)
    )
    return total, list(rows)


def get(session: Session, scope: Scope, global_image_type: str, whitelist_id: str) -> ImageWhitelist:
    row = session.scalar(
        _rules(scope, global_image_type).where(ImageWhitelist.whitelist_id == whitelist_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"whitelist {whitelist_id} does not exist")
    return row


def rule_of(wl: ImageWhitelist) -> Rule:
    return _rule_of(wl)


def cves(session: Session, wl: ImageWhitelist) -> list[tuple[str, float]]:
    """The CVE a rule's vulnerability is, with the highest CVSS seen for it in the project."""
    if not wl.vul_id.startswith("CVE-"):
        return []
    score = session.scalar(
        select(func.max(ImageVulnerability.cvss_score)).where(
            ImageVulnerability.project_id == wl.project_id, ImageVulnerability.vul_id == wl.vul_id
        )
    )
    return [(wl.vul_id, float(score or 0.0))]


def change(
    session: Session, scope: Scope, global_image_type: str, whitelist_id: str, rule: Rule, user_name: str
) -> None:
    wl = get(session, scope, global_image_type, whitelist_id)
    _check(global_image_type, rule)
    before = _made_by(session, wl)
    _store(wl, rule)
    session.flush()
    still = {idx.id for idx, _img in _covered(session, wl, rule, unhandled_only=False)}
    _reopen(session, [(idx, img) for idx, img in before if idx.id not in still], wl, user_name)
    record_statement(session, wl, user_name)
    _apply(session, wl, user_name)


def delete(session: Session, scope: Scope, global_image_type: str, ids: Sequence[str], user_name: str) -> int:
    """Remove rules (unknown ids are a 404, nothing is removed) and reopen the pairs they ignored."""
    if not ids:
        raise InvalidRequest("invalid parameter ids: at least one whitelist id is required")
    rules = [get(session, scope, global_image_type, i) for i in dict.fromkeys(ids)]
    for wl in rules:
        _reopen(session, _made_by(session, wl), wl, user_name)
        session.execute(sql_delete(VexStatement).where(VexStatement.whitelist_id == wl.whitelist_id))
        session.delete(wl)
    session.flush()
    return len(rules)


def apply_to_image(session: Session, image_pk: int) -> int:
    """After a scan or re-match of one image: apply every rule of its project that covers it."""
    image = session.get(Image, image_pk)
    if image is None:
        return 0
    rules = session.scalars(
        select(ImageWhitelist).where(
            ImageWhitelist.project_id == image.project_id,
            ImageWhitelist.enterprise_project_id == image.enterprise_project_id,
            ImageWhitelist.global_image_type == image.image_type,
            ImageWhitelist.vul_id.in_(
                select(VulImageIndex.vul_id).where(
                    VulImageIndex.image_pk == image_pk, VulImageIndex.handled.is_(False)
                )
            ),
        )
    ).all()
    changed = 0
    for wl in rules:
        rows = _covered(session, wl, _rule_of(wl), image_pk=image_pk, unhandled_only=True)
        changed += apply_verdict(
            session, rows, "add_to_whitelist", IGNORED, "system", wl.description, wl.whitelist_id
        )
    return changed


def find(
    session: Session, project_id: str, ep: str, global_image_type: str, vul_type: str, vul_id: str
) -> ImageWhitelist | None:
    """The rule for one vulnerability in one enterprise project (there is at most one), locked."""
    return session.scalar(
        select(ImageWhitelist)
        .where(
            ImageWhitelist.project_id == project_id,
            ImageWhitelist.enterprise_project_id == ep,
            ImageWhitelist.global_image_type == global_image_type,
            ImageWhitelist.vul_type == vul_type,
            ImageWhitelist.vul_id == vul_id,
        )
        .with_for_update()
    )


def expire(session: Session, wl: ImageWhitelist, reason: str) -> int:
    """A rule whose VEX statement expired stops suppressing: reopen the pairs it ignored, remove it."""
    n = apply_verdict(
        session, _made_by(session, wl), "not_ignore", UNFIXED, "system", reason, wl.whitelist_id
    )
    session.delete(wl)
    session.flush()
    return n


def add_or_extend(
    session: Session,
    project_id: str,
    ep: str,
    global_image_type: str,
    vul_type: str,
    vul_id: str,
    rule: Rule,
    user_name: str,
) -> ImageWhitelist:
    """`add_to_whitelist` through the handle API: a new rule for the vulnerability, or its existing rule
    widened to the images named (a rule for all images stays one), then applied."""
    _check(global_image_type, rule)
    wl = find(session, project_id, ep, global_image_type, vul_type, vul_id)
    if wl is None:
        wl = ImageWhitelist(
            whitelist_id=uuid.uuid4().hex,
            project_id=project_id,
            enterprise_project_id=ep,
            global_image_type=global_image_type,
            vul_type=vul_type,
            vul_id=vul_id,
            vul_name=vul_id,
            create_time=now_ms(),
        )
        _store(wl, rule)
        session.add(wl)
    else:
        old = _rule_of(wl)
        if rule.rule_type == SPECIFIC_IMAGES and old.rule_type == SPECIFIC_IMAGES:
            rule = Rule(SPECIFIC_IMAGES, images=tuple(dict.fromkeys((*old.images, *rule.images))))
        elif rule.rule_type == SPECIFIC_IMAGES:
            rule = old
        _store(wl, Rule(rule.rule_type, rule.image_types, rule.images, rule.description or old.description))
    session.flush()
    record_statement(session, wl, user_name)
    _apply(session, wl, user_name)
    return wl


def record_statement(session: Session, wl: ImageWhitelist, user_name: str) -> VexStatement:
    """The rule's live VEX statement, created or brought in step with the rule (products: the images a
    specific_images rule names; none for rules over all images or registry flavours)."""
    rule = _rule_of(wl)
    products: list[list[object]] = []
    if rule.rule_type == SPECIFIC_IMAGES:
        cond = _image_condition(wl, rule)
        assert cond is not None
        for img in session.scalars(
            select(Image).where(
                Image.project_id == wl.project_id, Image.image_type == wl.global_image_type, cond
            )
        ):
            products.append([image_purl(img.image_name, img.image_digest, img.image_version), []])
    row = session.scalar(
        select(VexStatement).where(
            VexStatement.whitelist_id == wl.whitelist_id, VexStatement.expired.is_(False)
        )
    )
    if row is None:
        row = VexStatement(
            statement_id=uuid.uuid4().hex,
            project_id=wl.project_id,
            enterprise_project_id=wl.enterprise_project_id,
            source="whitelist",
            vul_id=wl.vul_id,
            aliases="",
            status="not_affected",
            justification="",
            action_statement="",
            author=user_name[:256],
            created_at=now_ms(),
            expires_at=0,
            expired=False,
            whitelist_id=wl.whitelist_id,
            document_id="",
        )
        session.add(row)
    row.impact_statement = wl.description
    row.products = json.dumps(products)
    session.flush()
    return row
