"""Every analyzer, in one list. Adding an analyzer is one module plus one line here."""

from __future__ import annotations

from openhss.scan.analyzers.base import Analyzer

ANALYZERS: list[type[Analyzer]] = []
