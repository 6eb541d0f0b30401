"""Every advisory source. Adding one: one module under `sources/`, one line here."""

from __future__ import annotations

from typing import Final

from openhss.vulndb.sources.alpine import AlpineSecdbSource
from openhss.vulndb.sources.base import AdvisorySource
from openhss.vulndb.sources.debian import DebianOsvSource, DebianTrackerSource
from openhss.vulndb.sources.friendsofphp import FriendsOfPhpSource
from openhss.vulndb.sources.npm_nodejs import NodejsSecurityWgSource
from openhss.vulndb.sources.osv import OsvSource
from openhss.vulndb.sources.rpm_family import RpmFamilySource
from openhss.vulndb.sources.rubysec import RubysecSource
from openhss.vulndb.sources.ubuntu import UbuntuSource

# Order matters for offline import: the first source that accepts a file parses it, so the
# specific formats come before OSV, which accepts any zip or directory.
SOURCES: Final[tuple[AdvisorySource, ...]] = (
    AlpineSecdbSource(),
    DebianTrackerSource(),
    DebianOsvSource(),
    UbuntuSource(),
    RpmFamilySource(),
    NodejsSecurityWgSource(),
    RubysecSource(),
    FriendsOfPhpSource(),
    OsvSource(),
)
