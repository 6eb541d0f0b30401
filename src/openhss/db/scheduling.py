"""Tables of the scan engine's shared state: the layer cache every worker and agent reads.

Kept apart from `models.py` (the HSS resource tables) because they belong to the engine, not the API;
they share `Base`, so one metadata and one migration chain cover both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from openhss.db.models import Base, UTCDateTime, utcnow


class LayerCacheEntry(Base):
    """One layer's analysis, keyed by (diff_id, analyzer versions) → `cache_key`; a zstd-compressed blob.

    A layer shared by a thousand images is analysed once: whichever worker or agent gets there first
    stores it, all later scans read it. Entries are immutable (same key ⇒ same bytes), so concurrent
    writers of the same key are harmless and the loser's insert is simply dropped.
    """

    __tablename__ = "layer_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    diff_id: Mapped[str] = mapped_column(String(80))
    codec: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_layer_cache_diff_id", "diff_id"),
        Index("ix_layer_cache_last_used", "last_used_at"),
    )


class ImageInventory(Base):
    """The matchable inventory of an image's latest scan (OS + packages with source names, releases,
    epochs): what re-matching after an advisory update reads instead of the layers. zstd JSON."""

    __tablename__ = "image_inventories"

    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    codec: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    #: The advisory keys its packages are matched under ("ecosystem\tname" lines): a re-match reads
    #: only this column for inventories no changed key touches.
    keys: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[int] = mapped_column(BigInteger, default=0)
    #: What the latest full scan was (`services.unchanged.fingerprint`): a rescan with the same one reads
    #: no layer and rewrites no row. Empty: results the server did not derive itself (an agent's).
    fingerprint: Mapped[str] = mapped_column(String(64), default="")


#: The key lines as an array: on PostgreSQL a GIN index over it (migration 0017) answers "which
#: inventories hold any of these changed keys" without reading the column of every row.
INVENTORY_KEY_LINES = func.string_to_array(ImageInventory.keys, literal_column("chr(10)"))
Index("ix_image_inventories_key_lines", INVENTORY_KEY_LINES, postgresql_using="gin").ddl_if(
    dialect="postgresql"
)


class RematchRun(Base):
    """One re-match after `db update`/`db import`: the changed advisory keys (zstd JSON) and its outcome."""

    __tablename__ = "rematch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    changed_num: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[bytes] = mapped_column(LargeBinary)
    images_checked: Mapped[int] = mapped_column(Integer, default=0)
    images_rematched: Mapped[int] = mapped_column(Integer, default=0)
    images_newly_affected: Mapped[int] = mapped_column(Integer, default=0)
    #: A run is leased like a scan job (`services.rematch_lease`): a worker renews it per batch, and the
    #: sweep re-sends a waiting run whose message went silent or a running one whose lease expired.
    lease_owner: Mapped[str] = mapped_column(String(160), default="")
    lease_expires: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dispatched_at: Mapped[int] = mapped_column(BigInteger, default=0)


class RematchHit(Base):
    """An image that a re-match found newly affected, with the vulnerability ids it gained."""

    __tablename__ = "rematch_hits"
    __table_args__ = (Index("ix_rematch_hits_project_run", "project_id", "run_pk", "image_pk"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("rematch_runs.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(64))
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    vul_ids: Mapped[str] = mapped_column(Text, default="")
    found_time: Mapped[int] = mapped_column(BigInteger, default=0)
