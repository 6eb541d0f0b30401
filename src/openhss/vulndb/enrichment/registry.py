"""Every enrichment source. Adding one: one module under `enrichment/`, one line here."""

from __future__ import annotations

from typing import Final

from openhss.vulndb.enrichment.base import EnrichmentSource
from openhss.vulndb.enrichment.cve5 import Cve5Source
from openhss.vulndb.enrichment.epss import EpssSource
from openhss.vulndb.enrichment.kev import KevSource
from openhss.vulndb.enrichment.nvd import NvdSource

ENRICHMENT_SOURCES: Final[tuple[EnrichmentSource, ...]] = (
    KevSource(),
    EpssSource(),
    NvdSource(),
    Cve5Source(),
)
