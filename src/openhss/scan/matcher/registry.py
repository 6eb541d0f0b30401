"""Every matcher, tried in order; the first that handles a package matches it."""

from __future__ import annotations

from typing import Final

from openhss.scan.matcher.base import Matcher
from openhss.scan.matcher.distro import OsMatcher
from openhss.scan.matcher.language import LanguageMatcher

MATCHERS: Final[tuple[Matcher, ...]] = (OsMatcher(), LanguageMatcher())
