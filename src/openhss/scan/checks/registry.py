"""Every image-level check, in one list. Adding a check is one module plus one line here."""

from __future__ import annotations

from openhss.scan.checks.base import Check
from openhss.scan.checks.build_commands import BuildCommandCheck
from openhss.scan.checks.compliance import ComplianceCheck
from openhss.scan.checks.image_config import ImageConfigCheck

CHECKS: list[type[Check]] = [ImageConfigCheck, BuildCommandCheck, ComplianceCheck]
