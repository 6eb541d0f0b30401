"""The layer cache in the service database, shared by every worker and agent.

Same codec as the file cache of `openhss scan` (scan/cache.py); only the storage differs. A hit costs one
primary-key read plus zstd decompression, so an image whose layers are all known rescans without
touching its blobs.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openhss.db.engine import transaction
from openhss.db.models import utcnow
from openhss.db.scheduling import LayerCacheEntry
from openhss.scan.cache import CODEC_VERSION, decode, encode
from openhss.scan.walk import LayerAnalysis

#: `last_used_at` is refreshed at most this often, so hot layers do not turn every read into a write.
TOUCH_EVERY = timedelta(hours=1)


def read_blob(session: Session, key: str) -> bytes | None:
    """The encoded analysis stored under `key`, if it is of this codec; refreshes `last_used_at`.

    The one reader of the table: the workers' `DbLayerCache` and the agents' shared cache
    (services/agents.py, under keys of their tenant) both come through here.
    """
    row = session.execute(
        select(LayerCacheEntry.blob, LayerCacheEntry.codec, LayerCacheEntry.last_used_at).where(
            LayerCacheEntry.key == key
        )
    ).one_or_none()
    if row is None or row.codec != CODEC_VERSION:
        return None
    now = utcnow()
    if now - row.last_used_at > TOUCH_EVERY:
        session.execute(update(LayerCacheEntry).where(LayerCacheEntry.key == key).values(last_used_at=now))
    return bytes(row.blob)


def store_blob(session: Session, key: str, diff_id: str, blob: bytes) -> bool:
    """Store an encoded analysis under `key` (in a savepoint); False when the key is already taken.

    Entries are immutable: whoever stored a key first wins, a second writer changes nothing.
    """
    if session.get(LayerCacheEntry, key) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                LayerCacheEntry(key=key, diff_id=diff_id[:80], codec=CODEC_VERSION, size=len(blob), blob=blob)
            )
    except IntegrityError:
        return False  # another worker stored the same immutable entry first
    return True


class DbLayerCache:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, key: str) -> LayerAnalysis | None:
        with transaction(self.sessions) as session:
            blob = read_blob(session, key)
        if blob is None:
            return None
        try:
            return decode(blob)
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        blob = encode(analysis)
        with transaction(self.sessions) as session:
            store_blob(session, key, analysis.diff_id, blob)

    def prune(self, unused_for: timedelta) -> int:
        """Drop entries nobody read for `unused_for`; returns how many."""
        with transaction(self.sessions) as session:
            result = session.execute(
                delete(LayerCacheEntry).where(LayerCacheEntry.last_used_at < utcnow() - unused_for)
            )
            return int(getattr(result, "rowcount", 0) or 0)
