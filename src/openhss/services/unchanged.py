"""Unchanged rescans: a rescan of the same image content with the same analyzers and advisory data reads
no layer and rewrites no row; it only records the scan time.

A fleet rescans on a schedule (`scans.rescan_interval_hours`), after registry syncs and on demand, and
most images have not changed since their last scan. A full rescan of one re-reads (or re-fetches) every
layer the layer cache does not hold and deletes and re-inserts every result row, which is most of a
fleet rescan's cost and most of the database's churn, for an identical answer.

The fingerprint of a scan names everything its stored results depend on: the image's manifest digest
and config digest **as the server read them itself** (a registry manifest fetched and verified against
its digest, an OCI layout's manifest blob verified against its descriptor; never a digest a client
reported), the openhss version and layer-codec version (which cover the checks and matchers), the
analyzer versions of the scope, the scope itself, and the content identity of the advisory store
(vulnerability scope) and of the malware rule packs (malware scope). It is stored with the inventory of
the scan that produced the results (`image_inventories.fingerprint`); an agent's results and sources
without a manifest (`dir:`, `docker-archive:`) store none and are always scanned in full.

Opening the image to compute it reads only the manifest and config (a few KB), and when the scan does
run the same handle is used, so a changed image costs nothing extra.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import openhss
from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.scheduling import ImageInventory
from openhss.domain.enums import ScanScope
from openhss.domain.report import ImageReport
from openhss.scan.analyzers.registry import selection_for
from openhss.scan.cache import CODEC_VERSION
from openhss.scan.image import Image
from openhss.scan.pipeline import INVENTORY_SCOPE, PipelineOptions, scan_handle
from openhss.scan.refs import Transport
from openhss.scan.sources.registry import open_image
from openhss.services.image_sources import ResolvedSource
from openhss.services.scanning import scan_image
from openhss.services.vulndb import VulnDbService


def advisory_version(settings: Settings) -> str:
    """The advisory store's content identity: per source its record count and content hash (or the
    HTTP validators, or the sync time when a source has neither). Read from the store's small source
    table, so it costs milliseconds; a worker on another host with the same data gets the same value."""
    states = sorted(VulnDbService.from_settings(settings).store.sources(), key=lambda s: s.name)
    named = [[s.name, s.count, s.sha256 or _validators(s.etag, s.last_modified, s.synced_at)] for s in states]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()


def _validators(etag: str, last_modified: str, synced_at: float) -> str:
    return f"{etag}|{last_modified}" if etag or last_modified else repr(synced_at)


def rules_version(settings: Settings) -> str:
    """The malware rule packs' identity (what `malware_analyzers` loads)."""
    packs = VulnDbService.from_settings(settings).packs.sources()
    named = [[p.name, p.kind, p.rules, p.hashes, p.etag, p.last_modified, repr(p.synced_at)] for p in packs]
    return hashlib.sha256(json.dumps(named).encode()).hexdigest()


def fingerprint(image: Image, scope: ScanScope, settings: Settings) -> str:
    """What a scan of `image` with `scope` depends on; "" when the image has no manifest digest (its
    content has no server-verified name, so it is never short-circuited)."""
    if not image.manifest_digest:
        return ""
    named: list[object] = [
        openhss.__version__,
        CODEC_VERSION,
        image.manifest_digest,
        image.config_digest,
        int(scope),
        sorted(selection_for(scope | INVENTORY_SCOPE).versions.items()),
        advisory_version(settings) if scope & ScanScope.VULNERABILITY else "",
        rules_version(settings) if scope & ScanScope.MALWARE else "",
    ]
    return hashlib.sha256(json.dumps(named, separators=(",", ":")).encode()).hexdigest()


def stored(session: Session, image_pk: int) -> str:
    """The fingerprint of the image's stored results ("" when none or not short-circuitable)."""
    return session.scalar(select(ImageInventory.fingerprint).where(ImageInventory.image_pk == image_pk)) or ""


@dataclass(frozen=True, slots=True)
class Scanned:
    """A full scan's `report`, or `report=None` when the stored results already answer `fingerprint`."""

    report: ImageReport | None
    fingerprint: str

    @property
    def unchanged(self) -> bool:
        return self.report is None


def scan_unless_unchanged(
    sessions: sessionmaker[Session],
    settings: Settings,
    image_pk: int,
    source: ResolvedSource,
    options: PipelineOptions,
) -> Scanned:
    """Open the image (manifest and config only), compare fingerprints, and scan only if they differ."""
    if source.ref.transport is Transport.SBOM:
        return Scanned(scan_image(source.ref, source.options, options), "")
    with open_image(source.ref, source.options) as handle:
        fp = fingerprint(handle.image, options.scope | _vuln(options), settings)
        if fp:
            with transaction(sessions) as session:
                if stored(session, image_pk) == fp:
                    return Scanned(None, fp)
        return Scanned(scan_handle(handle, options), fp)


def _vuln(options: PipelineOptions) -> ScanScope:
    """The executor runs vulnerability matching through `options.matcher`, outside `options.scope`."""
    return ScanScope.VULNERABILITY if options.matcher is not None else ScanScope(0)
