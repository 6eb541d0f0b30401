"""Pure-Python readers for the three rpm database formats and the header blob they all store.

No rpm binary or library is run: the database comes from an untrusted image, so every offset and
length read from it is bounds-checked, and each reader yields raw header blobs one at a time.
"""

from openhss.scan.analyzers.os.rpmdb.bdb import iter_bdb_blobs
from openhss.scan.analyzers.os.rpmdb.header import RpmHeader, RpmHeaderError, parse_header
from openhss.scan.analyzers.os.rpmdb.ndb import iter_ndb_blobs
from openhss.scan.analyzers.os.rpmdb.sqlite import iter_sqlite_blobs

__all__ = [
    "RpmHeader",
    "RpmHeaderError",
    "iter_bdb_blobs",
    "iter_ndb_blobs",
    "iter_sqlite_blobs",
    "parse_header",
]
