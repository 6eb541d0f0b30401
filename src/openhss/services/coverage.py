"""Advisory coverage of stored images and of the advisory database, for the API, console and CLI.

An image's coverage is computed when it is read, from its stored inventory and the advisory database as
it is *now*, rather than stored with the scan: coverage changes whenever feeds are imported or removed,
and a stored copy would go stale for every image an update does not re-match (re-matching touches only
images whose advisory keys changed). The inventory is small and the per-release table is computed
once per database generation, so this costs one inventory decode per image shown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from openhss.db.models import Image, ImageVulOperation, VulImageIndex
from openhss.db.scheduling import ImageInventory
from openhss.domain.coverage import CoverageEntry, FeedInfo, uncovered
from openhss.scan.applier import Inventory
from openhss.scan.cache import INVENTORY_CODEC, decode_inventory
from openhss.scan.matcher.coverage import Table, coverage_of
from openhss.scan.matcher.explain import AFFECTED, Explanation, explain
from openhss.services.identity import Scope
from openhss.services.images import scoped_images
from openhss.services.results import UNFIXED
from openhss.services.vulndb import MatcherCache, VulnDbError

WHITELISTED = "whitelisted"
#: How many of the most recently scanned images the overview summarises (bounded work per page view).
RECENT_IMAGES = 200
_EMPTY: Table = ({}, {})


def advisory_table(matchers: MatcherCache) -> Table:
    """The current database's per-(ecosystem, release) table; empty when there is no database at all
    (then nothing is covered, which is exactly what a scan without advisories can claim)."""
    try:
        index = matchers.get().index
    except VulnDbError:
        return _EMPTY
    table = getattr(index, "coverage_table", None)
    return table() if callable(table) else _EMPTY


def _inventory(session: Session, image_pk: int) -> tuple[int, Inventory] | None:
    row = session.execute(
        select(ImageInventory.codec, ImageInventory.blob, ImageInventory.updated_at).where(
            ImageInventory.image_pk == image_pk
        )
    ).first()
    if row is None or row[0] != INVENTORY_CODEC:
        return None
    os_info, packages = decode_inventory(bytes(row[1]))
    return int(row[2]), Inventory(os=os_info, packages=packages)


def image_coverage(session: Session, image_pk: int, table: Table) -> list[CoverageEntry] | None:
    """Coverage of the image's latest successful scan; None when no inventory is stored (never scanned,
    or scanned before inventories were kept)."""
    found = _inventory(session, image_pk)
    if found is None:
        return None
    inv = found[1]
    return coverage_of(inv.os, inv.packages, table)


@dataclass(slots=True)
class FleetCoverage:
    """What the overview says: of the recently scanned images, which have unchecked packages, by label."""

    images: int = 0
    affected_images: int = 0
    by_label: dict[str, int] = field(default_factory=dict)


class _Cache:
    """(image, inventory time, table identity) → labels of uncovered entries; bounded LRU."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, int, int], tuple[str, ...]] = OrderedDict()

    def get(self, key: tuple[int, int, int]) -> tuple[str, ...] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[int, int, int], value: tuple[str, ...]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_CACHE = _Cache()


def fleet_coverage(
    session: Session, scope: Scope, table: Table, recent: int = RECENT_IMAGES
) -> FleetCoverage:
    rows = session.execute(
        scoped_images(scope)
        .with_only_columns(Image.id)
        .where(Image.scan_status == "success")
        .order_by(Image.latest_scan_time.desc(), Image.id.desc())
        .limit(recent)
    ).all()
    out = FleetCoverage()
    generation = hash(tuple(sorted(table[1].items())))  # changes whenever any feed is (re)imported
    for (image_pk,) in rows:
        stamp = session.scalar(select(ImageInventory.updated_at).where(ImageInventory.image_pk == image_pk))
        if stamp is None:
            continue
        key = (image_pk, int(stamp), generation)
        labels = _CACHE.get(key)
        if labels is None:
            found = _inventory(session, image_pk)
            if found is None:
                continue
            labels = tuple(e.label for e in uncovered(coverage_of(found[1].os, found[1].packages, table)))
            _CACHE.put(key, labels)
        out.images += 1
        if labels:
            out.affected_images += 1
            for label in labels:
                out.by_label[label] = out.by_label.get(label, 0) + 1
    return out


@dataclass(frozen=True, slots=True)
class DbCoverageRow:
    """One (ecosystem, release) the database holds advisories for, and the feeds that provide them."""

    ecosystem: str
    release: str
    records: int
    feeds: tuple[FeedInfo, ...]


def db_coverage(table: Table) -> list[DbCoverageRow]:
    per_key, synced = table
    return [
        DbCoverageRow(
            eco,
            release,
            sum(sources.values()),
            tuple(FeedInfo(n, c, synced.get(n, 0.0)) for n, c in sorted(sources.items())),
        )
        for (eco, release), sources in sorted(per_key.items())
    ]


@dataclass(frozen=True, slots=True)
class Handling:
    """The user's verdict on (image, vulnerability), if any: HSS `status` and the last operation."""

    status: str
    operate_type: str
    whitelist_id: str


def explain_image(
    session: Session, image_pk: int, vul_id: str, matchers: MatcherCache
) -> tuple[list[Explanation], Handling | None] | None:
    """The matcher's chain for one vulnerability on the image's stored inventory, and the user's handling
    of it (ignored, fixed, whitelisted). None when the image has no stored inventory."""
    found = _inventory(session, image_pk)
    if found is None:
        return None
    try:
        matcher = matchers.get()
    except VulnDbError:
        return [], None
    chain = explain(matcher, found[1], vul_id)
    ids = {vul_id, *(e.vul_id for e in chain)}
    for e in chain:
        ids.update(r.advisory_id for r in e.records)
    row = session.execute(
        select(VulImageIndex.vul_id, VulImageIndex.status).where(
            VulImageIndex.image_pk == image_pk, VulImageIndex.vul_id.in_(sorted(ids))
        )
    ).first()
    if row is None:
        return chain, None
    op = session.execute(
        select(ImageVulOperation.operate_type, ImageVulOperation.whitelist_id)
        .where(ImageVulOperation.image_pk == image_pk, ImageVulOperation.vul_id == row[0])
        .order_by(ImageVulOperation.id.desc())
        .limit(1)
    ).first()
    handling = Handling(str(row[1]), str(op[0]) if op else "", str(op[1] or "") if op else "")
    if handling.status != UNFIXED:
        verdict = WHITELISTED if handling.operate_type == "add_to_whitelist" else f"handled:{handling.status}"
        for e in chain:
            if e.verdict == AFFECTED:
                e.detail = f"{e.detail}; {verdict} by the user"
                e.verdict = WHITELISTED if verdict == WHITELISTED else e.verdict
    return chain, handling
