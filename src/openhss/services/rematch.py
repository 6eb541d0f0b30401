"""Re-match (`rematch`, the `openhss.rematch` task; `queue_rematch` records a run and queues it): after
`db update`/`db import`, matches again only the packages the changed advisory keys touch, in the stored
inventories that hold them (found by PostgreSQL's GIN index over their key lines), without reading any
layer, and rewrites only those packages' rows, then the index and summaries, per batch of images;
images that gained vulnerabilities are recorded in `rematch_hits` (listed by `newly_affected`).

Every path that records an image's results stores its matchable inventory here (`store_inventory`, with
the advisory keys it is looked up under, `rematch_keys`): the scan queue's finish and CI/CD uploads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import zstandard
from sqlalchemy import Text, delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from openhss.db.engine import transaction
from openhss.db.models import EventSubscription, Image, ImageWhitelist, VexStatement, VulImageIndex
from openhss.db.scheduling import INVENTORY_KEY_LINES, ImageInventory, RematchHit, RematchRun
from openhss.db.tenancy import scoped
from openhss.domain.rematch import NewlyAffected
from openhss.domain.scope import Scope
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.scan.cache import INVENTORY_CODEC, decode_inventory, encode_inventory
from openhss.scan.matcher import needs_rematch
from openhss.scan.matcher.registry import MATCHERS
from openhss.services import dispatch, events, rematch_lease, results, vex, whitelists
from openhss.services.leases import new_owner
from openhss.services.results import now_ms

log = logging.getLogger(__name__)

REMATCH_TASK = rematch_lease.REMATCH_TASK
#: What matches an inventory against the advisories (a `VulnerabilityMatcher`, or a stand-in in tests).
Matcher = Callable[[Inventory], list[VulnerabilityFinding]]


def rematch_keys(inventory: Inventory) -> set[tuple[str, str]]:
    """The (ecosystem, name) advisory keys an inventory's packages are looked up under."""
    out: set[tuple[str, str]] = set()
    for pkg in inventory.packages:
        matcher = next((m for m in MATCHERS if m.handles(pkg)), None)
        if matcher is not None:
            out.update((k.ecosystem.value, k.name) for k in matcher.keys(pkg, inventory.os))
    return out


def store_inventory(
    session: Session, image_pk: int, inventory: Inventory, at: int, fingerprint: str = ""
) -> None:
    """Keep the matchable inventory and its advisory key lines: all a re-match reads of an image
    (every image kind that records results must store it, or that kind is never re-matched), and the
    `unchanged.fingerprint` of the scan that produced them ("" for results the server did not derive)."""
    blob = encode_inventory(inventory.os, inventory.packages)
    keys = "\n".join(sorted(f"{e}\t{n}" for e, n in rematch_keys(inventory)))
    session.execute(delete(ImageInventory).where(ImageInventory.image_pk == image_pk))
    session.execute(
        insert(ImageInventory).values(
            image_pk=image_pk,
            codec=INVENTORY_CODEC,
            blob=blob,
            keys=keys,
            updated_at=at,
            fingerprint=fingerprint,
        )
    )


def _pack_keys(keys: Iterable[tuple[str, str]]) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(sorted(keys)).encode())


def _unpack_keys(blob: bytes) -> set[tuple[str, str]]:
    return {(e, n) for e, n in json.loads(zstandard.ZstdDecompressor().decompress(blob))}


def create_rematch_run(session: Session, changed: Iterable[tuple[str, str]]) -> RematchRun:
    keys = set(changed)
    at = now_ms()
    run = RematchRun(
        created_at=at,
        dispatched_at=at,  # the sweep re-sends it only if it is still waiting `resend_after_seconds` on
        status="waiting",
        changed_num=len(keys),
        changed=_pack_keys(keys),
        finished_at=0,
        images_checked=0,
        images_rematched=0,
        images_newly_affected=0,
    )
    session.add(run)
    session.flush()
    return run


@dataclass(slots=True)
class RematchReport:
    run_pk: int
    checked: int = 0
    rematched: int = 0
    newly_affected: list[tuple[int, list[str]]] = field(default_factory=list)
    #: False: another runner holds the run (or it is finished); this call did nothing.
    taken: bool = True


def queue_rematch(session: Session, changed: Iterable[tuple[str, str]]) -> RematchRun:
    """Record a re-match run and send `openhss.rematch` for it once the transaction commits: whichever
    worker takes it runs `rematch`. A run whose message was lost stays `waiting` until queued again."""
    run = create_rematch_run(session, changed)
    dispatch.after_commit(session, REMATCH_TASK, [run.id])
    return run


#: Inventories whose stored keys are tested per query when the database cannot test them itself.
_SCAN_BATCH = 5000


def _touched(session: Session, wanted: list[str], after: int) -> tuple[int, list[int], int | None]:
    """(inventories checked, the touched ones among them, where the next call resumes or None at the end).

    On PostgreSQL the database answers from a GIN index over the inventories' key lines (migration 0017)
    and only the touched ids cross the wire; elsewhere the key lines are read in pages and tested here."""
    codec = ImageInventory.codec == INVENTORY_CODEC
    if session.get_bind().dialect.name == "postgresql":
        touched = list(
            session.scalars(
                select(ImageInventory.image_pk)
                .where(codec, INVENTORY_KEY_LINES.op("&&")(literal(wanted, postgresql.ARRAY(Text))))
                .order_by(ImageInventory.image_pk)
            )
        )
        return session.scalar(select(func.count()).select_from(ImageInventory)) or 0, touched, None
    rows = session.execute(
        select(ImageInventory.image_pk, ImageInventory.codec, ImageInventory.keys)
        .where(ImageInventory.image_pk > after)
        .order_by(ImageInventory.image_pk)
        .limit(_SCAN_BATCH)
    ).all()
    want = set(wanted)
    hit = [pk for pk, c, keys in rows if c == INVENTORY_CODEC and not want.isdisjoint(keys.split("\n"))]
    return len(rows), hit, (rows[-1][0] if len(rows) == _SCAN_BATCH else None)


Plan = tuple[frozenset[tuple[str, str, str]], list[VulnerabilityFinding]]


def _plan(blob: bytes, changed: set[tuple[str, str]], matcher: Matcher) -> Plan:
    """The row keys of the packages the change touches and the findings of every package sharing one of
    those keys (a stored row is per name/version/path, whichever package produced it)."""
    os_info, packages = decode_inventory(blob)
    row_keys = frozenset(
        (p.name[:256], p.version[:256], p.path[:1024]) for p in needs_rematch(os_info, packages, changed)
    )
    subset = [p for p in packages if (p.name[:256], p.version[:256], p.path[:1024]) in row_keys]
    return row_keys, (matcher(Inventory(os=os_info, packages=subset)) if subset else [])


def rematch(
    sessions: sessionmaker[Session],
    run_pk: int,
    matcher: Matcher,
    *,
    batch: int = 200,
    whole: bool = False,
    owner: str | None = None,
    lease_seconds: int = 600,
) -> RematchReport:
    """Re-match the packages an advisory change touches, in the stored inventories that hold them, and
    record the images that became newly affected.

    Only touched packages are matched and only their rows rewritten (`results.rematch_packages`), in
    batches of images (one transaction each, progress written to the run row and logged), so a large
    fleet never holds one long lock and a crash leaves every finished batch in place (re-running the run
    is idempotent). `whole=True` matches every touched image's whole inventory again and rewrites all
    its rows, one image at a time: the previous algorithm, kept as the benchmark's baseline.

    The run is leased (`rematch_lease`) by `owner` for `lease_seconds` (the scan jobs' lease,
    `ScanSettings.lease_seconds`, from the worker) and renewed per batch: a duplicate message of a live
    or finished run returns `taken=False` at once, and a run whose runner died is re-sent by the sweep."""
    me = owner or new_owner()
    lease_ms = lease_seconds * 1000
    with transaction(sessions) as session:
        run = session.get(RematchRun, run_pk)
        if run is None:
            raise ValueError(f"re-match run {run_pk} does not exist")
        changed = _unpack_keys(run.changed)
        if not rematch_lease.take(session, run_pk, me, lease_ms=lease_ms):
            return RematchReport(run_pk, taken=False)
    report = RematchReport(run_pk)
    wanted = sorted(f"{e}\t{n}" for e, n in changed)
    #: Identical inventories (one image on many hosts and registries, retags) are matched once per run.
    plans: dict[bytes, Plan] = {}
    whole_matches: dict[bytes, list[VulnerabilityFinding]] = {}
    after: int | None = 0
    started = time.monotonic()
    while changed and after is not None:
        with transaction(sessions) as session:
            checked, touched, after = _touched(session, wanted, after)
        report.checked += checked
        for i in range(0, len(touched), batch):
            pks = touched[i : i + batch]
            with transaction(sessions) as session:
                if not rematch_lease.renew(session, run_pk, me, lease_ms=lease_ms):
                    log.warning("re-match run %s: lease lost to another runner; stopping", run_pk)
                    report.taken = False
                    return report
                blobs = dict(
                    session.execute(
                        select(ImageInventory.image_pk, ImageInventory.blob).where(
                            ImageInventory.image_pk.in_(pks)
                        )
                    ).all()
                )
                if whole:
                    gained = {}
                    for pk in pks:
                        if pk in blobs:
                            found = _rematch_whole(session, pk, bytes(blobs[pk]), matcher, whole_matches)
                            if found:
                                gained[pk] = found
                else:
                    items = []
                    for pk in pks:
                        if pk not in blobs:
                            continue  # deleted since it was found touched
                        blob = bytes(blobs[pk])
                        digest = hashlib.blake2b(blob, digest_size=20).digest()
                        plan = plans.get(digest)
                        if plan is None:
                            plan = plans[digest] = _plan(blob, changed, matcher)
                        items.append(results.PackageRematch(pk, plan[0], plan[1]))
                    gained = results.rematch_packages(session, items)
                # Per image, so skipped when no rule, statement or subscription exists at all.
                rules = session.scalar(select(ImageWhitelist.id).limit(1)) is not None
                statements = session.scalar(select(VexStatement.id).limit(1)) is not None
                subscribed = session.scalar(select(EventSubscription.id).limit(1)) is not None
                for pk in pks:
                    if pk in blobs and rules:
                        whitelists.apply_to_image(session, pk)
                    if pk in blobs and statements:
                        vex.apply_to_image(session, pk)
                report.rematched += len(blobs)
                for pk, vul_ids in sorted(gained.items()):
                    image = session.get_one(Image, pk)
                    if subscribed:
                        events.newly_affected(session, image, vul_ids, "rematch")
                    session.add(
                        RematchHit(
                            run_pk=run_pk,
                            project_id=image.project_id,
                            image_pk=pk,
                            vul_ids=",".join(vul_ids)[:60000],
                            found_time=now_ms(),
                        )
                    )
                    report.newly_affected.append((pk, vul_ids))
                _progress(session, report)
            log.info(
                "re-match run %s: %d of %d touched images done, %d newly affected, %.1fs",
                run_pk,
                min(i + batch, len(touched)),
                len(touched),
                len(report.newly_affected),
                time.monotonic() - started,
            )
    with transaction(sessions) as session:
        _progress(session, report)
        report.taken = rematch_lease.finish(session, run_pk, me)
    return report


def _progress(session: Session, report: RematchReport) -> None:
    """The run row's counters as of the last finished batch (what an operator polls while it runs)."""
    session.execute(
        update(RematchRun)
        .where(RematchRun.id == report.run_pk)
        .values(
            images_checked=report.checked,
            images_rematched=report.rematched,
            images_newly_affected=len(report.newly_affected),
        )
    )


def _rematch_whole(
    session: Session,
    image_pk: int,
    blob: bytes,
    matcher: Matcher,
    matches: dict[bytes, list[VulnerabilityFinding]],
) -> list[str]:
    digest = hashlib.blake2b(blob, digest_size=20).digest()
    vulns = matches.get(digest)
    if vulns is None:
        os_info, packages = decode_inventory(blob)
        vulns = matches[digest] = matcher(Inventory(os=os_info, packages=packages))
    before = set(session.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == image_pk)))
    results.rematch(session, image_pk, vulns)
    return sorted({v.vul_id for v in vulns} - before)


def newly_affected(
    session: Session, scope: Scope, *, run_pk: int | None = None, offset: int = 0, limit: int = 100
) -> tuple[int, list[NewlyAffected]]:
    """Images a re-match found newly affected (latest finished run unless `run_pk`), in the caller's
    scope: the project *and* its enterprise projects, since a hit names an image of one EP."""
    if run_pk is None:
        run_pk = session.scalar(select(func.max(RematchRun.id)).where(RematchRun.status == "finished"))
        if run_pk is None:
            return 0, []
    base = scoped(
        select(RematchHit, Image)
        .join(Image, Image.id == RematchHit.image_pk)
        .where(RematchHit.run_pk == run_pk),
        scope,
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    out = [
        NewlyAffected(
            img.image_id,
            img.image_name,
            img.image_version,
            img.image_type,
            hit.vul_ids.split(",") if hit.vul_ids else [],
            hit.found_time,
        )
        for hit, img in session.execute(base.order_by(RematchHit.image_pk).offset(offset).limit(limit)).all()
    ]
    return total, out
