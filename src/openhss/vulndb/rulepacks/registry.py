"""Every rule-pack source. Adding one: one module under `rulepacks/`, one line here.

Order matters for offline import: the first source that accepts a file takes it, so YARA packs (whose
rule text may quote hashes) come before hash lists.
"""

from __future__ import annotations

from typing import Final

from openhss.vulndb.rulepacks.base import RulePackSource
from openhss.vulndb.rulepacks.hash_list import HashListSource
from openhss.vulndb.rulepacks.yara_pack import YaraPackSource

RULE_PACK_SOURCES: Final[tuple[RulePackSource, ...]] = (YaraPackSource(), HashListSource())
