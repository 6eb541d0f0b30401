"""Vulnerability matching: inventory × advisory index → findings (see `engine.VulnerabilityMatcher`)."""

from openhss.scan.matcher.engine import MatchResult, Suppressed, VulnerabilityMatcher
from openhss.scan.matcher.rematch import needs_rematch

__all__ = ["MatchResult", "Suppressed", "VulnerabilityMatcher", "needs_rematch"]
