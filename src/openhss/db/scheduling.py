"""Tables of the scan engine's shared state: the layer cache every worker and agent reads.

Kept apart from `models.py` (the HSS resource tables) because they belong to the engine, not the API;
they share `Base`, so one metadata and one migration chain cover both.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
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
